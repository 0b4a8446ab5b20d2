"""Why the rules form cannot show a policy: the first policy it refuses, and what in it."""

from __future__ import annotations

import pytest

from policyarc.policy import DEFAULT_POLICY
from policyarc.policy.beyond import why_not_rules

HEAD = 'permit (principal, action == PolicyArc::Action::"use_scope", resource == PolicyArc::Scope::"jira:issues:read")'


def test_text_the_form_shows_has_no_reason() -> None:
    assert why_not_rules(DEFAULT_POLICY) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f'{HEAD} unless {{ principal.domain == "x.example" }};', "policy 1 has an `unless` clause."),
        (f'@id("a") {HEAD};', "policy 1 has an annotation (@...)."),
        ('permit (principal == PolicyArc::User::"u1", action, resource);', "policy 1 has a principal named"),
        ("permit (principal, action, resource);", "policy 1 has an action other than exactly"),
        (f'{HEAD} when {{ context.client.name == "Cursor" }};', "policy 1 has a condition the form does not edit"),
        ("permit (principal, action, resource) when {", "the text does not parse as Cedar."),
        ("permit (principal == ?principal, action, resource);", "it has a template"),
    ],
)
def test_the_reason_names_what_the_form_cannot_show(text: str, reason: str) -> None:
    found = why_not_rules(text)
    assert found is not None and found.startswith(reason)


def test_the_first_policy_beyond_the_form_is_named() -> None:
    text = DEFAULT_POLICY + f'\n{HEAD} unless {{ principal.email == "x@example.com" }};\n'
    assert why_not_rules(text) == "policy 2 has an `unless` clause."
