"""Who a policy grants each scope to, as the console's status screen says it: everyone, some, or no one.

Read from the rules form (`cedar_to_rules`); a policy written as raw Cedar the form cannot read answers
"unknown" rather than a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from policyarc.policy.rules import cedar_to_rules

__all__ = ["Reach", "scope_reach"]

Reach = Literal["everyone", "some", "no one", "unknown"]


def scope_reach(text: str, scopes: Iterable[str]) -> dict[str, Reach]:
    rules = cedar_to_rules(text)
    wanted = list(dict.fromkeys(scopes))
    if rules is None:
        return dict.fromkeys(wanted, "unknown")
    reach: dict[str, Reach] = {}
    for scope in wanted:
        permits = [r for r in rules if r.effect == "permit" and scope in r.scopes]
        forbids = [r for r in rules if r.effect == "forbid" and scope in r.scopes]
        if not permits or any(r.who == "anyone" and r.clients is None for r in forbids):
            reach[scope] = "no one"
        elif not forbids and any(r.who == "anyone" and r.clients is None for r in permits):
            reach[scope] = "everyone"
        else:
            reach[scope] = "some"
    return reach
