"""One environment's Jira site as the tool pipeline reaches it: `connectors.base.Connection` for Jira.

It builds the handlers' context (`JiraCall`: the caller's own token, the site's cloud ID) and reads what Jira's
errors mean for the pipeline: a token Atlassian refused (the pipeline asks the vault for a newer one, else says to
sign in again) and every other error in words an agent can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

from policyarc.connectors.base import ToolFailure
from policyarc.connectors.jira.client import JiraClient
from policyarc.connectors.jira.errors import (
    PER_ISSUE_ON_WRITE,
    JiraBadRequest,
    JiraError,
    JiraRateLimited,
    JiraUnauthorized,
)
from policyarc.connectors.jira.tools import JiraCall

__all__ = ["JiraConnection"]


@dataclass(frozen=True)
class JiraConnection:
    environment_id: str
    site: str
    cloud_id: str
    site_url: str  # https://acme.atlassian.net, or the simulator's stand-in
    client: JiraClient

    @property
    def tenant(self) -> str:
        return self.cloud_id  # Atlassian's rate limits are per tenant (cloud ID), not per environment

    def context(self, token: str, account_id: str) -> JiraCall:
        return JiraCall(
            client=self.client, cloud_id=self.cloud_id, site_url=self.site_url, token=token, account_id=account_id
        )

    def refused_token(self, exc: BaseException) -> bool:
        """Atlassian refused the token itself (not its scopes): Jira ran nothing, so a newer token may be tried."""
        return isinstance(exc, JiraUnauthorized) and not _scope_mismatch(exc)

    def failure(self, tool: str, exc: BaseException) -> ToolFailure | None:
        if not isinstance(exc, JiraError):
            return None
        text = exc.describe()
        if isinstance(exc, JiraUnauthorized):
            if _scope_mismatch(exc):
                return ToolFailure(
                    "upstream_scope",
                    "Atlassian says your token's scopes do not cover this call. The Atlassian app needs the "
                    "scopes read:jira-work read:jira-user write:jira-work; ask your admin, then sign in again.",
                    upstream_status=401,
                )
            return ToolFailure(
                "reconnect_required",
                "Atlassian no longer accepts your sign-in. Sign in again (reconnect the MCP server in your client).",
                upstream_status=401,
            )
        if isinstance(exc, JiraRateLimited):
            wait = f" Retry in {int(exc.retry_after)} s." if exc.retry_after else ""
            # A per-issue write limit concerns that issue alone: the rest of the tenant is not paused for it.
            tenant_wide = exc.reason != PER_ISSUE_ON_WRITE
            return ToolFailure(
                "rate_limited",
                f"Jira is rate-limiting requests: {text}{wait}",
                upstream_status=429,
                pause_for=exc.retry_after if tenant_wide else None,
            )
        if isinstance(exc, JiraBadRequest) and tool == "search_issues":
            text = "JQL: " + text
        return ToolFailure(exc.code, text, upstream_status=exc.status)


def _scope_mismatch(exc: JiraUnauthorized) -> bool:
    """Atlassian's 401 for a token whose scopes do not cover the call ("Unauthorized; scope does not match")."""
    return "scope" in exc.describe().lower()
