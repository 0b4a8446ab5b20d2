"""Errors raised by the policy package.

Exception
 +-- PolicyError    policy text that does not parse or does not validate against the schema
"""

from __future__ import annotations


class PolicyError(Exception):
    """Policy text was refused. `errors` holds Cedar's own messages, one per problem, for the console to list."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("invalid policy: " + "; ".join(self.errors))
