"""JQL syntax: the grammar's shapes, and Jira's syntax messages with their positions."""

from __future__ import annotations

import pytest

from policyarc.sim.atlassian.jql import JqlError, parse_jql
from policyarc.sim.atlassian.jql.ast import And, Empty, Function, Not, Or, Query, SortKey, Terminal, Value, ValueList

OPS = "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'."


def where(text: str) -> object:
    return parse_jql(text).where


@pytest.mark.parametrize(
    ("text", "operator"),
    [("a = b", "="), ("a != b", "!="), ("a ~ b", "~"), ("a !~ b", "!~"), ("a > b", ">"), ("a >= b", ">="),
     ("a < b", "<"), ("a <= b", "<="), ("a in (b)", "in"), ("a NOT IN (b)", "not in"), ("a is EMPTY", "is"),
     ("a IS NOT null", "is not"), ("a=b", "="), ("a!=b", "!=")],
)  # fmt: skip
def test_each_operator(text: str, operator: str) -> None:
    clause = where(text)
    assert isinstance(clause, Terminal) and clause.operator == operator


def test_values_quoting_numbers_lists_functions_and_empty() -> None:
    assert where("a = 'single q'") == Terminal("a", "=", Value("single q"))
    assert where('a = "double \\"q\\" \\u0041\\t"') == Terminal("a", "=", Value('double "q" A\t'))
    assert where("a = 10000") == Terminal("a", "=", Value("10000", "number"))
    assert where("a = -7d") == Terminal("a", "=", Value("-7d"))
    assert where("a = 2026-05-01") == Terminal("a", "=", Value("2026-05-01"))
    assert where("a in (b, 'c d', 3, EMPTY)") == Terminal(
        "a", "in", ValueList((Value("b"), Value("c d"), Value("3", "number"), Empty()))
    )
    assert where('a > startOfDay("-1")') == Terminal("a", ">", Function("startOfDay", ("-1",)))
    assert where("a = currentUser()") == Terminal("a", "=", Function("currentUser"))
    assert where("a in membersOf(x)") == Terminal("a", "in", Function("membersOf", ("x",)))
    assert where("a = NULL") == Terminal("a", "=", Empty())
    assert where("a = my\\ word") == Terminal("a", "=", Value("my word"))


def test_precedence_not_over_and_over_or() -> None:
    a, b, c = (Terminal(x, "=", Value("1", "number")) for x in "abc")
    assert where("a = 1 OR b = 1 AND c = 1") == Or((a, And((b, c))))
    assert where("(a = 1 OR b = 1) AND c = 1") == And((Or((a, b)), c))
    assert where("NOT a = 1 AND b = 1") == And((Not(a), b))
    assert where("! a = 1 || b = 1 && c = 1") == Or((Not(a), And((b, c))))
    assert where("a = 1 & b = 1 | c = 1") == Or((And((a, b)), c))
    assert where("a = 1 AND b = 1 AND c = 1") == And((a, b, c))


def test_keywords_are_case_insensitive_and_order_by() -> None:
    query = parse_jql("project = ENG and Status in (Done) oRdEr By created desc, key ASC, priority")
    assert query.order_by == (SortKey("created", "desc"), SortKey("key", "asc"), SortKey("priority"))
    assert parse_jql("ORDER BY key") == Query(None, (SortKey("key"),))
    assert parse_jql("") == Query()
    assert parse_jql("  \n ") == Query()


def test_parse_is_cached() -> None:
    assert parse_jql("project = ENG") is parse_jql("project = ENG")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("invalid query", f"Error in the JQL Query: Expecting operator but got 'query'. {OPS} (line 1, character 9)"),
        ("a", f"Error in the JQL Query: Expecting operator before the end of the query. {OPS}"),
        ("project =", "Error in JQL Query: Expecting either a value, list or function before the end of the query."),
        ("project = LAUNCH AND status = = Done",
         "Error in JQL Query: Expecting either a value, list or function but got '='. You must surround '=' in "
         "quotation marks to use it as a value. (line 1, character 31)"),
        ("a = b AND c = and",
         "Error in JQL Query: Expecting either a value, list or function but got 'and'. You must surround 'and' in "
         "quotation marks to use it as a value. (line 1, character 15)"),
        ("project = ENG AND", "Error in the JQL Query: Expecting a field name at the end of the query."),
        ("project = LAUNCH status",
         "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'status'. (line 1, character 18)"),
        ("(a = b AND c = d", "Error in the JQL Query: Expecting ')' before the end of the query."),
        ("b in ((12, (288)", "Error in the JQL Query: Expecting ')' before the end of the query."),
        ("abc IN ((foo) abc = a", "Error in the JQL Query: Expecting ')' but got 'abc'. (line 1, character 15)"),
        ('summary ~ "unclosed',
         "Error in the JQL Query: The quoted string 'unclosed' has not been completed. (line 1, character 11)"),
        ("comment ~ '", "Error in the JQL Query: The quoted string has not been completed. (line 1, character 11)"),
        ("a = b AND\nc ~ 'x",
         "Error in the JQL Query: The quoted string 'x' has not been completed. (line 2, character 5)"),
        ("mine{www = q", "Error in the JQL Query: The character '{' is a reserved JQL character. You must enclose it "
         "in a string or use the escape '\\u007b' instead. (line 1, character 5)"),
        ("assignee = alice@example.com", "Error in the JQL Query: The character '@' is a reserved JQL character. "
         "You must enclose it in a string or use the escape '\\u0040' instead. (line 1, character 17)"),
        ("summary ~ select", "Error in the JQL Query: 'select' is a reserved JQL word. You must surround it in "
         "quotation marks to use it in a query. (line 1, character 11)"),
        ("comme\\unt ~ 'x'", "Error in the JQL Query: '\\un' is an illegal JQL escape sequence. The valid escape "
         "sequences are \\', \\\", \\t, \\n, \\r, \\\\, '\\ ' and \\uXXXX. (line 1, character 6)"),
        ("a =a and j not is empty", "Error in the JQL Query: Expecting 'IN' but got 'is'. (line 1, character 16)"),
        ("a =a and j is ! empty", "Error in the JQL Query: Expecting 'NOT' but got '!'. (line 1, character 15)"),
        ("a =b order", "Error in the JQL Query: Expecting 'by' before the end of the query."),
        ("a =b order summary", "Error in the JQL Query: Expecting 'by' but got 'summary'. (line 1, character 12)"),
        ("a =b order by", "Error in the JQL Query: Expecting a field name at the end of the query."),
        ("a =b order by asc", "Error in the JQL Query: Expecting a field name but got 'asc'. You must surround 'asc' "
         "in quotation marks to use it as a field name. (line 1, character 15)"),
        ("a =b order by ajsks blah",
         "Error in the JQL Query: Expecting either 'ASC' or 'DESC' but got 'blah'. (line 1, character 21)"),
        ("order by a desc d", "Error in the JQL Query: Expecting ',' but got 'd'. (line 1, character 17)"),
        ("'' = c", "Error in the JQL Query: A field name cannot be empty. (line 1, character 1)"),
        ('a = ""()', "Error in the JQL Query: A function name cannot be empty. (line 1, character 5)"),
        ("a = func(", "Error in the JQL Query: Expecting ')' before the end of the query."),
        ("k = func(abc, jk!)", "Error in the JQL Query: Expecting ')' or ',' but got '!'. (line 1, character 17)"),
        ("bas=func(bad,", "Error in the JQL Query: Expecting a function argument at the end of the query."),
        (", a = b", "Error in the JQL Query: Expecting a field name but got ','. You must surround ',' in quotation "
         "marks to use it as a field name. (line 1, character 1)"),
        ("a=b !c=d", "Error in the JQL Query: Expecting either 'OR' or 'AND' but got '!'. (line 1, character 5)"),
    ],
)  # fmt: skip
def test_syntax_errors_in_jiras_words(text: str, message: str) -> None:
    with pytest.raises(JqlError) as caught:
        parse_jql(text)
    assert caught.value.messages == [message]
