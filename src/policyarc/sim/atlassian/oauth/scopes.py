"""The OAuth scopes the simulated Atlassian knows."""

from __future__ import annotations

# Jira's classic scopes, the user-identity scopes and offline access. A scope outside this set is
# `invalid_scope` at /authorize, as Atlassian answers for a scope it does not know.
CLASSIC_JIRA_SCOPES: tuple[str, ...] = (
    "read:jira-work",
    "read:jira-user",
    "write:jira-work",
    "manage:jira-project",
    "manage:jira-configuration",
)
KNOWN_SCOPES: frozenset[str] = frozenset(
    {
        *CLASSIC_JIRA_SCOPES,
        "manage:jira-webhook",
        "manage:jira-data-provider",
        "read:me",
        "read:account",
        "offline_access",
    }
)
# What `/_sim/tokens` grants when the caller names no scopes.
DEFAULT_SCOPES: tuple[str, ...] = (*CLASSIC_JIRA_SCOPES, "read:me", "offline_access")
# Scopes about the user or the token rather than a site: accessible-resources does not list them.
NON_SITE_SCOPES: frozenset[str] = frozenset({"offline_access", "read:me", "read:account"})

SCOPE_DESCRIPTIONS: dict[str, str] = {
    "read:jira-work": "View Jira issue data",
    "read:jira-user": "View user profiles",
    "write:jira-work": "Create and manage issues",
    "manage:jira-project": "Manage project settings",
    "manage:jira-configuration": "Manage Jira global settings",
    "manage:jira-webhook": "Manage Jira webhooks",
    "manage:jira-data-provider": "Manage development and release information",
    "read:me": "View your profile",
    "read:account": "View active user profile",
    "offline_access": "Access your data while you are away",
}
