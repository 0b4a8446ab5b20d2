import json

import cedarpy
import pytest

from policyarc.caller import Caller
from policyarc.policy import (
    DEFAULT_POLICY,
    ClientInfo,
    PolicyEngine,
    PolicyError,
    PolicyRegistry,
    Principal,
    Rule,
    rules_to_cedar,
    validate_policy,
)
from policyarc.policy.schema import entities_for, request_for, schema_for

READ, WRITE, PROJECTS = "jira:issues:read", "jira:issues:write", "jira:projects:read"
SCOPES = (READ, WRITE, PROJECTS)
ALICE = Principal("u-alice", "alice@example.com")
BOB = Principal("u-bob", "bob@example.com")
MALLORY = Principal("u-mallory", "mallory@evil.test")
CLAUDE = ClientInfo("client-claude", "Claude Code")
OTHER = ClientInfo("client-other", "Other")

ACTION = 'action == PolicyArc::Action::"use_scope"'


def engine(*rules: Rule, version: int = 1) -> PolicyEngine:
    return PolicyEngine(rules_to_cedar(rules), version, SCOPES)


def test_nothing_is_allowed_without_a_permit() -> None:
    empty = engine()
    assert not empty.allowed(ALICE, CLAUDE, READ)
    assert empty.allowed_scopes(ALICE, CLAUDE, SCOPES) == frozenset()


def test_email_rule_grants_exactly_the_listed_users_case_insensitively() -> None:
    e = engine(Rule("permit", (WRITE,), "emails", emails=("Alice@Example.com",)))
    assert e.allowed(ALICE, CLAUDE, WRITE)
    assert e.allowed(Principal("u-alice", "ALICE@example.COM"), CLAUDE, WRITE)
    assert not e.allowed(BOB, CLAUDE, WRITE)
    assert not e.allowed(ALICE, CLAUDE, READ)


def test_domain_rule_matches_the_part_after_the_last_at() -> None:
    e = engine(Rule("permit", (READ, PROJECTS), "domains", domains=("example.com",)))
    assert e.allowed_scopes(ALICE, CLAUDE, SCOPES) == {READ, PROJECTS}
    assert not e.allowed(Principal("u1", "alice@example.com.evil.test"), CLAUDE, READ)
    assert not e.allowed(Principal("u2", "example.com@evil.test"), CLAUDE, READ)
    assert not e.allowed(Principal("u3", "no-at-sign"), CLAUDE, READ)


def test_client_rule_limits_the_grant_to_listed_clients() -> None:
    e = engine(Rule("permit", (WRITE,), clients=(CLAUDE.client_id,)))
    assert e.allowed(ALICE, CLAUDE, WRITE)
    assert e.allowed(BOB, CLAUDE, WRITE)
    assert not e.allowed(ALICE, OTHER, WRITE)
    # The client's self-chosen name is not its identity.
    assert not e.allowed(ALICE, ClientInfo("client-other", CLAUDE.client_id), WRITE)


@pytest.mark.parametrize("forbid_first", [True, False])
def test_forbid_beats_permit_whatever_the_order(forbid_first: bool) -> None:
    permit = Rule("permit", SCOPES)
    forbid = Rule("forbid", (WRITE,), "domains", domains=("evil.test",))
    e = engine(*((forbid, permit) if forbid_first else (permit, forbid)))
    assert e.allowed_scopes(ALICE, CLAUDE, SCOPES) == set(SCOPES)
    assert e.allowed_scopes(MALLORY, CLAUDE, SCOPES) == {READ, PROJECTS}


def test_a_catch_all_permit_grants_no_scope_outside_the_registry() -> None:
    e = PolicyEngine("permit (principal, action, resource);", 1, SCOPES)
    assert e.allowed(ALICE, CLAUDE, WRITE)
    assert not e.allowed(ALICE, CLAUDE, "admin:everything")
    assert e.allowed_scopes(ALICE, CLAUDE, [READ, "admin:everything"]) == {READ}


def test_invalid_text_raises_policy_error_with_cedars_message() -> None:
    with pytest.raises(PolicyError) as info:
        PolicyEngine("permit (principal action, resource);", 1, SCOPES)
    assert info.value.errors
    assert "unexpected token" in info.value.errors[0]
    assert "unexpected token" in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (f'permit (principal, {ACTION}, resource) when {{ principal.department == "x" }};', "department"),
        (f'permit (principal, {ACTION}, resource == PolicyArc::Scope::"jira:isues:read");', "jira:isues:read"),
        (f"permit (principal, {ACTION}, resource) when {{ principal.email == 3 }};", "type"),
        ('permit (principal, action == PolicyArc::Action::"delete", resource);', "delete"),
        (f'permit (principal, {ACTION}, resource) when {{ context.client.secret == "" }};', "secret"),
        (f'permit (principal == PolicyArc::Admin::"x", {ACTION}, resource);', "Admin"),
    ],
)
def test_schema_violations_are_caught(text: str, fragment: str) -> None:
    errors = validate_policy(text, SCOPES)
    assert errors
    assert any(fragment in error for error in errors), errors
    with pytest.raises(PolicyError):
        PolicyEngine(text, 1, SCOPES)


def test_templates_are_refused() -> None:
    errors = validate_policy(f"permit (principal == ?principal, {ACTION}, resource);", SCOPES)
    assert any("template" in error for error in errors)


def test_valid_text_gives_no_errors() -> None:
    assert validate_policy(DEFAULT_POLICY, SCOPES) == []
    assert validate_policy("", SCOPES) == []


def test_entities_and_requests_conform_to_the_schema() -> None:
    schema = schema_for(SCOPES)
    principal = Principal('u"1\n', 'Odd"User@Example.COM')
    client = ClientInfo("https://app.example/client.json", "A\nname")
    result = cedarpy.is_authorized(
        request_for(principal.user_id, client.client_id, READ),
        DEFAULT_POLICY,
        json.dumps(entities_for(principal, client)),
        schema=schema,
    )
    assert result.diagnostics.errors == []
    assert result.allowed


def test_repeated_decisions_come_from_the_cache() -> None:
    e = engine(Rule("permit", (READ,)))
    assert e.allowed(ALICE, CLAUDE, READ)
    assert not e.allowed(ALICE, CLAUDE, WRITE)
    assert e.evaluations == 2
    for _ in range(100):
        assert e.allowed(ALICE, CLAUDE, READ)
        assert not e.allowed(ALICE, CLAUDE, WRITE)
    assert e.allowed_scopes(ALICE, CLAUDE, [READ, WRITE, READ]) == {READ}
    assert e.evaluations == 2
    assert e.allowed_scopes(ALICE, CLAUDE, SCOPES) == {READ}
    assert e.evaluations == 3  # only the projects scope was new


def test_a_changed_email_is_a_new_decision() -> None:
    e = engine(Rule("permit", (WRITE,), "emails", emails=("alice@example.com",)))
    assert e.allowed(ALICE, CLAUDE, WRITE)
    assert not e.allowed(Principal(ALICE.user_id, "alice@elsewhere.test"), CLAUDE, WRITE)


def test_the_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    e = PolicyEngine(DEFAULT_POLICY, 1, SCOPES, cache_size=2)
    e.allowed(ALICE, CLAUDE, READ)
    e.allowed(BOB, CLAUDE, READ)
    e.allowed(ALICE, CLAUDE, READ)  # alice is now the most recent
    e.allowed(MALLORY, CLAUDE, READ)  # evicts bob
    assert e.cached_decisions == 2
    assert e.evaluations == 3
    e.allowed(ALICE, CLAUDE, READ)
    assert e.evaluations == 3
    e.allowed(BOB, CLAUDE, READ)
    assert e.evaluations == 4


def test_undecidable_requests_fail_closed_and_are_not_cached() -> None:
    e = engine(Rule("permit", (READ,)))
    broken = Principal("u-x", "\ud800@example.com")  # a lone surrogate cannot reach Cedar
    assert not e.allowed(broken, CLAUDE, READ)
    assert not e.allowed(Principal("u-\udfff", "a@example.com"), CLAUDE, READ)  # fails inside the batch call
    assert e.allowed_scopes(broken, CLAUDE, SCOPES) == frozenset()
    assert e.cached_decisions == 0
    assert e.allowed(ALICE, CLAUDE, READ)


def test_a_new_version_applies_at_once_and_old_decisions_never_leak() -> None:
    registry = PolicyRegistry(SCOPES)
    registry.install("env-1", rules_to_cedar([Rule("permit", (READ, WRITE))]), 1)
    v1 = registry.get("env-1")
    assert v1.allowed(ALICE, CLAUDE, WRITE)  # now cached under version 1
    registry.install("env-1", rules_to_cedar([Rule("permit", (READ,))]), 2)
    v2 = registry.get("env-1")
    assert v2 is not v1
    assert registry.version("env-1") == 2
    assert not v2.allowed(ALICE, CLAUDE, WRITE)
    assert v2.allowed(ALICE, CLAUDE, READ)


def test_registry_keeps_versions_moving_forward() -> None:
    registry = PolicyRegistry(SCOPES)
    current = registry.install("env-1", DEFAULT_POLICY, 5)
    current.allowed(ALICE, CLAUDE, READ)
    assert registry.install("env-1", DEFAULT_POLICY, 5) is current  # same version and text: warm cache kept
    assert registry.install("env-1", "permit (principal, action, resource);", 4) is current  # stale reload
    assert registry.get("env-1") is current
    assert registry.get("env-1").cached_decisions == 1


def test_registry_keeps_the_current_policy_when_the_new_one_is_invalid() -> None:
    registry = PolicyRegistry(SCOPES)
    current = registry.install("env-1", DEFAULT_POLICY, 1)
    with pytest.raises(PolicyError):
        registry.install("env-1", "permit (", 2)
    assert registry.get("env-1") is current
    assert registry.validate("permit (")
    assert registry.validate(DEFAULT_POLICY) == []


def test_registry_environments_are_independent() -> None:
    registry = PolicyRegistry(SCOPES)
    registry.install("env-1", DEFAULT_POLICY, 1)
    registry.install("env-2", "", 1)
    assert registry.get("env-1").allowed(ALICE, CLAUDE, READ)
    assert not registry.get("env-2").allowed(ALICE, CLAUDE, READ)
    registry.remove("env-2")
    with pytest.raises(KeyError, match="env-2"):
        registry.get("env-2")
    assert registry.version("env-2") is None


def test_an_empty_scope_registry_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        PolicyRegistry([])


def caller(environment_id: str, principal: Principal, client: ClientInfo) -> Caller:
    return Caller(
        user_id=principal.user_id,
        email=principal.email,
        account_id="557058:x",
        client_id=client.client_id,
        client_name=client.name,
        environment_id=environment_id,
        scopes=frozenset(SCOPES),
        expires_at=0.0,
    )


def test_registry_answers_for_a_gateway_caller_and_shares_the_engine_cache() -> None:
    registry = PolicyRegistry(SCOPES)
    registry.install("env-1", rules_to_cedar([Rule("permit", (READ,), "emails", emails=("alice@example.com",))]), 1)
    alice = caller("env-1", ALICE, CLAUDE)
    assert registry.allowed(alice, READ)
    assert not registry.allowed(alice, WRITE)
    assert not registry.allowed(caller("env-1", BOB, CLAUDE), READ)
    assert registry.allowed_scopes(alice, SCOPES) == {READ}
    engine = registry.get("env-1")
    evaluations = engine.evaluations
    assert engine.allowed(ALICE, CLAUDE, READ)  # the same key, whichever door it came in by
    assert registry.allowed(alice, READ)
    assert engine.evaluations == evaluations


def test_registry_refuses_callers_of_an_environment_without_policy() -> None:
    registry = PolicyRegistry(SCOPES)
    stranger = caller("env-unknown", ALICE, CLAUDE)
    assert not registry.allowed(stranger, READ)
    assert registry.allowed_scopes(stranger, SCOPES) == frozenset()
