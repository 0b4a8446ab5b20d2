"""Fakes shared by tests that drive `ToolPipeline` without a database."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette

from policyarc.caller import Caller
from policyarc.connectors.jira.client import JiraClient
from policyarc.connectors.jira.connection import JiraConnection
from policyarc.mcp_endpoint import AuditEntry


class MemoryAudit:
    """An `AuditSink` in memory: `intents` are writes recorded before they were sent, `entries` finished calls."""

    def __init__(self) -> None:
        self.intents: list[AuditEntry] = []
        self.entries: list[AuditEntry] = []

    async def record_intent(self, entry: AuditEntry) -> int:
        self.intents.append(entry)
        return len(self.intents)

    async def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


class OneJiraSite:
    """A `ConnectorDirectory` with one Jira site, the same for every environment."""

    def __init__(self, client: JiraClient, cloud_id: str, site_url: str = "https://acme.atlassian.net") -> None:
        self._client = client
        self._cloud_id = cloud_id
        self._site_url = site_url

    def connection_for(self, environment_id: str) -> JiraConnection:
        return JiraConnection(environment_id, "acme", self._cloud_id, self._site_url, self._client)


class AllowAll:
    """A policy that grants every scope."""

    def allowed(self, caller: Caller, scope: str) -> bool:
        return True


class SimTokens:
    """The vault: one Atlassian token for `account_id` on `cloud_id`, minted by the simulator."""

    def __init__(self, sim: Starlette, account_id: str, cloud_id: str, scopes: Sequence[str]) -> None:
        self._token: str = sim.state.sim.tokens.mint(account_id, "policyarc-demo", tuple(scopes), [cloud_id])[
            "access_token"
        ]

    async def access_token(self, caller: Caller) -> str:
        return self._token

    async def upstream_rejected(self, caller: Caller) -> None:
        raise AssertionError("the simulator refused a token it minted")
