from hypothesis import given, settings
from hypothesis import strategies as st

from policyarc.policy import (
    DEFAULT_POLICY,
    DEFAULT_RULES,
    DEFAULT_SCOPE,
    ClientInfo,
    PolicyEngine,
    Principal,
    cedar_to_rules,
    validate_policy,
)

SCOPES = ("jira:issues:read", "jira:issues:write", "jira:projects:read", "confluence:pages:read")
ENGINE = PolicyEngine(DEFAULT_POLICY, version=1, scopes=SCOPES)


def test_default_policy_is_valid_and_opens_as_a_form() -> None:
    assert validate_policy(DEFAULT_POLICY, SCOPES) == []
    assert cedar_to_rules(DEFAULT_POLICY) == list(DEFAULT_RULES)
    assert DEFAULT_SCOPE == "jira:issues:read"


def test_default_grants_read_and_nothing_else() -> None:
    alice = Principal("u-alice", "alice@example.com")
    claude = ClientInfo("client-1", "Claude Code")
    assert ENGINE.allowed(alice, claude, "jira:issues:read")
    assert not ENGINE.allowed(alice, claude, "jira:issues:write")
    assert not ENGINE.allowed(alice, claude, "jira:projects:read")
    assert not ENGINE.allowed(alice, claude, "confluence:pages:read")
    assert not ENGINE.allowed(alice, claude, "not:a:scope")
    assert ENGINE.allowed_scopes(alice, claude, [*SCOPES, "not:a:scope"]) == {"jira:issues:read"}


@settings(max_examples=50, deadline=None)
@given(user_id=st.text(), email=st.text(), client_id=st.text(), name=st.text())
def test_default_grants_read_to_every_user_on_every_client(user_id: str, email: str, client_id: str, name: str) -> None:
    principal, client = Principal(user_id, email), ClientInfo(client_id, name)
    assert ENGINE.allowed_scopes(principal, client, SCOPES) == {"jira:issues:read"}
