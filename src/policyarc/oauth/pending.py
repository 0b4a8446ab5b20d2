"""Round-trip state kept in `login_states`, keyed by the SHA-256 of a random value that only the browser holds.

Two kinds share the table, told apart by `payload["kind"]` so one can never be presented as the other:

- `authorize`: an MCP client's validated /authorize request, waiting for sign-in and consent; its id travels in
  our own URLs (`/oauth/login?request=...`, `/oauth/consent?request=...`), and it names the hash of the
  `__Host-policyarc_authorize` cookie of the browser that opened /authorize: only that browser may continue it.
- `idp`: one sign-in round trip to Atlassian; its key is the `state` we send, and it names the pending request and
  the hash of the `__Host-policyarc_login` cookie that must come back with it.
"""

from __future__ import annotations

import hmac
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.secrets import hash_token, new_token
from policyarc.store.models import LoginState

__all__ = [
    "IdpRoundTrip",
    "PendingAuthorization",
    "drop",
    "load_pending",
    "same_browser",
    "save_pending",
    "save_round_trip",
    "take_round_trip",
]


@dataclass(frozen=True)
class PendingAuthorization:
    client_id: str
    redirect_uri: str
    redirect_uri_provided_explicitly: bool
    code_challenge: str
    scopes: tuple[str, ...]
    state: str | None
    resource: str
    # SHA-256 of the `policyarc_authorize` cookie of the browser that opened /authorize (browser_binding.py);
    # None only for a request stored without one, which no browser can then continue.
    browser_hash: str | None = None
    # The environment `resource` names; "" only in a request stored before environments were served (the default).
    environment_id: str = ""


@dataclass(frozen=True)
class IdpRoundTrip:
    request_id: str
    cookie_hash: str
    # Whose Atlassian app the round trip went to: the callback exchanges the code with the same app. "sign-in" for
    # an MCP client's authorization; "test" for an admin's test sign-in from the console (oauth/idp_test.py).
    environment_id: str = ""
    purpose: str = "sign-in"


async def save_pending(db: AsyncSession, pending: PendingAuthorization, *, expires_at: datetime) -> str:
    """Store the request; returns its id (256 random bits)."""
    request_id = new_token("pa_req_")
    payload = {"kind": "authorize", **asdict(pending), "scopes": list(pending.scopes)}
    db.add(LoginState(state_hash=hash_token(request_id), payload=payload, expires_at=expires_at))
    return request_id


async def load_pending(db: AsyncSession, request_id: str, *, now: datetime) -> PendingAuthorization | None:
    payload = await _payload(db, request_id, "authorize", now)
    if payload is None:
        return None
    return PendingAuthorization(
        client_id=payload["client_id"],
        redirect_uri=payload["redirect_uri"],
        redirect_uri_provided_explicitly=bool(payload["redirect_uri_provided_explicitly"]),
        code_challenge=payload["code_challenge"],
        scopes=tuple(payload["scopes"]),
        state=payload.get("state"),
        resource=payload["resource"],
        browser_hash=payload.get("browser_hash"),
        environment_id=str(payload.get("environment_id") or ""),
    )


def same_browser(pending: PendingAuthorization, cookie: str | None) -> bool:
    """Was the pending request started by the browser holding this `policyarc_authorize` cookie value?"""
    if pending.browser_hash is None or cookie is None:
        return False
    return hmac.compare_digest(hash_token(cookie), pending.browser_hash)


async def save_round_trip(db: AsyncSession, trip: IdpRoundTrip, *, expires_at: datetime) -> str:
    """Store an IdP round trip, replacing any earlier one for the same request; returns the `state` to send.

    One live round trip per pending request, so reloading /oauth/login does not add a row per hit. Nothing is
    lost: each start sets a new login cookie in the browser, so an earlier round trip could no longer finish.
    """
    await db.execute(
        delete(LoginState).where(
            LoginState.payload["kind"].as_string() == "idp",
            LoginState.payload["request_id"].as_string() == trip.request_id,
        )
    )
    state = new_token("pa_st_")
    payload = {"kind": "idp", **asdict(trip)}
    db.add(LoginState(state_hash=hash_token(state), payload=payload, expires_at=expires_at))
    return state


async def take_round_trip(db: AsyncSession, state: str, *, now: datetime) -> IdpRoundTrip | None:
    """The round trip for `state`, deleted as it is read: a state is good for one callback only."""
    payload = await _payload(db, state, "idp", now)
    await drop(db, state)
    if payload is None:
        return None
    return IdpRoundTrip(
        request_id=payload["request_id"],
        cookie_hash=payload["cookie_hash"],
        environment_id=str(payload.get("environment_id") or ""),
        purpose=payload.get("purpose", "sign-in"),
    )


async def drop(db: AsyncSession, key: str) -> None:
    await db.execute(delete(LoginState).where(LoginState.state_hash == hash_token(key)))


async def _payload(db: AsyncSession, key: str, kind: str, now: datetime) -> dict[str, Any] | None:
    if not key or len(key) > 256:
        return None
    row = await db.scalar(select(LoginState).where(LoginState.state_hash == hash_token(key)))
    if row is None or row.expires_at <= now or row.payload.get("kind") != kind:
        return None
    return row.payload
