"""The environment's identity provider: Atlassian's OAuth app (client id, secret, scopes).

The client secret is encrypted with the key ring, bound to its row (`column_aad`), and never read back out
here: `show` answers only whether one is set. The callback URL shown is what the admin registers in
Atlassian's developer console.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.admin import record_change
from policyarc.identity.atlassian import ATLASSIAN_SCOPES
from policyarc.secrets import KeyRing, column_aad
from policyarc.services.errors import InvalidInput, NotFound
from policyarc.store.models import Environment, IdentityProvider, new_id, utcnow

ATLASSIAN = "atlassian"
KINDS = (ATLASSIAN,)
# Without these the gateway cannot read who signed in, or keep a user signed in past the first hour.
REQUIRED_SCOPES = ("read:me", "offline_access")
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._~-]{1,255}$")
SCOPE_PATTERN = re.compile(r"^[a-z][a-z0-9:._-]{0,127}$")
MAX_SECRET = 1024


class IdpView(BaseModel):
    """An identity provider as shown: never the secret, only whether one is stored."""

    model_config = ConfigDict(frozen=True)

    kind: str
    client_id: str
    scopes: list[str]
    client_secret_set: bool
    callback_url: str
    updated_at: datetime


def callback_url(public_url: str, kind: str = ATLASSIAN) -> str:
    """Where the IdP sends users back: register it as the app's callback URL."""
    return f"{public_url.rstrip('/')}/oauth/idp/{kind}/callback"


async def set_idp(
    session: AsyncSession,
    environment: Environment,
    keyring: KeyRing,
    *,
    kind: str,
    client_id: str,
    client_secret: str | None,
    scopes: Sequence[str] | None,
    public_url: str,
    actor: str,
) -> IdpView:
    """Create or update the environment's IdP of `kind`. A missing secret keeps the stored one (and is
    required the first time); missing scopes keep the stored ones (Atlassian's defaults the first time).
    The caller commits."""
    if kind not in KINDS:
        raise NotFound("idp_kind_unknown", f"Unknown identity provider {kind[:32]!r}; supported: {', '.join(KINDS)}.")
    client_id = client_id.strip()
    if not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise InvalidInput("invalid_client_id", "The client ID is 1-255 letters, digits and . _ ~ -.")
    if client_secret is not None and not (0 < len(client_secret) <= MAX_SECRET and client_secret.strip()):
        raise InvalidInput("invalid_client_secret", f"The client secret must be 1-{MAX_SECRET} characters.")
    checked = _check_scopes(scopes) if scopes is not None else None
    row = await _row(session, environment, kind)
    created = row is None
    if row is None:
        if client_secret is None:
            raise InvalidInput("client_secret_required", "Give the client secret: this identity provider has none yet.")
        row = IdentityProvider(
            id=new_id(), environment_id=environment.id, kind=kind, client_id=client_id, client_secret_enc="", scopes=""
        )
        row.scopes = " ".join(checked or ATLASSIAN_SCOPES)
        session.add(row)
    else:
        row.client_id = client_id
        if checked is not None:
            row.scopes = " ".join(checked)
        row.updated_at = utcnow()
    if client_secret is not None:
        row.client_secret_enc = keyring.encrypt(
            client_secret, aad=column_aad("identity_providers", "client_secret_enc", row.id)
        )
    await session.flush()
    await record_change(
        session,
        actor,
        "idp.create" if created else "idp.update",
        f"environment:{environment.name}/idp:{kind}",
        {"client_id": client_id, "scopes": row.scopes.split(), "secret_changed": client_secret is not None},
    )
    return _view(row, public_url)


async def show_idp(session: AsyncSession, environment: Environment, kind: str, *, public_url: str) -> IdpView:
    """The environment's IdP of `kind`; NotFound when none is set up."""
    row = await _row(session, environment, kind)
    if row is None:
        raise NotFound(
            "idp_not_configured",
            f"Environment {environment.name} has no {kind[:32]} identity provider yet: set one with its client ID "
            "and secret.",
        )
    return _view(row, public_url)


async def _row(session: AsyncSession, environment: Environment, kind: str) -> IdentityProvider | None:
    return await session.scalar(
        select(IdentityProvider).where(IdentityProvider.environment_id == environment.id, IdentityProvider.kind == kind)
    )


def _check_scopes(scopes: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(scope.strip() for scope in scopes if scope.strip()))
    bad = [scope[:64] for scope in cleaned if not SCOPE_PATTERN.fullmatch(scope)]
    if bad:
        raise InvalidInput("invalid_scopes", f"Not an Atlassian scope: {', '.join(bad)}.")
    missing = [scope for scope in REQUIRED_SCOPES if scope not in cleaned]
    if missing:
        raise InvalidInput(
            "invalid_scopes",
            f"The scopes must include {' and '.join(missing)}: PolicyArc needs them to identify users and refresh "
            "their tokens.",
        )
    return cleaned


def _view(row: IdentityProvider, public_url: str) -> IdpView:
    return IdpView(
        kind=row.kind,
        client_id=row.client_id,
        scopes=row.scopes.split(),
        client_secret_set=bool(row.client_secret_enc),
        callback_url=callback_url(public_url, row.kind),
        updated_at=row.updated_at,
    )
