"""The token vault under faults: Atlassian's token endpoint slower than the refresh timeout (finding 14), and a
token refused after the link moved on elsewhere (finding 18; end to end in tests/e2e/test_errors.py).

The slow endpoint is the simulator behind a gate the test opens: nothing here waits on the wall clock, and the
vault's timeouts are small so a caller gives up long before the gate opens.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from pydantic import BaseModel

from policyarc.caller import Caller
from policyarc.connectors.base import ToolFailure, ToolHints, ToolSpec
from policyarc.connectors.jira.client import JiraClient
from policyarc.connectors.jira.errors import JiraUnauthorized
from policyarc.connectors.jira.tools import JiraCall
from policyarc.identity.atlassian import AtlassianApp, AtlassianIdentity, UpstreamTokens
from policyarc.identity.errors import GrantRevoked
from policyarc.mcp_endpoint import ToolPipeline
from policyarc.vault import TokenVault
from tests.fakes import AllowAll, MemoryAudit, OneJiraSite
from tests.test_vault import Rig, _rig

CALLS = 10


class GatedIdentity(AtlassianIdentity):
    """Atlassian's token endpoint that answers only once the test opens `gate`; counts the grants asked for."""

    def __init__(self, real: AtlassianIdentity) -> None:
        self._real = real
        self.gate = asyncio.Event()
        self.asked = asyncio.Event()
        self.grants = 0
        self.answered: list[UpstreamTokens] = []
        self.revoke = False

    async def refresh(self, app: AtlassianApp, *, refresh_token: str) -> UpstreamTokens:
        self.grants += 1
        self.asked.set()
        await self.gate.wait()
        if self.revoke:
            raise GrantRevoked("Atlassian refused the token request: invalid_grant", status=403)
        tokens = await self._real.refresh(app, refresh_token=refresh_token)
        self.answered.append(tokens)
        return tokens


@pytest.fixture
async def rig(sqlite_url: str) -> AsyncIterator[Rig]:
    async for each in _rig(sqlite_url):
        yield each


@pytest.fixture
async def any_rig(db_url: str) -> AsyncIterator[Rig]:
    async for each in _rig(db_url):
        yield each


def slow_vault(rig: Rig, identity: GatedIdentity) -> TokenVault:
    return TokenVault(
        sessions=rig.sessions, keyring=rig.keyring, identity=identity, clock=rig.clock, refresh_timeout=0.05
    )


async def test_calls_with_an_expired_token_share_one_slow_refresh_and_its_late_token_is_stored(rig: Rig) -> None:
    identity = GatedIdentity(rig.identity)
    vault = slow_vault(rig, identity)
    issued = await rig.link(vault, expires_in=300)
    before = await rig.row()
    rig.clock.advance(300)  # expired: nothing to fall back on

    outcomes = await asyncio.gather(*(vault.access_token(rig.caller) for _ in range(CALLS)), return_exceptions=True)

    await asyncio.wait_for(identity.asked.wait(), 30)
    assert identity.grants == 1  # one refresh in flight, not one per queued call
    for outcome in outcomes:
        assert isinstance(outcome, ToolFailure)
        assert outcome.code == "idp_unavailable"  # Atlassian is slow: retry, not "sign in again"
        assert "slow" in outcome.message and "Try again" in outcome.message
    assert (await rig.row()).version == before.version  # nothing stored yet

    identity.gate.set()  # Atlassian answers, long after every caller gave up
    await vault.aclose(grace=30)

    (late,) = identity.answered
    after = await rig.row()
    assert (after.status, after.version) == ("active", before.version + 1)
    assert rig.open(after, "access_token_enc") == late.access_token
    assert late.refresh_token is not None and rig.open(after, "refresh_token_enc") == late.refresh_token
    assert late.refresh_token != issued["refresh_token"]
    assert await vault.access_token(rig.caller) == late.access_token
    assert identity.grants == 1
    # The stored refresh token is the live one: past the leeway it still rotates, while the one it replaced is a reuse.
    rig.sim_clock.advance(601)
    app = await vault._app_for(rig.caller.environment_id)
    await rig.identity.refresh(app, refresh_token=late.refresh_token)


async def test_calls_with_a_still_valid_token_are_served_while_a_slow_refresh_runs(rig: Rig) -> None:
    identity = GatedIdentity(rig.identity)
    vault = slow_vault(rig, identity)
    issued = await rig.link(vault, expires_in=60)  # inside the refresh margin, good for another minute

    tokens = await asyncio.gather(*(vault.access_token(rig.caller) for _ in range(CALLS)))

    assert tokens == [issued["access_token"]] * CALLS
    assert identity.grants == 1
    assert identity.answered == []  # all served while the refresh was still waiting for Atlassian
    identity.gate.set()
    await vault.aclose(grace=30)
    (late,) = identity.answered
    assert await vault.access_token(rig.caller) == late.access_token
    assert identity.grants == 1


async def test_a_grant_revoked_late_still_marks_the_link_for_reconnect(rig: Rig) -> None:
    identity = GatedIdentity(rig.identity)
    vault = slow_vault(rig, identity)
    await rig.link(vault, expires_in=300)
    rig.clock.advance(300)
    with pytest.raises(ToolFailure) as slow:
        await vault.access_token(rig.caller)
    assert slow.value.code == "idp_unavailable"

    identity.revoke = True
    identity.gate.set()
    await vault.aclose(grace=30)

    assert (await rig.row()).status == "reconnect"
    with pytest.raises(ToolFailure) as failure:
        await vault.access_token(rig.caller)
    assert failure.value.code == "reconnect_required"
    assert identity.grants == 1


async def test_a_slow_refresh_releases_the_row_lock_and_a_sign_in_meanwhile_wins(any_rig: Rig) -> None:
    identity = GatedIdentity(any_rig.identity)
    vault = slow_vault(any_rig, identity)
    await any_rig.link(vault, expires_in=300)
    any_rig.clock.advance(300)
    with pytest.raises(ToolFailure):
        await vault.access_token(any_rig.caller)
    await asyncio.wait_for(identity.asked.wait(), 30)

    # Another instance writes while Atlassian still has not answered: the row (on SQLite the database) is not
    # locked past the refresh timeout, so this neither waits for the gate nor fails with "database is locked".
    other = any_rig.vault(separate_engine=True)
    signed_in_again = await any_rig.link(other, expires_in=3600)
    assert identity.answered == []

    identity.gate.set()
    await vault.aclose(grace=30)

    assert len(identity.answered) == 1  # Atlassian's late pair arrived, and was dropped: the sign-in is newer
    link = await any_rig.row()
    assert any_rig.open(link, "access_token_enc") == signed_in_again["access_token"]
    assert any_rig.open(link, "refresh_token_enc") == signed_in_again["refresh_token"]
    assert await vault.access_token(any_rig.caller) == signed_in_again["access_token"]


async def test_after_a_slow_refresh_another_instance_uses_the_late_token(any_rig: Rig) -> None:
    identity = GatedIdentity(any_rig.identity)
    vault = slow_vault(any_rig, identity)
    await any_rig.link(vault, expires_in=300)
    any_rig.clock.advance(300)
    with pytest.raises(ToolFailure):
        await vault.access_token(any_rig.caller)
    identity.gate.set()
    await vault.aclose(grace=30)

    other = any_rig.vault(separate_engine=True)
    (late,) = identity.answered
    assert await other.access_token(any_rig.caller) == late.access_token
    assert await any_rig.refreshes() == 1  # the other instance did not ask Atlassian again


# -- the pipeline's one retry on a refused token (finding 18) -----------------------------------------------------


class NoInput(BaseModel):
    pass


class Rejections:
    """A vault whose link moves on: each refusal reported gets the next entry of `newer` (None: marked)."""

    def __init__(self, *newer: str | None) -> None:
        self.newer = list(newer)
        self.reported = 0

    async def access_token(self, caller: Caller) -> str:
        return "token-1"

    async def upstream_rejected(self, caller: Caller) -> str | None:
        self.reported += 1
        return self.newer.pop(0) if self.newer else None


CALLER = Caller("u1", "a@example.com", "acct", "client", "Client", "env", frozenset({"jira:issues:write"}), 0.0)


def pipeline_with(
    vault: Rejections, *, accepted: set[str], sent: list[str], message: str = "Unauthorized"
) -> ToolPipeline:
    async def create(call: JiraCall, args: Any) -> dict[str, Any]:
        sent.append(call.token)
        if call.token not in accepted:
            raise JiraUnauthorized(401, [message])
        return {"key": "ENG-1"}

    tool = ToolSpec[JiraCall](
        name="create_issue",
        title="Create",
        description="",
        scope="jira:issues:write",
        input_model=NoInput,
        output_schema={},
        hints=ToolHints(read_only=False, destructive=False, idempotent=False),
        handler=create,
    )
    return ToolPipeline(
        tools=[tool],
        policy=AllowAll(),
        connectors=OneJiraSite(cast(JiraClient, object()), "cloud"),
        vault=vault,
        audit=MemoryAudit(),
    )


async def test_a_write_refused_with_a_replaced_token_is_sent_once_more_with_the_new_one() -> None:
    vault, sent = Rejections("token-2"), []
    result = await pipeline_with(vault, accepted={"token-2"}, sent=sent).call(CALLER, "create_issue", {})
    assert not result.is_error, result.content
    assert sent == ["token-1", "token-2"]
    assert vault.reported == 1


async def test_the_retry_happens_once_and_a_second_refusal_asks_to_sign_in_again() -> None:
    vault, sent = Rejections("token-2", "token-3"), []
    result = await pipeline_with(vault, accepted={"token-3"}, sent=sent).call(CALLER, "create_issue", {})
    assert result.is_error and "Sign in again" in result.content[0].text
    assert sent == ["token-1", "token-2"]  # never a third send
    assert vault.reported == 2  # the second refusal is reported too: the row's own token was refused


async def test_no_retry_when_the_link_is_marked_or_the_scopes_do_not_match() -> None:
    vault, sent = Rejections(None), []
    result = await pipeline_with(vault, accepted=set(), sent=sent).call(CALLER, "create_issue", {})
    assert result.is_error and "Sign in again" in result.content[0].text
    assert sent == ["token-1"] and vault.reported == 1

    vault, sent = Rejections("token-2"), []
    scoped = pipeline_with(vault, accepted={"token-2"}, sent=sent, message="Unauthorized; scope does not match")
    result = await scoped.call(CALLER, "create_issue", {})
    assert result.is_error and "scopes" in result.content[0].text
    assert sent == ["token-1"] and vault.reported == 0  # a scope mismatch is no stale token: nothing to re-read
