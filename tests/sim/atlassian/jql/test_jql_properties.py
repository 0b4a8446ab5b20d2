"""Property tests: random queries over the seed's real values, checked against a reference filter written
directly over the dataclasses (not the engine), and ORDER BY against sorted()."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyarc.sim.atlassian.jql import JqlContext, compile_query, parse_jql
from policyarc.sim.atlassian.model import Issue
from policyarc.sim.atlassian.seed import ALICE, BOB, DAVE, build_world

WORLD = build_world()
SITE = WORLD.sites["acme"]
ISSUES = list(SITE.issues.values())
CTX = JqlContext(WORLD, SITE, ALICE, datetime(2026, 11, 20, tzinfo=UTC), frozenset(SITE.projects))
PRIORITY_RANK = {"Highest": 5, "High": 4, "Medium": 3, "Low": 2, "Lowest": 1}
STATUS = {"To Do": "10000", "In Progress": "3", "Done": "10001"}
TYPES = {"Epic": "10000", "Task": "10001", "Bug": "10002", "Story": "10003", "Sub-task": "10004"}
USERS = {"alice@example.com": ALICE, "bob@example.com": BOB, "Dave Davis": DAVE}
LABELS = [*sorted({label for i in ISSUES for label in i.labels}), "nothing-like-this"]
DATES = ["2026-04-01", "2026-06-15", "2026-09-30 12:00"]

# (field, getter, {jql value: internal value}, multi-valued?, relational?)
FIELDS: list[tuple[str, Callable[[Issue], Any], dict[str, Any], bool, bool]] = [
    ("project", lambda i: i.project_key, {"ENG": "ENG", "Operations": "OPS", "10002": "MKT"}, False, False),
    ("status", lambda i: i.status_id, STATUS, False, False),
    ("issuetype", lambda i: i.issuetype_id, TYPES, False, False),
    ("priority", lambda i: PRIORITY_RANK[SITE.priorities[i.priority_id].name],
     {n: r for n, r in PRIORITY_RANK.items()}, False, True),
    ("assignee", lambda i: i.assignee_id, USERS, False, False),
    ("labels", lambda i: set(i.labels), {label: label for label in LABELS}, True, False),
    ("created", lambda i: i.created,
     {d: datetime.fromisoformat(d).replace(tzinfo=UTC) for d in DATES}, False, True),
]  # fmt: skip
FLIP = {"=": "!=", "!=": "=", "in": "not in", "not in": "in", "is": "is not", "is not": "is",
        ">": "<=", "<=": ">", ">=": "<", "<": ">="}  # fmt: skip


@st.composite
def leaves(draw: st.DrawFn) -> tuple[str, Any]:
    index = draw(st.integers(0, len(FIELDS) - 1))
    name, _, values, _multi, relational = FIELDS[index]
    ops = ["=", "!=", "in", "not in"] + ([] if name in ("status",) else ["is", "is not"])
    ops += [">", ">=", "<", "<="] if relational else []
    operator = draw(st.sampled_from(ops))
    if operator in ("is", "is not"):
        return f"{name} {operator} EMPTY", ("leaf", index, operator, [], True)
    if operator in ("in", "not in"):
        chosen = draw(st.lists(st.sampled_from(sorted(values)), min_size=1, max_size=3, unique=True))
        empty = name != "status" and draw(st.booleans())
        items = [f'"{v}"' for v in chosen] + (["EMPTY"] if empty else [])
        return f"{name} {operator} ({', '.join(items)})", ("leaf", index, operator, chosen, empty)
    chosen = draw(st.sampled_from(sorted(values)))
    return f'{name} {operator} "{chosen}"', ("leaf", index, operator, [chosen], False)


def queries(depth: int = 3) -> st.SearchStrategy[tuple[str, Any]]:
    def extend(children: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, Any]]:
        pair = st.tuples(children, children)
        return st.one_of(
            pair.map(lambda p: (f"({p[0][0]}) AND ({p[1][0]})", ("and", p[0][1], p[1][1]))),
            pair.map(lambda p: (f"({p[0][0]}) OR ({p[1][0]})", ("or", p[0][1], p[1][1]))),
            children.map(lambda c: (f"NOT ({c[0]})", ("not", c[1]))),
        )

    return st.recursive(leaves(), extend, max_leaves=6)


def reference(node: Any, issue: Issue, negated: bool = False) -> bool:
    """Jira's semantics, independently: NOT is pushed down to the clauses, flipping each operator."""
    kind = node[0]
    if kind == "not":
        return reference(node[1], issue, not negated)
    if kind in ("and", "or"):
        both = [reference(node[1], issue, negated), reference(node[2], issue, negated)]
        return all(both) if (kind == "and") != negated else any(both)
    _, index, operator, chosen, with_empty = node
    operator = FLIP[operator] if negated else operator
    _, get, values, multi, _ = FIELDS[index]
    actual = get(issue)
    wanted = {values[v] for v in chosen}
    is_empty = not actual if multi else actual is None
    if operator == "is":
        return is_empty
    if operator == "is not":
        return not is_empty
    hit = bool(actual & wanted) if multi else actual in wanted
    if operator in ("=", "in"):
        return hit or (with_empty and is_empty)
    if operator in ("!=", "not in"):
        return not is_empty and not hit
    bound = next(iter(wanted))
    compare = {">": actual > bound, ">=": actual >= bound, "<": actual < bound, "<=": actual <= bound}
    return compare[operator]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries())
def test_matches_equals_the_reference_filter(query: tuple[str, Any]) -> None:
    text, tree = query
    compiled = compile_query(parse_jql(text), CTX)
    assert {i.key for i in ISSUES if compiled.matches(i)} == {i.key for i in ISSUES if reference(tree, i)}, text


SORTS: dict[str, Callable[[Issue], Any]] = {
    "created": lambda i: i.created,
    "updated": lambda i: i.updated,
    "priority": lambda i: PRIORITY_RANK[SITE.priorities[i.priority_id].name],
    "key": lambda i: (i.project_key, int(i.key.split("-")[1])),
    "summary": lambda i: i.summary.casefold(),
    "duedate": lambda i: i.due_date,
    "resolutiondate": lambda i: i.resolution_date,
}
DEFAULT_DESC = {"created", "updated", "priority", "resolutiondate"}


def _compare(a: Any, b: Any, descending: bool) -> int:
    if a == b:
        return 0
    # An empty value is the greatest: last ascending, first descending.
    result = (1 if a is None else -1) if a is None or b is None else (1 if a > b else -1)
    return -result if descending else result


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(SORTS)), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(["", " ASC", " DESC"]), min_size=3, max_size=3),
    st.sampled_from(["project in (ENG, OPS)", "labels = backend", "priority >= High", "project = MKT"]),
)
def test_order_by_equals_sorted(fields: list[str], directions: list[str], where: str) -> None:
    text = f"{where} ORDER BY " + ", ".join(f + d for f, d in zip(fields, directions, strict=False))
    compiled = compile_query(parse_jql(text), CTX)
    hits = [i for i in ISSUES if compiled.matches(i)]
    pairs = zip(fields, directions, strict=False)
    plan = [(SORTS[f], d == " DESC" or (d == "" and f in DEFAULT_DESC)) for f, d in pairs]

    def cmp(a: Issue, b: Issue) -> int:
        for get, descending in plan:
            if result := _compare(get(a), get(b), descending):
                return result
        return _compare(SORTS["key"](a), SORTS["key"](b), True)

    expected = sorted(hits, key=functools.cmp_to_key(cmp))
    assert [i.key for i in compiled.sort(hits)] == [i.key for i in expected], text
