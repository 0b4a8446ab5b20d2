"""Compiling JQL against the seed: field semantics, functions, dates, text search, ORDER BY, Jira's errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policyarc.sim.atlassian.jql import JqlContext, JqlError, compile_query, parse_jql
from policyarc.sim.atlassian.jql.dates import call_date_function, parse_date
from policyarc.sim.atlassian.model import Issue, User
from policyarc.sim.atlassian.seed import ALICE, BOB, build_world

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def search(ctx: JqlContext, jql: str) -> list[Issue]:
    compiled = compile_query(parse_jql(jql), ctx)
    return compiled.sort([i for i in ctx.site.issues.values() if compiled.matches(i)])


def keys(ctx: JqlContext, jql: str) -> set[str]:
    return {i.key for i in search(ctx, jql)}


def errors(ctx: JqlContext, jql: str) -> list[str]:
    with pytest.raises(JqlError) as caught:
        compile_query(parse_jql(jql), ctx)
    return caught.value.messages


def test_project_by_key_name_or_id_case_insensitive(alice: JqlContext) -> None:
    eng = {i.key for i in alice.site.issues.values() if i.project_key == "ENG"}
    assert keys(alice, "project = ENG") == keys(alice, 'PROJECT = "engineering"') == eng
    assert keys(alice, "project = 10000") == eng
    assert keys(alice, "project != ENG") == {k for k in alice.site.issues if not k.startswith("ENG-")}


def test_field_names_and_aliases_are_case_insensitive(alice: JqlContext) -> None:
    assert keys(alice, "IssueType = Bug") == keys(alice, "type = 10002") == keys(alice, "issuetype = bug")
    assert keys(alice, "issuekey = ENG-1") == keys(alice, "key = ENG-1") == keys(alice, "id = 10000") == {"ENG-1"}


def test_user_fields_by_account_id_email_name_and_current_user(alice: JqlContext) -> None:
    mine = {i.key for i in alice.site.issues.values() if i.assignee_id == ALICE}
    assert mine
    assert keys(alice, f'assignee = "{ALICE}"') == keys(alice, 'assignee = "alice@example.com"') == mine
    assert keys(alice, 'assignee = "alice adams"') == keys(alice, "assignee = currentUser()") == mine
    unassigned = {i.key for i in alice.site.issues.values() if i.assignee_id is None}
    assert keys(alice, "assignee is EMPTY") == keys(alice, "assignee = null") == unassigned
    assert keys(alice, "assignee in (EMPTY, currentUser())") == unassigned | mine
    # != and NOT leave out the unassigned, as in Jira.
    assert keys(alice, "assignee != currentUser()") == keys(alice, "NOT assignee = currentUser()")
    assert not keys(alice, "assignee != currentUser()") & unassigned


def test_user_fields_by_server_user_name_only_when_unambiguous() -> None:
    world = build_world()
    site = world.sites["acme"]
    cloud = JqlContext(world, site, ALICE, NOW, frozenset(site.projects))
    assert errors(cloud, "assignee = alice") == ["The value 'alice' does not exist for the field 'assignee'."]
    ctx = JqlContext(world, site, ALICE, NOW, frozenset(site.projects), server_names=True)
    mine = {i.key for i in site.issues.values() if i.assignee_id == ALICE}
    # Jira Server's user name (the v2 API only), as the v2 routes render it: the email's local part, any case.
    assert keys(ctx, "assignee = alice") == keys(ctx, "assignee = Alice") == keys(ctx, "assignee in (alice)") == mine
    assert keys(ctx, "reporter = bob") == {i.key for i in site.issues.values() if i.reporter_id == BOB}
    # A second member with the same local part: `alice` no longer names one user.
    world.users["other-alice"] = User("other-alice", "alice@elsewhere.example", "Alicia Other")
    site.members.add("other-alice")
    assert errors(ctx, "assignee = alice") == ["The value 'alice' does not exist for the field 'assignee'."]
    assert keys(ctx, 'assignee = "alice@example.com"') == mine


def test_priority_comparisons_follow_the_priority_order(alice: JqlContext) -> None:
    high = {i.key for i in alice.site.issues.values() if i.priority_id in ("1", "2")}
    assert keys(alice, "priority > Medium") == keys(alice, "priority in (Highest, High)") == high
    assert keys(alice, "priority <= Medium") == {k for k in alice.site.issues if k not in high}


def test_labels_status_category_resolution_and_parent(alice: JqlContext) -> None:
    issues = alice.site.issues.values()
    assert keys(alice, "labels = BACKEND") == {i.key for i in issues if "backend" in i.labels}
    assert keys(alice, "labels is empty") == {i.key for i in issues if not i.labels}
    assert keys(alice, "labels not in (backend)") == {i.key for i in issues if i.labels and "backend" not in i.labels}
    done = {i.key for i in issues if i.status_id == "10001"}
    assert keys(alice, "statusCategory = Done") == keys(alice, "statuscategory = done") == done
    assert keys(alice, "resolution is not empty") == done
    assert keys(alice, "resolution = Unresolved") == {i.key for i in issues if i.resolution is None}
    children = {i.key for i in issues if i.parent_key == "OPS-1"}
    assert children and keys(alice, "parent = OPS-1") == children


def test_key_comparisons_stay_in_the_project(alice: JqlContext) -> None:
    assert keys(alice, "key > ENG-117") == {"ENG-118", "ENG-119", "ENG-120"}
    assert keys(alice, "key in (ENG-1, OPS-2)") == {"ENG-1", "OPS-2"}


def test_dates_absolute_relative_and_functions(alice: JqlContext) -> None:
    issues = alice.site.issues.values()
    start = datetime(2026, 5, 1, tzinfo=UTC)
    assert keys(alice, "created >= 2026-05-01") == keys(alice, 'created >= "2026/05/01 00:00"')
    assert keys(alice, "created >= 2026-05-01") == {i.key for i in issues if i.created >= start}
    week = NOW - timedelta(days=7)
    assert keys(alice, "updated > -7d") == keys(alice, 'updated > "-1w"') == {i.key for i in issues if i.updated > week}
    month = datetime(2026, 10, 1, tzinfo=UTC)
    assert keys(alice, "created >= startOfMonth(-1) AND created < startOfMonth()") == {
        i.key for i in issues if month <= i.created < datetime(2026, 11, 1, tzinfo=UTC)
    }
    assert keys(alice, "resolved is empty") == keys(alice, "resolutiondate is EMPTY")


def test_date_parsing_and_functions() -> None:
    assert parse_date("-1w2d", "string", NOW, UTC) == NOW - timedelta(days=9)
    assert parse_date("4w 2d", "string", NOW, UTC) == NOW + timedelta(days=30)
    assert parse_date("-30m", "string", NOW, UTC) == NOW - timedelta(minutes=30)
    assert parse_date("4h", "string", NOW, UTC) == NOW + timedelta(hours=4)
    assert parse_date("2026-13-45", "string", NOW, UTC) is None
    assert call_date_function("startOfDay", (), NOW, UTC) == datetime(2026, 11, 20, tzinfo=UTC)
    assert call_date_function("startOfDay", ("-1",), NOW, UTC) == datetime(2026, 11, 19, tzinfo=UTC)
    assert call_date_function("startOfWeek", (), NOW, UTC) == datetime(2026, 11, 15, tzinfo=UTC)  # Sunday
    assert call_date_function("endOfMonth", ("-1",), NOW, UTC) == datetime(2026, 10, 31, 23, 59, 59, 999000, UTC)
    assert call_date_function("startOfMonth", ("+14d",), NOW, UTC) == datetime(2026, 11, 15, tzinfo=UTC)
    assert call_date_function("startOfYear", (), NOW, UTC) == datetime(2026, 1, 1, tzinfo=UTC)
    assert call_date_function("endOfDay", (), NOW, UTC) == datetime(2026, 11, 20, 23, 59, 59, 999000, UTC)


def test_text_search_words_wildcards_and_phrases(alice: JqlContext) -> None:
    site = alice.site
    site_issue = site.issues["ENG-1"]  # 'Upgrade the report builder'
    assert "ENG-1" in keys(alice, "summary ~ report") & keys(alice, 'summary ~ "Builder REPORT"')
    assert "ENG-1" not in keys(alice, "summary ~ repo")  # a word, not a substring
    assert "ENG-1" in keys(alice, 'summary ~ "repo*"')
    assert "ENG-1" in keys(alice, "summary ~ '\"report builder\"'")
    assert "ENG-1" not in keys(alice, "summary ~ '\"builder report\"'")
    assert "ENG-1" in keys(alice, "description ~ coordinate AND comment ~ release")
    assert "ENG-1" in keys(alice, 'text ~ "upgrade coordinate release"')
    assert "ENG-1" not in keys(alice, "summary !~ report")
    assert site_issue.summary == "Upgrade the report builder"
    no_description = {i.key for i in site.issues.values() if i.description is None}
    assert no_description <= keys(alice, "description is empty")


def test_order_by_and_default_order(alice: JqlContext) -> None:
    found = search(alice, "project = ENG")
    assert [i.key for i in found[:3]] == ["ENG-120", "ENG-119", "ENG-118"]
    by_created = search(alice, "project = ENG ORDER BY created ASC")
    assert [i.created for i in by_created] == sorted(i.created for i in by_created)
    by_priority = search(alice, "project = ENG ORDER BY priority DESC")
    assert by_priority[0].priority_id == "1" and by_priority[-1].priority_id == "5"
    due = search(alice, "project = ENG ORDER BY duedate ASC")
    assert due[-1].due_date is None and due[0].due_date is not None


def test_bounded(alice: JqlContext) -> None:
    assert compile_query(parse_jql("project = ENG"), alice).bounded
    assert not compile_query(parse_jql(""), alice).bounded
    assert not compile_query(parse_jql("ORDER BY key"), alice).bounded


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("project ~ x", "The operator '~' is not supported by the 'project' field."),
        ("summary = x", "The operator '=' is not supported by the 'summary' field."),
        ("status > Done", "The operator '>' is not supported by the 'status' field."),
        ("foo = 1", "Field 'foo' does not exist or you do not have permission to view it."),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("project = SEC", "The value 'SEC' does not exist for the field 'project'."),  # bob may not browse SEC
        ('status = "Frozen"', "The value 'Frozen' does not exist for the field 'status'."),
        ("priority = 7", "A value with ID '7' does not exist for the field 'priority'."),
        ("assignee = nobody", "The value 'nobody' does not exist for the field 'assignee'."),
        ("created > '2026-13-45'", "Date value '2026-13-45' for field 'created' is invalid. Valid formats include: "
         "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."),
        ("summary in test", "Operator 'in' does not support the non-list value '\"test\"' for field 'summary'."),
        ("project = (ENG, OPS)",
         "Operator '=' does not support the list value '(\"ENG\", \"OPS\")' for field 'project'."),
        ("status is Done", "Operator 'is' does not support searching for non-empty values for field 'status'."),
        ("created > EMPTY",
         "Operator '>' does not support the empty value representation 'EMPTY' for field 'created'."),
        ("status = currentUser()", "A value provided by the function 'currentUser' is invalid for the field 'status'."),
        ("assignee = bogus()", "Unable to find JQL function 'bogus()'."),
        ("created > now(1)", "Function 'now' expected '0' arguments but received '1'."),
        ("created > startOfDay(x)", "Duration for function 'startOfDay' should have the format (+/-)n(yMwdm), "
         "e.g -1M for 1 month earlier."),
        ("key = ENG-999", "An issue with key 'ENG-999' does not exist for field 'key'."),
        ("key = SEC-1", "An issue with key 'SEC-1' does not exist for field 'key'."),
        ("key = nope", "The issue key 'nope' for field 'key' is invalid."),
        ('summary ~ "*auth"', "The text query '*auth' for field 'summary' is not allowed to start with a wildcard."),
        ('summary ~ ""', "The field 'summary' does not support searching for an empty string."),
        ("project = ENG ORDER BY description", "Not able to sort using field 'description'."),
        ("project = ENG ORDER BY zz", "Field 'zz' does not exist or you do not have permission to view it."),
    ],
)  # fmt: skip
def test_validation_errors_in_jiras_words(bob: JqlContext, jql: str, message: str) -> None:
    assert errors(bob, jql) == [message]


def test_every_error_is_listed(bob: JqlContext) -> None:
    assert errors(bob, "foo = 1 AND project = NOPE OR status = Frozen ORDER BY bar") == [
        "Field 'foo' does not exist or you do not have permission to view it.",
        "The value 'NOPE' does not exist for the field 'project'.",
        "The value 'Frozen' does not exist for the field 'status'.",
        "Field 'bar' does not exist or you do not have permission to view it.",
    ]


def test_bob_is_not_alice(bob: JqlContext) -> None:
    assert keys(bob, "assignee = currentUser()") == {i.key for i in bob.site.issues.values() if i.assignee_id == BOB}
