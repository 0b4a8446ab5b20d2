"""People and clients: who has signed in (and the state of their Atlassian link), which MCP clients are registered,
and revoking either. Last use comes from the audit trail of the environment.

Revoking a person deletes their Atlassian link (the vault then asks them to sign in again) and revokes every gateway
token they hold in the environment. Revoking a client revokes its tokens and consents in the environment; a client
registered dynamically is deleted too, so it must register again, while a metadata-document client (its id is a
URL) keeps only its cached document and must go through consent again.
Token caches on other instances see a revocation within their bound (oauth/resolver.py, vault.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.admin import record_change
from policyarc.services.errors import NotFound
from policyarc.store.models import (
    AccessToken,
    AuditRecord,
    Consent,
    Environment,
    IdentityProvider,
    OAuthClient,
    RefreshToken,
    UpstreamLink,
    User,
)

__all__ = ["ClientView", "PersonView", "list_clients", "list_people", "revoke_client", "revoke_person"]


@dataclass(frozen=True)
class PersonView:
    id: str
    email: str | None
    name: str | None
    link: str  # active | reconnect | none
    last_used: datetime | None
    calls: int


@dataclass(frozen=True)
class ClientView:
    client_id: str
    name: str
    kind: str  # dcr | cimd
    redirect_hosts: tuple[str, ...]
    created_at: datetime
    last_used: datetime | None
    calls: int


async def _usage(session: AsyncSession, environment: Environment, column: object) -> dict[str, tuple[datetime, int]]:
    rows = await session.execute(
        select(column, func.max(AuditRecord.ts), func.count())  # type: ignore[call-overload]
        .where(AuditRecord.environment_id == environment.id)
        .group_by(column)
    )
    return {key: (last, count) for key, last, count in rows if key is not None}


async def list_people(session: AsyncSession, environment: Environment) -> list[PersonView]:
    usage = await _usage(session, environment, AuditRecord.user_id)
    # The link of this environment's identity provider: a user signed in to another environment only is not linked here.
    links = {
        user_id: status
        for user_id, status in await session.execute(
            select(UpstreamLink.user_id, UpstreamLink.status)
            .join(IdentityProvider, IdentityProvider.id == UpstreamLink.identity_provider_id)
            .where(IdentityProvider.environment_id == environment.id)
        )
    }
    people = []
    for user in await session.scalars(select(User).order_by(User.email)):
        last, calls = usage.get(user.id, (None, 0))
        people.append(
            PersonView(
                id=user.id,
                email=user.email,
                name=user.display_name,
                link=links.get(user.id, "none"),
                last_used=last or user.last_seen_at,
                calls=calls,
            )
        )
    return people


async def list_clients(session: AsyncSession, environment: Environment) -> list[ClientView]:
    usage = await _usage(session, environment, AuditRecord.client_id)
    clients = []
    for row in await session.scalars(select(OAuthClient).order_by(OAuthClient.created_at.desc())):
        metadata = row.client_metadata or {}
        uris = metadata.get("redirect_uris") or []
        hosts = tuple(dict.fromkeys(urlsplit(str(uri)).hostname or str(uri).split(":", 1)[0] for uri in uris))
        last, calls = usage.get(row.client_id, (None, 0))
        clients.append(
            ClientView(
                client_id=row.client_id,
                name=str(metadata.get("client_name") or row.client_id)[:200],
                kind=row.kind,
                redirect_hosts=hosts,
                created_at=row.created_at,
                last_used=last,
                calls=calls,
            )
        )
    return clients


async def revoke_person(
    session: AsyncSession, environment: Environment, user_id: str, *, actor: str, now: datetime
) -> PersonView:
    """The caller commits."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", "There is no such user.")
    await session.execute(delete(UpstreamLink).where(UpstreamLink.user_id == user_id))
    for table in (AccessToken, RefreshToken):
        await session.execute(
            update(table)
            .where(table.user_id == user_id, table.environment_id == environment.id, table.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    await record_change(session, actor, "user.revoke", f"environment:{environment.name}/user:{user_id}",
                        {"email": user.email})  # fmt: skip
    return PersonView(id=user.id, email=user.email, name=user.display_name, link="none", last_used=None, calls=0)


async def revoke_client(
    session: AsyncSession, environment: Environment, client_id: str, *, actor: str, now: datetime
) -> None:
    """The caller commits."""
    row = await session.get(OAuthClient, client_id)
    if row is None:
        raise NotFound("client_not_found", "There is no such client.")
    for table in (AccessToken, RefreshToken):
        await session.execute(
            update(table)
            .where(table.client_id == client_id, table.environment_id == environment.id, table.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    await session.execute(
        delete(Consent).where(Consent.client_id == client_id, Consent.environment_id == environment.id)
    )
    name = str((row.client_metadata or {}).get("client_name") or "")[:200]
    if row.kind != "cimd":
        await session.delete(row)  # its tokens go with it (foreign keys cascade)
    await record_change(session, actor, "client.revoke", f"environment:{environment.name}/client:{client_id[:200]}",
                        {"name": name})  # fmt: skip
