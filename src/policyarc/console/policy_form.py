"""The rules form as posted: one `RuleDraft` per rule, what the admin typed (kept even when it is wrong, so the
page can show it back with the error beside it), and its conversion to `Rule`s and Cedar text.

Fields are `rule-N-effect`, `rule-N-who`, `rule-N-emails`, `rule-N-domains`, `rule-N-clients` (any | listed),
`rule-N-client` (one per ticked registered client), `rule-N-other-clients` and `rule-N-scope` (one per ticked
scope), with `rule_count` saying how many rules the page showed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from starlette.datastructures import FormData

from policyarc.policy import DEFAULT_SCOPE, Rule, rules_to_cedar
from policyarc.policy.engine import validate_policy
from policyarc.policy.rules import Effect, Who

__all__ = [
    "MAX_RULES",
    "RuleDraft",
    "compile_drafts",
    "drafts_from_rules",
    "new_draft",
    "numbered",
    "read_drafts",
]

MAX_RULES = 50
_SPLIT = re.compile(r"[\s,;]+")
_POLICY_ID = re.compile(r"^\[policy(\d+)\]\s*")


@dataclass(frozen=True)
class RuleDraft:
    """One rule as the form shows it. Lists are text (one entry per line) so a typo survives a round trip."""

    effect: str = "permit"
    who: str = "anyone"
    emails: str = ""
    domains: str = ""
    clients_mode: str = "any"
    clients: tuple[str, ...] = ()  # ticked registered clients
    other_clients: str = ""  # ids typed by hand (clients not registered yet)
    scopes: tuple[str, ...] = ()
    errors: tuple[str, ...] = field(default=())


def new_draft() -> RuleDraft:
    """What "Add a rule" adds: a valid rule to edit from (every signed-in user may read issues)."""
    return RuleDraft(scopes=(DEFAULT_SCOPE,))


def drafts_from_rules(rules: Iterable[Rule], registered: Iterable[str]) -> list[RuleDraft]:
    """The form for saved rules: listed clients that are registered are ticked, the others typed."""
    known = set(registered)
    drafts = []
    for rule in rules:
        listed = rule.clients or ()
        drafts.append(
            RuleDraft(
                effect=rule.effect,
                who=rule.who,
                emails="\n".join(rule.emails),
                domains="\n".join(rule.domains),
                clients_mode="any" if rule.clients is None else "listed",
                clients=tuple(c for c in listed if c in known),
                other_clients="\n".join(c for c in listed if c not in known),
                scopes=rule.scopes,
            )
        )
    return drafts


def _text(form: FormData, name: str, limit: int = 20_000) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def read_drafts(form: FormData) -> list[RuleDraft]:
    """The rules the form posted, in order (at most MAX_RULES)."""
    count_text = _text(form, "rule_count", 8)
    count = min(int(count_text), MAX_RULES) if count_text.isdigit() else 0
    drafts = []
    for n in range(count):
        key = f"rule-{n}-"
        drafts.append(
            RuleDraft(
                effect=_text(form, key + "effect", 16),
                who=_text(form, key + "who", 16),
                emails=_text(form, key + "emails"),
                domains=_text(form, key + "domains"),
                clients_mode=_text(form, key + "clients", 16),
                clients=tuple(v for v in form.getlist(key + "client") if isinstance(v, str))[: MAX_RULES * 4],
                other_clients=_text(form, key + "other-clients"),
                scopes=tuple(v for v in form.getlist(key + "scope") if isinstance(v, str))[:64],
            )
        )
    return drafts


def _items(text: str) -> list[str]:
    return [item for item in _SPLIT.split(text) if item]


def _to_rule(draft: RuleDraft) -> tuple[Rule | None, list[str]]:
    """The rule a draft states, or the problems that stop it, each saying what to fix."""
    problems: list[str] = []
    emails = _items(draft.emails) if draft.who == "emails" else []
    domains = [d.removeprefix("@") for d in _items(draft.domains)] if draft.who == "domains" else []
    clients = None
    if draft.clients_mode == "listed":
        clients = list(dict.fromkeys([*draft.clients, *_items(draft.other_clients)]))
        if not clients:
            problems.append("Tick at least one client, type a client id, or choose Any client.")
    for email in emails:
        local, at, domain = email.rpartition("@")
        if not (local and at and domain):
            problems.append(f"{email!r} is not an email address (name@example.com).")
    if draft.who == "emails" and not emails:
        problems.append("List at least one email, or choose Everyone signed in.")
    if draft.who == "domains" and not domains:
        problems.append("List at least one domain (example.com), or choose Everyone signed in.")
    if not draft.scopes:
        problems.append("Tick at least one scope.")
    if problems:
        return None, problems
    who: Who = draft.who if draft.who in ("anyone", "emails", "domains") else "anyone"  # type: ignore[assignment]
    effect: Effect = "forbid" if draft.effect == "forbid" else "permit"
    try:
        return Rule(effect=effect, who=who, emails=tuple(emails), domains=tuple(domains),
                    clients=None if clients is None else tuple(clients), scopes=draft.scopes), []  # fmt: skip
    except ValueError as exc:
        message = str(exc)
        return None, [message[:1].upper() + message[1:] + "."]


def compile_drafts(drafts: Sequence[RuleDraft], scopes: Iterable[str]) -> tuple[str | None, list[RuleDraft], list[str]]:
    """(Cedar text, the drafts with their errors, errors about the whole policy). The text is None while any rule
    has a problem. Cedar's own messages name a policy (`[policy2] ...`): each is shown on its rule."""
    registry = tuple(scopes)
    rules: list[Rule] = []
    checked: list[RuleDraft] = []
    for draft in drafts:
        rule, problems = _to_rule(draft)
        checked.append(replace(draft, errors=tuple(problems)))
        if rule is not None:
            rules.append(rule)
    if any(draft.errors for draft in checked):
        return None, checked, []
    text = rules_to_cedar(rules)
    general: list[str] = []
    per_rule: dict[int, list[str]] = {}
    if rules:
        for message in validate_policy(text, registry):
            found = _POLICY_ID.match(message)
            if found and int(found.group(1)) < len(checked):
                per_rule.setdefault(int(found.group(1)), []).append(message[found.end() :])
            else:
                general.append(message)
    if per_rule:
        checked = [replace(d, errors=tuple(per_rule.get(n, ()))) for n, d in enumerate(checked)]
    return (None if per_rule or general else text), checked, general


def numbered(messages: Iterable[str]) -> list[str]:
    """Cedar's messages with its policy ids (`[policy0] ...`, counted from 0) as people count: `Policy 1: ...`."""
    out = []
    for message in messages:
        found = _POLICY_ID.match(message)
        out.append(f"Policy {int(found.group(1)) + 1}: {message[found.end() :]}" if found else message)
    return out
