"""What a draft policy would change, before it is saved: the scopes one user gets through one client under the
policy in force and under the draft, and every known user x client pair whose access the draft widens or narrows.

Both policies are asked the same questions through `PolicyEngine`, so the answer is Cedar's own, whether the text
came from the rules form or was written by hand. The users and clients asked about are the ones the gateway has
seen (signed-in users, registered MCP clients), bounded so a review stays quick: the most recently seen first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.policy import ClientInfo, PolicyEngine, PolicyError, Principal, rules_to_cedar
from policyarc.policy.schema import canonical_email
from policyarc.services.errors import InvalidPolicy
from policyarc.services.policies import PolicyView, check_policy, show_policy
from policyarc.store.models import Environment, OAuthClient, User

__all__ = [
    "MAX_CLIENTS",
    "MAX_USERS",
    "AccessChange",
    "ChangeReport",
    "DraftReview",
    "Grants",
    "KnownClient",
    "KnownUser",
    "access_changes",
    "find_user",
    "known_clients",
    "known_users",
    "preview_grants",
    "review_changes",
    "review_draft",
    "stored_engine",
]

# A review evaluates both policies for MAX_USERS x MAX_CLIENTS x scopes requests: about 50 us each in Cedar,
# so these bounds keep a review near a second (measured: 200 x 50 clients took 2.8 s on this machine).
MAX_USERS = 200
MAX_CLIENTS = 20


@dataclass(frozen=True)
class KnownUser:
    """A user who has signed in through the gateway. `email` is empty when the IdP withheld it."""

    user_id: str
    email: str
    display_name: str = ""

    @property
    def label(self) -> str:
        return self.email or self.display_name or self.user_id

    @property
    def principal(self) -> Principal:
        return Principal(user_id=self.user_id, email=self.email)


@dataclass(frozen=True)
class KnownClient:
    """A registered MCP client; `name` is what it calls itself (not a trust anchor, so ids are shown too)."""

    client_id: str
    name: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.client_id})" if self.name and self.name != self.client_id else self.client_id

    @property
    def info(self) -> ClientInfo:
        return ClientInfo(client_id=self.client_id, name=self.name)


async def known_users(session: AsyncSession, *, limit: int = MAX_USERS) -> list[KnownUser]:
    """The `limit` most recently seen users (never-seen ones last, newest first)."""
    rows = await session.execute(
        select(User.id, User.email, User.display_name)
        .order_by(User.last_seen_at.desc().nulls_last(), User.created_at.desc(), User.id)
        .limit(limit)
    )
    return [KnownUser(user_id=id_, email=email or "", display_name=name or "") for id_, email, name in rows]


async def known_clients(session: AsyncSession, *, limit: int = MAX_CLIENTS) -> list[KnownClient]:
    """The `limit` most recently registered or updated MCP clients."""
    rows = await session.execute(
        select(OAuthClient.client_id, OAuthClient.client_metadata)
        .order_by(OAuthClient.updated_at.desc(), OAuthClient.client_id)
        .limit(limit)
    )
    clients = []
    for client_id, metadata in rows:
        name = metadata.get("client_name") if isinstance(metadata, dict) else None
        clients.append(KnownClient(client_id=client_id, name=name if isinstance(name, str) else ""))
    return clients


def find_user(users: Iterable[KnownUser], email: str) -> KnownUser:
    """The known user with this email, or a stand-in for someone who has not signed in yet.

    The stand-in's id cannot collide with a real one (real ids are 32 hex digits), so a policy naming user ids
    treats it as a stranger, which is what that person would be on first sign-in.
    """
    wanted = canonical_email(email.strip())
    for user in users:
        if user.email and canonical_email(user.email) == wanted:
            return user
    return KnownUser(user_id=f"preview:{wanted}", email=wanted)


@dataclass(frozen=True)
class Grants:
    """The scopes one user gets through one client, under the policy in force and under the draft."""

    scopes: tuple[str, ...]
    current: frozenset[str]
    draft: frozenset[str]

    @property
    def gained(self) -> tuple[str, ...]:
        return tuple(s for s in self.scopes if s in self.draft and s not in self.current)

    @property
    def lost(self) -> tuple[str, ...]:
        return tuple(s for s in self.scopes if s in self.current and s not in self.draft)


def preview_grants(
    current: PolicyEngine, draft: PolicyEngine, user: KnownUser, client: KnownClient, scopes: Sequence[str]
) -> Grants:
    return Grants(
        scopes=tuple(scopes),
        current=current.allowed_scopes(user.principal, client.info, scopes),
        draft=draft.allowed_scopes(user.principal, client.info, scopes),
    )


@dataclass(frozen=True)
class AccessChange:
    user: KnownUser
    client: KnownClient
    scopes: tuple[str, ...]  # gained (in `widened`) or lost (in `narrowed`)


@dataclass(frozen=True)
class ChangeReport:
    """Who the draft gives more (`widened`) or less (`narrowed`); one pair can be in both lists."""

    widened: list[AccessChange]
    narrowed: list[AccessChange]
    users_checked: int
    clients_checked: int

    @property
    def unchanged(self) -> bool:
        return not self.widened and not self.narrowed


def access_changes(
    current: PolicyEngine,
    draft: PolicyEngine,
    users: Sequence[KnownUser],
    clients: Sequence[KnownClient],
    scopes: Sequence[str],
) -> ChangeReport:
    """Evaluate both policies for every user x client pair given (callers bound the lists)."""
    widened: list[AccessChange] = []
    narrowed: list[AccessChange] = []
    for user in users:
        for client in clients:
            grants = preview_grants(current, draft, user, client, scopes)
            if grants.gained:
                widened.append(AccessChange(user, client, grants.gained))
            if grants.lost:
                narrowed.append(AccessChange(user, client, grants.lost))
    return ChangeReport(widened=widened, narrowed=narrowed, users_checked=len(users), clients_checked=len(clients))


async def review_changes(
    session: AsyncSession,
    current: PolicyEngine,
    draft: PolicyEngine,
    scopes: Sequence[str],
    *,
    max_users: int = MAX_USERS,
    max_clients: int = MAX_CLIENTS,
) -> ChangeReport:
    """`access_changes` over the most recently seen users and clients. Cedar runs in a worker thread: a full
    review is up to max_users x max_clients x scopes decisions per policy, too long to hold the event loop."""
    users = await known_users(session, limit=max_users)
    clients = await known_clients(session, limit=max_clients)
    return await asyncio.to_thread(access_changes, current, draft, users, clients, scopes)


def stored_engine(text: str, version: int, scopes: Sequence[str]) -> PolicyEngine:
    """An engine for a stored version. One saved under another scope registry may no longer validate: it then
    grants nothing here, which is also what the gateway does when it cannot install it."""
    try:
        return PolicyEngine(text, version, scopes, cache_size=1_000)
    except PolicyError:
        return PolicyEngine(rules_to_cedar([]), version, scopes, cache_size=1_000)


@dataclass(frozen=True)
class DraftReview:
    current: PolicyView  # the version the draft was compared with: a save should be bound to it
    report: ChangeReport


async def review_draft(
    session: AsyncSession, environment: Environment, text: str, scopes: Sequence[str]
) -> DraftReview:
    """Whose access `text` would widen or narrow against the environment's policy in force. InvalidPolicy
    (Cedar's messages) when the draft would not install."""
    errors = check_policy(text, scopes)
    if errors:
        raise InvalidPolicy(errors)
    current = await show_policy(session, environment)
    draft = PolicyEngine(text, 0, scopes, cache_size=1_000)
    report = await review_changes(session, stored_engine(current.text, current.version, scopes), draft, scopes)
    return DraftReview(current=current, report=report)
