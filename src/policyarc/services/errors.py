"""Errors the admin operations raise; the API renders them as problem details, the CLI as a message.

    ServiceError            code, message, status (the HTTP status the API answers with)
     ├── NotFound           404: no such environment, connector, key
     ├── Conflict           409: the change collides with what is stored (a second Jira connector, a race)
     ├── InvalidInput       400: the input is well-formed but refused; `errors` lists each problem
     │    └── InvalidPolicy 400: Cedar's own messages in `errors`
     └── Unavailable        502: something the gateway asked (Atlassian's tenant_info) could not answer

Messages say what to fix and never quote a secret.
"""

from __future__ import annotations

from collections.abc import Sequence


class ServiceError(Exception):
    status = 500

    def __init__(self, code: str, message: str, *, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = list(errors)


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class InvalidInput(ServiceError):
    status = 400


class InvalidPolicy(InvalidInput):
    def __init__(self, errors: Sequence[str]) -> None:
        count = len(errors)
        super().__init__("invalid_policy", f"The policy has {count} problem{'s' if count != 1 else ''}.", errors=errors)


class Unavailable(ServiceError):
    status = 502
