"""Errors raised by identity-provider clients.

    IdentityError
    ├── GrantRevoked        the upstream grant is gone (invalid_grant): the user must sign in again
    ├── IdentityRejected    the IdP refused a request for another reason (bad client secret, bad code...)
    └── IdentityUnavailable the IdP could not be reached or answered 5xx / garbage

Messages are safe to show: they never carry a token, code or secret.
"""

from __future__ import annotations


class IdentityError(Exception):
    """Base class; `code` is stable and machine-readable."""

    code = "identity_error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class GrantRevoked(IdentityError):
    code = "grant_revoked"


class IdentityRejected(IdentityError):
    code = "identity_rejected"


class IdentityUnavailable(IdentityError):
    code = "identity_unavailable"
