import cedarpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyarc.policy import (
    ClientInfo,
    PolicyEngine,
    Principal,
    Rule,
    cedar_string,
    cedar_to_rules,
    rules_to_cedar,
    validate_policy,
)

READ, WRITE, PROJECTS = "jira:issues:read", "jira:issues:write", "jira:projects:read"
SCOPES = (READ, WRITE, PROJECTS)
ACTION = 'action == PolicyArc::Action::"use_scope"'


def test_rules_render_as_readable_cedar_with_a_comment_each() -> None:
    text = rules_to_cedar(
        [
            Rule("permit", (READ,)),
            Rule(
                "forbid",
                (WRITE, PROJECTS),
                "emails",
                emails=("Mallory@Example.com", "eve@example.com"),
                clients=("client-1",),
            ),
        ]
    )
    assert text == (
        "// PolicyArc policy, edited as rules. Deny by default: a forbid rule beats any permit.\n"
        "\n"
        "// Rule 1: permit anyone signed in, on any client: jira:issues:read\n"
        "permit (\n"
        "  principal,\n"
        '  action == PolicyArc::Action::"use_scope",\n'
        '  resource == PolicyArc::Scope::"jira:issues:read"\n'
        ");\n"
        "\n"
        '// Rule 2: forbid emails "mallory@example.com", "eve@example.com", on clients "client-1": '
        "jira:issues:write, jira:projects:read\n"
        "forbid (\n"
        "  principal,\n"
        '  action == PolicyArc::Action::"use_scope",\n'
        "  resource\n"
        ")\n"
        "when {\n"
        '  resource in [PolicyArc::Scope::"jira:issues:write", PolicyArc::Scope::"jira:projects:read"] &&\n'
        '  ["mallory@example.com", "eve@example.com"].contains(principal.email) &&\n'
        '  context.client.client_id == "client-1"\n'
        "};\n"
    )
    assert validate_policy(text, SCOPES) == []


def test_no_rules_is_a_valid_policy_that_refuses_everything() -> None:
    text = rules_to_cedar([])
    assert text.startswith("//")
    assert cedar_to_rules(text) == []
    assert not PolicyEngine(text, 1, SCOPES).allowed(Principal("u", "a@b.c"), ClientInfo("c"), READ)


def test_cedar_string_escapes_everything_that_could_break_out() -> None:
    assert cedar_string('a"b\\c') == '"a\\"b\\\\c"'
    assert cedar_string("line\nbreak\r\t\0") == '"line\\u{a}break\\u{d}\\u{9}\\u{0}"'
    assert cedar_string("é") == '"\\u{e9}"'


@pytest.mark.parametrize(
    "email",
    [
        'x" || true || "',
        '"] .contains(principal.email) || true || ["',
        "a@b.c\n};\npermit (principal, action, resource);\n//",
        "a@b.c\r\npermit (principal, action, resource); //",
        "\\",
        "a@b.c\u2028permit (principal, action, resource);",
    ],
)
def test_hostile_emails_stay_one_string(email: str) -> None:
    text = rules_to_cedar([Rule("permit", (WRITE,), "emails", emails=(email,))])
    assert len(cedarpy.PolicySet.from_str(text)) == 1
    engine = PolicyEngine(text, 1, SCOPES)
    assert engine.allowed(Principal("u1", email), ClientInfo("c"), WRITE)
    assert not engine.allowed(Principal("u2", "bob@example.com"), ClientInfo("c"), WRITE)
    assert cedar_to_rules(text) == [Rule("permit", (WRITE,), "emails", emails=(email,))]


@settings(max_examples=150, deadline=None)
@given(email=st.text(), client_id=st.text())
def test_any_email_and_client_id_give_valid_cedar_deciding_as_the_rule_says(email: str, client_id: str) -> None:
    text = rules_to_cedar([Rule("permit", (WRITE,), "emails", emails=(email,), clients=(client_id,))])
    engine = PolicyEngine(text, 1, SCOPES)  # parses and validates, or raises
    assert len(cedarpy.PolicySet.from_str(text)) == 1
    assert engine.allowed(Principal("u1", email), ClientInfo(client_id, "any name"), WRITE)
    assert not engine.allowed(Principal("u1", email + "x"), ClientInfo(client_id), WRITE)
    assert not engine.allowed(Principal("u1", email), ClientInfo(client_id + "x"), WRITE)
    assert not engine.allowed(Principal("u1", email), ClientInfo(client_id), READ)


@settings(max_examples=100, deadline=None)
@given(email=st.text(), other=st.text())
def test_a_forbid_for_any_email_removes_exactly_that_user(email: str, other: str) -> None:
    text = rules_to_cedar([Rule("permit", (WRITE,)), Rule("forbid", (WRITE,), "emails", emails=(email,))])
    engine = PolicyEngine(text, 1, SCOPES)
    assert not engine.allowed(Principal("u1", email), ClientInfo("c"), WRITE)
    assert engine.allowed(Principal("u2", other), ClientInfo("c"), WRITE) == (other.lower() != email.lower())


rules_strategy = st.builds(
    lambda effect, scopes, who, emails, domains, clients: Rule(
        effect,
        tuple(scopes),
        who,
        emails=tuple(emails) if who == "emails" else (),
        domains=tuple(domains) if who == "domains" else (),
        clients=None if clients is None else tuple(clients),
    ),
    effect=st.sampled_from(["permit", "forbid"]),
    scopes=st.lists(st.sampled_from(SCOPES), min_size=1, max_size=3, unique=True),
    who=st.sampled_from(["anyone", "emails", "domains"]),
    emails=st.lists(st.text(max_size=20), min_size=1, max_size=3),
    domains=st.lists(st.text(min_size=1, max_size=20).filter(lambda d: "@" not in d), min_size=1, max_size=3),
    clients=st.none() | st.lists(st.text(max_size=20), min_size=1, max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(rules=st.lists(rules_strategy, max_size=4))
def test_round_trip_rules_to_cedar_to_rules(rules: list[Rule]) -> None:
    text = rules_to_cedar(rules)
    assert validate_policy(text, SCOPES) == []
    assert cedar_to_rules(text) == rules


def test_hand_formatted_text_the_form_can_show_is_read() -> None:
    text = f"""
    // written by hand
    forbid (principal is PolicyArc::User, {ACTION}, resource)
    when {{ context.client.client_id == "c9" && resource in [PolicyArc::Scope::"{WRITE}", PolicyArc::Scope::"{READ}"] }}
    when {{ ["a.test", "b.test"].contains(principal.domain) }};
    """
    assert cedar_to_rules(text) == [
        Rule("forbid", (WRITE, READ), "domains", domains=("a.test", "b.test"), clients=("c9",))
    ]


@pytest.mark.parametrize(
    "text",
    [
        "permit (",
        f"permit (principal, {ACTION}, resource);",  # no scope named
        "permit (principal, action, resource);",
        f'permit (principal, {ACTION}, resource == PolicyArc::Scope::"{READ}") unless {{ principal.email == "x" }};',
        f'@id("mine") permit (principal, {ACTION}, resource == PolicyArc::Scope::"{READ}");',
        f'permit (principal, {ACTION}, resource == PolicyArc::Scope::"{READ}") when {{ principal.email == "A@x" }};',
        f'permit (principal, {ACTION}, resource == PolicyArc::Scope::"{READ}") '
        'when { ["a", "a"].contains(principal.email) };',
        f'permit (principal, {ACTION}, resource == PolicyArc::Scope::"{READ}") when {{ principal.email like "*@x" }};',
        f'permit (principal, {ACTION}, resource == PolicyArc::Scope::"{READ}") when {{ context.client.name == "x" }};',
        f'permit (principal, {ACTION}, resource == PolicyArc::Scope::"{READ}") when {{ true }};',
        f'permit (principal, {ACTION}, resource == PolicyArc::Scope::"{READ}") '
        'when { principal.email == "a" || principal.email == "b" };',
        f'permit (principal, {ACTION}, resource == PolicyArc::Scope::"{READ}") '
        'when { principal.email == "a" && principal.domain == "b" };',
        f'permit (principal, {ACTION}, resource == PolicyArc::Scope::"{READ}") '
        f'when {{ resource == PolicyArc::Scope::"{WRITE}" }};',
        f'permit (principal == PolicyArc::User::"u1", {ACTION}, resource == PolicyArc::Scope::"{READ}");',
        f"permit (principal == ?principal, {ACTION}, resource);",
    ],
)
def test_text_beyond_the_form_gives_none(text: str) -> None:
    assert cedar_to_rules(text) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"effect": "allow", "scopes": (READ,)}, "effect"),
        ({"effect": "permit", "scopes": ()}, "scope"),
        ({"effect": "permit", "scopes": ('x") || true || ("',)}, "scope"),
        ({"effect": "permit", "scopes": (READ,), "who": "emails"}, "email"),
        ({"effect": "permit", "scopes": (READ,), "emails": ("a@b.c",)}, "anyone"),
        ({"effect": "permit", "scopes": (READ,), "who": "domains", "domains": ("@b.c",)}, "without @"),
        ({"effect": "permit", "scopes": (READ,), "clients": ()}, "client"),
        ({"effect": "permit", "scopes": (READ,), "who": "everyone"}, "who"),
        ({"effect": "permit", "scopes": (READ,), "who": "emails", "emails": ("\ud800",)}, "Unicode"),
    ],
)
def test_rules_the_form_should_not_make_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rule(**kwargs)  # type: ignore[arg-type]


def test_rules_normalise_emails_and_domains() -> None:
    rule = Rule("permit", [READ, READ], "emails", emails=["A@X.com", "a@x.com"])  # type: ignore[arg-type]
    assert rule.scopes == (READ,)
    assert rule.emails == ("a@x.com",)
