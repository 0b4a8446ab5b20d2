"""Why the rules form cannot show a policy: the console opens such text in the Cedar editor and says why.

`cedar_to_rules` answers only yes or no; this names the first policy it refuses and the construct that is
beyond the form, in words an admin can act on ("policy 2 has an `unless` clause").
"""

from __future__ import annotations

import json
from typing import Any

import cedarpy

from policyarc.policy.rules import cedar_to_rules
from policyarc.policy.schema import ACTION_ID, ACTION_TYPE

__all__ = ["why_not_rules"]


def _construct(policy: dict[str, Any]) -> str:
    """The first thing in one policy (Cedar's JSON form) that the form has no control for."""
    if policy.get("annotations"):
        return "an annotation (@...)"
    if any(condition.get("kind") == "unless" for condition in policy.get("conditions", [])):
        return "an `unless` clause"
    if policy.get("principal", {}).get("op") not in ("All", "is"):
        return "a principal named in its head (`principal == ...` or `principal in ...`)"
    if policy.get("action") != {"op": "==", "entity": {"type": ACTION_TYPE, "id": ACTION_ID}}:
        return f'an action other than exactly `action == {ACTION_TYPE}::"{ACTION_ID}"`'
    if policy.get("resource", {}).get("op") not in ("All", "=="):
        return "a resource constraint other than `resource == Scope`"
    return (
        "a condition the form does not edit (it edits only: email is / is one of, domain is / is one of, "
        "client id is / is one of, scope is / is one of, joined with &&)"
    )


def why_not_rules(text: str) -> str | None:
    """None when the form can show `text`; otherwise a sentence saying what it cannot show."""
    if cedar_to_rules(text) is not None:
        return None
    try:
        est = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError:
        return "the text does not parse as Cedar."
    if est.get("templates") or est.get("templateLinks"):
        return "it has a template (`?principal` or `?resource`)."
    policies: dict[str, Any] = est.get("staticPolicies", {})
    ordered = sorted(policies.items(), key=lambda item: int(item[0].removeprefix("policy")))
    for number, (name, policy) in enumerate(ordered, start=1):
        alone = {"staticPolicies": {name: policy}, "templates": {}, "templateLinks": []}
        if cedar_to_rules(cedarpy.policies_from_json_str(json.dumps(alone))) is None:
            return f"policy {number} has {_construct(policy)}."
    return "it says something the form cannot show."
