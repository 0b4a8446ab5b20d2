"""Admin credentials and the record of what admins changed.

An admin API key is `pa_admin_` plus 256 random bits, shown once when made and stored only as its SHA-256
digest (`secrets.hash_token`), so a copy of the database grants nothing. `verify_admin_key` is what the admin
API asks on every request; `record_change` writes one `admin_changes` row per change, with the key's name as
the actor. Details are data the console shows: never put a secret in them (`record_change` refuses the obvious
ones by key name as a backstop).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.secrets import hash_token, new_token
from policyarc.store.models import AdminApiKey, AdminChange, new_id, utcnow

__all__ = [
    "ADMIN_KEY_PREFIX",
    "AdminIdentity",
    "AdminKeyInfo",
    "create_admin_key",
    "list_admin_keys",
    "record_change",
    "revoke_admin_key",
    "verify_admin_key",
]

ADMIN_KEY_PREFIX = "pa_admin_"
# `last_used_at` is for "is this key still in use?", not an access log: one write a minute per key is plenty,
# and keeps a busy console from turning every read into a write.
LAST_USED_GRANULARITY = timedelta(seconds=60)
_SECRET_WORDS = ("secret", "password", "token", "key_material", "raw_key")
MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class AdminIdentity:
    """Who is making an admin call: `name` is what `admin_changes.actor` records."""

    key_id: str
    name: str


@dataclass(frozen=True, slots=True)
class AdminKeyInfo:
    """An admin key as listed: never the key itself."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


async def create_admin_key(session: AsyncSession, name: str) -> tuple[str, str]:
    """Make a key named `name`; returns `(key_id, raw_key)`. The raw key is not stored: show it once.

    Raises ValueError for an empty or over-long name. The caller commits.
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"an admin key needs a name of 1-{MAX_NAME} characters")
    raw = new_token(ADMIN_KEY_PREFIX)
    row = AdminApiKey(id=new_id(), name=name, key_hash=hash_token(raw), created_at=utcnow())
    session.add(row)
    await session.flush()
    return row.id, raw


async def verify_admin_key(session: AsyncSession, raw: str, *, now: datetime | None = None) -> AdminIdentity | None:
    """The identity behind a live admin key; None for anything else (unknown, revoked, not an admin key).

    Updates `last_used_at` (at most once a minute) and commits that update itself.
    """
    if not raw.startswith(ADMIN_KEY_PREFIX) or len(raw) > 200:
        return None
    row = await session.scalar(select(AdminApiKey).where(AdminApiKey.key_hash == hash_token(raw)))
    if row is None or row.revoked_at is not None:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY:
        await session.execute(update(AdminApiKey).where(AdminApiKey.id == row.id).values(last_used_at=now))
        await session.commit()
    return AdminIdentity(key_id=row.id, name=row.name)


async def revoke_admin_key(session: AsyncSession, key_id: str) -> AdminKeyInfo | None:
    """Revoke a key by id (idempotent: an already revoked key keeps its first revocation time).

    Returns the key as now stored, or None when there is no such key. The caller commits.
    """
    row = await session.get(AdminApiKey, key_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
    return _info(row)


async def list_admin_keys(session: AsyncSession) -> list[AdminKeyInfo]:
    """Every key, newest first, revoked ones included (they explain old `admin_changes` actors)."""
    rows = await session.scalars(select(AdminApiKey).order_by(AdminApiKey.created_at.desc(), AdminApiKey.id))
    return [_info(row) for row in rows]


async def record_change(
    session: AsyncSession, actor: str, action: str, target: str | None, details: dict[str, Any] | None = None
) -> None:
    """Append one `admin_changes` row. The caller commits it with the change, so both land or neither does.

    Raises ValueError when `details` has a key that names a secret: say "secret set", never the secret.
    """
    details = dict(details or {})
    leaked = [
        key
        for key in details
        if any(word in key.lower() for word in _SECRET_WORDS) and not key.endswith(("_set", "_changed"))
    ]
    if leaked:
        raise ValueError(f"admin change details must not carry secrets (keys {sorted(leaked)})")
    session.add(AdminChange(ts=utcnow(), actor=actor[:MAX_NAME], action=action, target=target, details=details))
    await session.flush()


def _info(row: AdminApiKey) -> AdminKeyInfo:
    return AdminKeyInfo(
        id=row.id, name=row.name, created_at=row.created_at, last_used_at=row.last_used_at, revoked_at=row.revoked_at
    )
