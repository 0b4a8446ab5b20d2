"""The rules form as posted: drafts read from fields, problems per rule in words that say what to fix, Cedar's own
messages placed on the rule they name, and saved rules shown back (registered clients ticked, others typed)."""

from __future__ import annotations

from starlette.datastructures import FormData

from policyarc.console.policy_form import (
    MAX_RULES,
    RuleDraft,
    compile_drafts,
    drafts_from_rules,
    numbered,
    read_drafts,
)
from policyarc.policy import DEFAULT_POLICY, Rule, cedar_to_rules, rules_to_cedar
from policyarc.services import gateway_scopes

SCOPES = gateway_scopes()


def form(*pairs: tuple[str, str]) -> FormData:
    return FormData(list(pairs))


def test_posted_fields_become_drafts_and_compile_to_the_rules_cedar() -> None:
    posted = form(
        ("rule_count", "2"),
        ("rule-0-effect", "permit"), ("rule-0-who", "anyone"), ("rule-0-clients", "any"),
        ("rule-0-scope", "jira:issues:read"),
        ("rule-1-effect", "forbid"), ("rule-1-who", "domains"), ("rule-1-domains", "@Contractor.example, x.example"),
        ("rule-1-clients", "listed"), ("rule-1-client", "claude-1"), ("rule-1-other-clients", "new-1\nclaude-1"),
        ("rule-1-scope", "jira:issues:read"), ("rule-1-scope", "jira:issues:write"),
    )  # fmt: skip
    text, drafts, general = compile_drafts(read_drafts(posted), SCOPES)
    assert general == [] and all(not d.errors for d in drafts)
    assert text == rules_to_cedar(
        [
            Rule("permit", ("jira:issues:read",)),
            Rule("forbid", ("jira:issues:read", "jira:issues:write"), who="domains",
                 domains=("contractor.example", "x.example"), clients=("claude-1", "new-1")),
        ]
    )  # fmt: skip
    assert text is not None and cedar_to_rules(text) is not None


def test_each_rule_gets_its_own_problems_and_nothing_compiles() -> None:
    drafts = [
        RuleDraft(scopes=("jira:issues:read",)),
        RuleDraft(who="emails", emails="bob@example.com\nnot-an-email", scopes=()),
        RuleDraft(who="domains", clients_mode="listed", scopes=("jira:issues:read",)),
    ]
    text, checked, general = compile_drafts(drafts, SCOPES)
    assert text is None and general == []
    assert checked[0].errors == ()
    assert checked[1].errors == (
        "'not-an-email' is not an email address (name@example.com).",
        "Tick at least one scope.",
    )
    assert checked[2].errors == (
        "Tick at least one client, type a client id, or choose Any client.",
        "List at least one domain (example.com), or choose Everyone signed in.",
    )


def test_cedars_messages_land_on_the_rule_they_name() -> None:
    drafts = [RuleDraft(scopes=("jira:issues:read",)), RuleDraft(scopes=("jira:isues:read",))]  # a forged field
    text, checked, general = compile_drafts(drafts, SCOPES)
    assert text is None and general == []
    assert checked[0].errors == ()
    assert len(checked[1].errors) == 1 and "is not declared as a valid eid" in checked[1].errors[0]
    assert not checked[1].errors[0].startswith("[policy")


def test_no_rules_compile_to_a_policy_that_refuses_everything() -> None:
    text, checked, general = compile_drafts([], SCOPES)
    assert checked == [] and general == [] and text is not None and cedar_to_rules(text) == []


def test_saved_rules_show_registered_clients_ticked_and_the_others_typed() -> None:
    rules = [Rule("permit", ("jira:issues:read",), who="emails", emails=("a@example.com", "b@example.com"),
                  clients=("claude-1", "unknown-9"))]  # fmt: skip
    (draft,) = drafts_from_rules(rules, ["claude-1", "cursor-1"])
    assert (draft.who, draft.emails, draft.clients_mode) == ("emails", "a@example.com\nb@example.com", "listed")
    assert (draft.clients, draft.other_clients) == (("claude-1",), "unknown-9")
    text, _, _ = compile_drafts([draft], SCOPES)
    assert text == rules_to_cedar(rules)


def test_the_default_policy_round_trips_through_the_form() -> None:
    rules = cedar_to_rules(DEFAULT_POLICY)
    assert rules is not None
    text, _, _ = compile_drafts(drafts_from_rules(rules, []), SCOPES)
    assert text == DEFAULT_POLICY


def test_the_rule_count_is_bounded() -> None:
    assert len(read_drafts(form(("rule_count", "100000")))) == MAX_RULES
    assert read_drafts(form(("rule_count", "-1"))) == []


def test_cedars_policy_ids_are_numbered_as_people_count() -> None:
    assert numbered(["[policy1] for policy `policy1`, attribute `emial` not found", "Policy parse error"]) == [
        "Policy 2: for policy `policy1`, attribute `emial` not found",
        "Policy parse error",
    ]
