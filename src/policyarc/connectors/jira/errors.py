"""Errors from Jira Cloud, converted where they enter (client.py).

    JiraError                 Jira answered with an error; `messages` and `field_errors` are Jira's own words
    ├── JiraNotFound          404: unknown issue or project, or one the user may not see
    ├── JiraForbidden         403: the user lacks a Jira permission
    ├── JiraBadRequest        400: invalid JQL, invalid field values, an unavailable transition
    ├── JiraUnauthorized      401: the user's Atlassian token is invalid or its scopes do not cover the call
    ├── JiraRateLimited       429 after the retries allowed; `retry_after` seconds
    └── JiraUnavailable       5xx, timeouts, dropped connections, garbage answers
        └── JiraOutcomeUnknown    a write that may have reached Jira failed without an answer (timeout,
                                  dropped connection) or with a 5xx: it may have been made, check first

Messages never contain tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class JiraError(Exception):
    code = "jira_error"

    def __init__(
        self,
        status: int | None,
        messages: Sequence[str] = (),
        field_errors: Mapping[str, str] | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.messages = list(messages)
        self.field_errors = dict(field_errors or {})
        self.retry_after = retry_after
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line an agent can act on, Jira's own wording first."""
        parts = list(self.messages)
        parts += [f"{name}: {message}" for name, message in self.field_errors.items()]
        if not parts:
            parts = [f"Jira answered HTTP {self.status}" if self.status else "Jira could not be reached"]
        return " ".join(parts)


class JiraNotFound(JiraError):
    code = "not_found"


class JiraForbidden(JiraError):
    code = "forbidden"


class JiraBadRequest(JiraError):
    code = "bad_request"


class JiraUnauthorized(JiraError):
    code = "upstream_unauthorized"


# Atlassian's `RateLimit-Reason` for a limit on writes to one issue (20 per 2 s), not the tenant's.
PER_ISSUE_ON_WRITE = "jira-per-issue-on-write"


class JiraRateLimited(JiraError):
    """`reason` is Atlassian's `RateLimit-Reason` header: which limit was hit (tenant, burst, per-issue write)."""

    code = "rate_limited"
    reason: str | None = None


class JiraUnavailable(JiraError):
    code = "upstream_unavailable"


class JiraOutcomeUnknown(JiraUnavailable):
    code = "outcome_unknown"
