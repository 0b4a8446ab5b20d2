"""Console admins: invitations with one-time set-up links, passwords, and signed-in sessions.

Passwords are hashed with argon2id (`argon2-cffi`, its default parameters), off the event loop because each
hash costs tens of milliseconds by design. Set-up links and session cookies are random tokens of which the store
keeps only the SHA-256 (`secrets.hash_token`), like every other bearer value the gateway issues.

An unknown email still costs one argon2 verification, so the time a failed sign-in takes does not tell which
admins exist. Throttling repeated failures is the console's job (console/throttle.py), not this module's.
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.admin import record_change
from policyarc.secrets import hash_token, new_token
from policyarc.services.errors import Conflict, InvalidInput, NotFound
from policyarc.store.models import AdminSession, AdminSetupLink, AdminUser

__all__ = [
    "MIN_PASSWORD",
    "SETUP_LINK_TTL",
    "AdminView",
    "admin_for_session",
    "check_credentials",
    "complete_setup",
    "count_admins",
    "create_admin",
    "end_session",
    "first_admin_exists",
    "first_admin_link",
    "invite_admin",
    "list_admins",
    "setup_link_admin",
    "start_session",
]

SETUP_LINK_TTL = timedelta(hours=24)
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 takes any length; a bound keeps a hostile form from costing more than a normal one
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a miss costs what a hit costs. Made on first use, not at
    import: one argon2 hash takes ~0.15 s and 64 MiB (its default memory cost), which every start would pay."""
    return _hasher.hash("policyarc-no-such-admin")


@dataclass(frozen=True)
class AdminView:
    id: str
    email: str
    active: bool  # has chosen a password
    created_at: datetime
    created_by: str
    last_sign_in_at: datetime | None


def _normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    if not EMAIL.fullmatch(email):
        raise InvalidInput("invalid_email", f"'{raw.strip()[:80]}' is not an email address.")
    return email


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("weak_password", f"Choose a password of at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("long_password", f"Choose a password of at most {MAX_PASSWORD} characters.")


async def _hash(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(stored: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def _view(row: AdminUser) -> AdminView:
    return AdminView(
        id=row.id,
        email=row.email,
        active=row.password_hash is not None,
        created_at=row.created_at,
        created_by=row.created_by,
        last_sign_in_at=row.last_sign_in_at,
    )


async def count_admins(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AdminUser)) or 0)


async def list_admins(session: AsyncSession) -> list[AdminView]:
    rows = await session.scalars(select(AdminUser).order_by(AdminUser.email))
    return [_view(row) for row in rows]


async def invite_admin(session: AsyncSession, email: str, *, actor: str, now: datetime) -> tuple[AdminView, str]:
    """Create the admin (or renew the link of one who has not set a password yet); returns the raw set-up token,
    to be shown once as a link. Raises Conflict when that admin already has a password. The caller commits."""
    email = _normalise_email(email)
    row = await session.scalar(select(AdminUser).where(AdminUser.email == email))
    if row is not None and row.password_hash is not None:
        raise Conflict("admin_exists", f"{email} is already an admin and has signed in before.")
    if row is None:
        row = AdminUser(email=email, created_by=actor)
        session.add(row)
        await session.flush()
    else:  # a fresh link replaces any earlier one
        await session.execute(delete(AdminSetupLink).where(AdminSetupLink.admin_id == row.id))
    raw = new_token("pa_setup_")
    session.add(AdminSetupLink(token_hash=hash_token(raw), admin_id=row.id, expires_at=now + SETUP_LINK_TTL))
    await record_change(session, actor, "admin.invite", email)
    return _view(row), raw


async def first_admin_link(session: AsyncSession, *, now: datetime) -> str | None:
    """On a gateway with no admin who can sign in: a fresh first-start link (earlier ones stop working), whose
    page asks for the first admin's email and password. None once an admin exists. The caller commits."""
    if await first_admin_exists(session):
        return None
    await session.execute(delete(AdminSetupLink).where(AdminSetupLink.admin_id.is_(None)))
    raw = new_token("pa_setup_")
    session.add(AdminSetupLink(token_hash=hash_token(raw), admin_id=None, expires_at=now + SETUP_LINK_TTL))
    return raw


async def _live_link(session: AsyncSession, raw: str, now: datetime) -> tuple[AdminSetupLink, AdminUser | None]:
    link = await session.get(AdminSetupLink, hash_token(raw)) if raw else None
    row = await session.get(AdminUser, link.admin_id) if link is not None and link.admin_id else None
    if link is None or link.used_at is not None or link.expires_at <= now or (link.admin_id and row is None):
        raise NotFound(
            "setup_link_invalid",
            "This set-up link is not valid: it was used already, or it expired. Ask an admin for a new one "
            "(policyarc admin create-user EMAIL).",
        )
    return link, row


async def setup_link_admin(session: AsyncSession, raw: str, *, now: datetime) -> AdminView | None:
    """The admin a live, unused set-up link belongs to; None for a first-start link (the page asks the email).
    Raises NotFound otherwise (same words for every case)."""
    _, row = await _live_link(session, raw, now)
    return _view(row) if row is not None else None


async def complete_setup(
    session: AsyncSession, raw: str, password: str, *, now: datetime, email: str | None = None
) -> AdminView:
    """Set the password through a set-up link, which is used up; a first-start link creates the admin `email`.
    The caller commits."""
    link, row = await _live_link(session, raw, now)
    _check_password(password)
    if row is None:
        if email is None:
            raise InvalidInput("email_required", "Give the email you will sign in with.")
        if await first_admin_exists(session):
            raise Conflict("admin_exists", "An admin already exists: ask them to invite you.")
        row = AdminUser(email=_normalise_email(email), created_by="first start")
        session.add(row)
    row.password_hash = await _hash(password)
    link.used_at = now
    await record_change(session, row.email, "admin.setup", row.email)
    return _view(row)


async def first_admin_exists(session: AsyncSession) -> bool:
    found = await session.scalar(select(AdminUser.id).where(AdminUser.password_hash.is_not(None)).limit(1))
    return found is not None


async def create_admin(session: AsyncSession, email: str, password: str, *, actor: str) -> AdminView:
    """An admin with a password at once (the demo; tests). The caller commits."""
    email = _normalise_email(email)
    _check_password(password)
    if await session.scalar(select(AdminUser.id).where(AdminUser.email == email)) is not None:
        raise Conflict("admin_exists", f"{email} is already an admin.")
    row = AdminUser(email=email, created_by=actor, password_hash=await _hash(password))
    session.add(row)
    await record_change(session, actor, "admin.create", email)
    return _view(row)


async def check_credentials(session: AsyncSession, email: str, password: str, *, now: datetime) -> AdminView | None:
    """The admin when the email and password match; None otherwise (in about the same time either way)."""
    try:
        email = _normalise_email(email)
    except InvalidInput:
        email = ""
    row = await session.scalar(select(AdminUser).where(AdminUser.email == email)) if email else None
    stored = row.password_hash if row is not None and row.password_hash else await asyncio.to_thread(_dummy_hash)
    matched = await _verify(stored, password[:MAX_PASSWORD])
    if row is None or row.password_hash is None or not matched:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        row.password_hash = await _hash(password)
    row.last_sign_in_at = now
    return _view(row)


async def start_session(session: AsyncSession, admin_id: str, *, expires_at: datetime) -> str:
    """A new console session; returns the cookie value. The caller commits."""
    raw = new_token("pa_cs_")
    session.add(AdminSession(id_hash=hash_token(raw), admin_id=admin_id, expires_at=expires_at))
    return raw


async def admin_for_session(session: AsyncSession, raw: str | None, *, now: datetime) -> AdminView | None:
    """The admin behind a live session cookie; None when absent, unknown or expired."""
    if not raw:
        return None
    row = await session.get(AdminSession, hash_token(raw))
    if row is None or row.expires_at <= now:
        return None
    admin = await session.get(AdminUser, row.admin_id)
    return _view(admin) if admin is not None else None


async def end_session(session: AsyncSession, raw: str | None) -> None:
    """Sign out: the session row is deleted, so the cookie is worthless even if kept. The caller commits."""
    if raw:
        await session.execute(delete(AdminSession).where(AdminSession.id_hash == hash_token(raw)))
