"""Policy rules as the console's form edits them, and their Cedar text both ways.

A `Rule` is one Cedar policy: permit or forbid, who (anyone signed in, listed emails, or email domains),
which clients (any, or listed client ids), which scopes. `rules_to_cedar` writes readable Cedar with a
comment per rule; `cedar_to_rules` reads such text back, or returns None when the text says something the
form cannot show (an `unless`, an annotation, another attribute...), so the console falls back to the text.

Every string from the form reaches Cedar only through `cedar_string`, which escapes quotes, backslashes and
anything outside printable ASCII: an email like `x" || true || "` stays one string literal, and nothing can end
a `//` comment early.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import cedarpy

from policyarc.policy.schema import ACTION_ID, ACTION_TYPE, SCOPE_TYPE, USER_TYPE, canonical_email

Effect = Literal["permit", "forbid"]
Who = Literal["anyone", "emails", "domains"]

_SCOPE = re.compile(r"^[A-Za-z0-9_.:/-]+$")
_HEADER = "// PolicyArc policy, edited as rules. Deny by default: a forbid rule beats any permit.\n"
_EMPTY = "// PolicyArc policy: no rules, so every scope is refused.\n"


def cedar_string(value: str) -> str:
    """`value` as a Cedar string literal, safe for any input."""
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append(f"\\u{{{ord(char):x}}}")
    out.append('"')
    return "".join(out)


def _strings(values: Iterable[str], what: str) -> tuple[str, ...]:
    """Distinct values in first-seen order; lone surrogates cannot be Cedar strings."""
    result = tuple(dict.fromkeys(values))
    for value in result:
        if not isinstance(value, str):
            raise ValueError(f"{what} must be strings, got {type(value).__name__}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{what} must be valid Unicode text") from exc
    return result


@dataclass(frozen=True)
class Rule:
    """One rule of the form. Emails and domains are stored lower-cased; duplicates are dropped.

    `clients` is None for any client. Raises ValueError for a rule the form should not have produced.
    """

    effect: Effect
    scopes: tuple[str, ...]
    who: Who = "anyone"
    emails: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    clients: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.effect not in ("permit", "forbid"):
            raise ValueError(f"effect must be permit or forbid, not {self.effect!r}")
        scopes = _strings(self.scopes, "scopes")
        emails = tuple(dict.fromkeys(canonical_email(e) for e in _strings(self.emails, "emails")))
        domains = tuple(dict.fromkeys(d.lower() for d in _strings(self.domains, "domains")))
        clients = None if self.clients is None else _strings(self.clients, "client ids")
        if not scopes:
            raise ValueError("a rule needs at least one scope")
        for scope in scopes:
            if not _SCOPE.match(scope):
                raise ValueError(f"not a scope name: {scope!r}")
        if self.who == "anyone" and (emails or domains):
            raise ValueError("a rule for anyone lists no emails or domains")
        if self.who == "emails" and (not emails or domains):
            raise ValueError("a rule for emails lists at least one email and no domains")
        if self.who == "domains" and (not domains or emails):
            raise ValueError("a rule for domains lists at least one domain and no emails")
        if self.who not in ("anyone", "emails", "domains"):
            raise ValueError(f"who must be anyone, emails or domains, not {self.who!r}")
        if any(not d or "@" in d for d in domains):
            raise ValueError("write a domain as example.com, without @")
        if clients is not None and not clients:
            raise ValueError("list at least one client id, or none for any client")
        object.__setattr__(self, "scopes", scopes)
        object.__setattr__(self, "emails", emails)
        object.__setattr__(self, "domains", domains)
        object.__setattr__(self, "clients", clients)


# --- rules -> Cedar ---------------------------------------------------------------------------------------------

_ATTRS = {"email": "principal.email", "domain": "principal.domain", "client": "context.client.client_id"}


def _scope(scope: str) -> str:
    return f"{SCOPE_TYPE}::{cedar_string(scope)}"


def _match(expr: str, values: tuple[str, ...]) -> str:
    if len(values) == 1:
        return f"{expr} == {cedar_string(values[0])}"
    return f"[{', '.join(cedar_string(v) for v in values)}].contains({expr})"


def _describe(number: int, rule: Rule) -> str:
    listed = ", ".join
    who = {
        "anyone": "anyone signed in",
        "emails": "emails " + listed(cedar_string(e) for e in rule.emails),
        "domains": "anyone at " + listed(cedar_string(d) for d in rule.domains),
    }[rule.who]
    clients = "any client" if rule.clients is None else "clients " + listed(cedar_string(c) for c in rule.clients)
    return f"// Rule {number}: {rule.effect} {who}, on {clients}: {listed(rule.scopes)}"


def _render(number: int, rule: Rule) -> str:
    resource = "resource"
    conditions: list[str] = []
    if len(rule.scopes) == 1:
        resource = f"resource == {_scope(rule.scopes[0])}"
    else:
        conditions.append(f"resource in [{', '.join(_scope(s) for s in rule.scopes)}]")
    if rule.who == "emails":
        conditions.append(_match(_ATTRS["email"], rule.emails))
    elif rule.who == "domains":
        conditions.append(_match(_ATTRS["domain"], rule.domains))
    if rule.clients is not None:
        conditions.append(_match(_ATTRS["client"], rule.clients))
    head = f'{rule.effect} (\n  principal,\n  action == {ACTION_TYPE}::"{ACTION_ID}",\n  {resource}\n)'
    body = "" if not conditions else "\nwhen {\n  " + " &&\n  ".join(conditions) + "\n}"
    return f"{_describe(number, rule)}\n{head}{body};\n"


def rules_to_cedar(rules: Iterable[Rule]) -> str:
    """Readable Cedar text for the rules, one policy (with a comment saying what it does) per rule."""
    blocks = [_render(number, rule) for number, rule in enumerate(rules, start=1)]
    if not blocks:
        return _EMPTY
    return _HEADER + "\n" + "\n".join(blocks)


# --- Cedar -> rules ---------------------------------------------------------------------------------------------


class _Beyond(Exception):
    """The text says something the form cannot show."""


_FIELDS = {
    ("principal", "email"): "email",
    ("principal", "domain"): "domain",
    ("context", "client", "client_id"): "client",
}


def _attr(node: Any) -> str:
    """Which form field an attribute expression is: email, domain or client."""
    path: list[str] = []
    while isinstance(node, dict) and set(node) == {"."}:
        path.append(node["."]["attr"])
        node = node["."]["left"]
    if not isinstance(node, dict) or set(node) != {"Var"}:
        raise _Beyond
    name = _FIELDS.get((node["Var"], *reversed(path)))
    if name is None:
        raise _Beyond
    return name


def _string(node: Any) -> str:
    if not isinstance(node, dict) or set(node) != {"Value"} or not isinstance(node["Value"], str):
        raise _Beyond
    return node["Value"]


def _scope_value(node: Any) -> str:
    if not isinstance(node, dict) or set(node) != {"Value"}:
        raise _Beyond
    entity = node["Value"]
    if not isinstance(entity, dict) or set(entity) != {"__entity"} or entity["__entity"].get("type") != SCOPE_TYPE:
        raise _Beyond
    scope: str = entity["__entity"]["id"]
    return scope


def _set(node: Any) -> list[Any]:
    if not isinstance(node, dict) or set(node) != {"Set"}:
        raise _Beyond
    items: list[Any] = node["Set"]
    return items


def _atom(node: Any) -> tuple[str, tuple[str, ...]]:
    """One conjunct of a `when` as (field, values)."""
    if not isinstance(node, dict) or len(node) != 1:
        raise _Beyond
    ((op, args),) = node.items()
    if op == "==" and args["left"] == {"Var": "resource"}:
        return "scope", (_scope_value(args["right"]),)
    if op == "in" and args["left"] == {"Var": "resource"}:
        return "scope", tuple(_scope_value(item) for item in _set(args["right"]))
    if op == "==":
        return _attr(args["left"]), (_string(args["right"]),)
    if op == "contains":
        return _attr(args["right"]), tuple(_string(item) for item in _set(args["left"]))
    raise _Beyond


def _conjuncts(node: Any) -> list[Any]:
    if isinstance(node, dict) and set(node) == {"&&"}:
        return _conjuncts(node["&&"]["left"]) + _conjuncts(node["&&"]["right"])
    return [node]


def _read_policy(policy: dict[str, Any]) -> Rule:
    if policy.get("annotations") or set(policy) - {"effect", "principal", "action", "resource", "conditions"}:
        raise _Beyond
    if policy["principal"] not in ({"op": "All"}, {"op": "is", "entity_type": USER_TYPE}):
        raise _Beyond
    if policy["action"] != {"op": "==", "entity": {"type": ACTION_TYPE, "id": ACTION_ID}}:
        raise _Beyond
    fields: dict[str, tuple[str, ...]] = {}
    resource = policy["resource"]
    if resource.get("op") == "==" and resource.get("entity", {}).get("type") == SCOPE_TYPE and len(resource) == 2:
        fields["scope"] = (resource["entity"]["id"],)
    elif resource != {"op": "All"}:
        raise _Beyond
    for condition in policy["conditions"]:
        if condition.get("kind") != "when":
            raise _Beyond
        for conjunct in _conjuncts(condition["body"]):
            name, values = _atom(conjunct)
            if name in fields or not values:
                raise _Beyond
            fields[name] = values
    if "email" in fields and "domain" in fields:
        raise _Beyond
    who: Who = "emails" if "email" in fields else "domains" if "domain" in fields else "anyone"
    try:
        rule = Rule(
            effect=policy["effect"],
            scopes=fields.get("scope", ()),
            who=who,
            emails=fields.get("email", ()),
            domains=fields.get("domain", ()),
            clients=fields.get("client"),
        )
    except ValueError as exc:
        raise _Beyond from exc
    # Lower-casing or de-duplicating would change what the text means: show it as text instead.
    if (rule.scopes, rule.emails, rule.domains, rule.clients) != (
        fields.get("scope"),
        fields.get("email", ()),
        fields.get("domain", ()),
        fields.get("client"),
    ):
        raise _Beyond
    return rule


def cedar_to_rules(text: str) -> list[Rule] | None:
    """The rules `text` states, in order; None when it does not parse or goes beyond what the form shows."""
    try:
        est = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError:
        return None
    if est.get("templates") or est.get("templateLinks"):
        return None
    policies: dict[str, Any] = est.get("staticPolicies", {})
    try:
        ordered = sorted(policies.items(), key=lambda item: int(item[0].removeprefix("policy")))
        return [_read_policy(policy) for _, policy in ordered]
    except (_Beyond, KeyError, TypeError, AttributeError, ValueError):
        return None
