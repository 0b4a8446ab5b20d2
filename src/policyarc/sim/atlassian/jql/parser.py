"""JQL text -> `Query`: a lark LALR grammar (grammar.lark) fed by the hand-written lexer.

Syntax errors are mapped from the parser's state (the terminals it expected, and whether the
innermost open parenthesis is a group, a value list or a function call) to Jira's wording.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any, cast

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedToken, VisitError
from lark.lexer import Lexer

from policyarc.sim.atlassian.jql import ast
from policyarc.sim.atlassian.jql.errors import (
    SYNTAX_PREFIX,
    VALID_OPERATORS,
    VALUE_SYNTAX_PREFIX,
    JqlError,
    position,
    syntax_error,
)
from policyarc.sim.atlassian.jql.lexer import tokenize

_OPERATOR_TERMINALS = {"EQ", "NE", "LIKE", "NOT_LIKE", "GT", "GE", "LT", "LE"}
_OPERATORS: dict[str, ast.Operator] = {
    "EQ": "=", "NE": "!=", "LIKE": "~", "NOT_LIKE": "!~", "GT": ">", "GE": ">=", "LT": "<", "LE": "<=",
    "IN": "in", "NOTIN": "not in", "IS": "is", "ISNOT": "is not",
}  # fmt: skip


class _NoLexer(Lexer):
    """Lark needs a lexer class; tokens are fed to the interactive parser instead."""

    __future_interface__ = 2

    def __init__(self, conf: Any) -> None:
        pass

    def lex(self, lexer_state: Any, parser_state: Any) -> Any:
        raise NotImplementedError


_GRAMMAR = files("policyarc.sim.atlassian.jql").joinpath("grammar.lark").read_text(encoding="utf-8")
_LARK = Lark(_GRAMMAR, parser="lalr", lexer=_NoLexer)


class _ToAst(Transformer[Token, Any]):
    def start(self, children: list[Any]) -> ast.Query:
        where = next((c for c in children if not isinstance(c, tuple)), None)
        order = next((c for c in children if isinstance(c, tuple)), ())
        return ast.Query(where, order)

    def or_expr(self, children: list[Any]) -> ast.Clause:
        return ast.Or(tuple(_flatten(ast.Or, _clauses(children))))

    def and_expr(self, children: list[Any]) -> ast.Clause:
        return ast.And(tuple(_flatten(ast.And, _clauses(children))))

    def negation(self, children: list[Any]) -> ast.Clause:
        return ast.Not(children[-1])

    def group(self, children: list[Any]) -> ast.Clause:
        return cast(ast.Clause, children[1])

    def clause(self, children: list[Any]) -> ast.Terminal:
        field, operator, operand = children
        return ast.Terminal(field, operator, operand)

    def field(self, children: list[Token]) -> str:
        token = children[0]
        if not str(token):
            raise syntax_error("A field name cannot be empty.", token.line, token.column)
        return str(token)

    sort_field = field

    def operator(self, children: list[Token]) -> ast.Operator:
        return _OPERATORS["".join(t.type for t in children)]

    def operand(self, children: list[Any]) -> ast.Operand:
        child = children[0]
        if isinstance(child, Token):  # EMPTY / null
            return ast.Empty()
        return cast(ast.Operand, child)

    def value(self, children: list[Token]) -> ast.Value:
        token = children[0]
        return ast.Value(str(token), "number" if token.type == "NUMBER" else "string")

    def value_list(self, children: list[Any]) -> ast.ValueList:
        return ast.ValueList(tuple(c for c in children if not isinstance(c, Token)))

    def function(self, children: list[Any]) -> ast.Function:
        name = children[0]
        if not str(name):
            raise syntax_error("A function name cannot be empty.", name.line, name.column)
        return ast.Function(str(name), tuple(c for c in children[1:] if not isinstance(c, Token)))

    def arg(self, children: list[Token]) -> str:
        return str(children[0])

    def order_by(self, children: list[Any]) -> tuple[ast.SortKey, ...]:
        return tuple(c for c in children if isinstance(c, ast.SortKey))

    def sort(self, children: list[Any]) -> ast.SortKey:
        direction = children[1].type.lower() if len(children) > 1 else None
        return ast.SortKey(children[0], direction)


def _clauses(children: list[Any]) -> list[ast.Clause]:
    return [c for c in children if not isinstance(c, Token)]


def _flatten(kind: type[ast.And] | type[ast.Or], clauses: list[ast.Clause]) -> list[ast.Clause]:
    out: list[ast.Clause] = []
    for clause in clauses:
        out.extend(clause.clauses if isinstance(clause, kind) else (clause,))
    return out


@lru_cache(maxsize=1024)
def parse_jql(text: str) -> ast.Query:
    """Parse JQL syntax (no field or value checks). Raises `JqlError` with Jira's syntax messages."""
    tokens = tokenize(text)
    parser = _LARK.parse_interactive()
    try:
        for token in tokens:
            parser.feed_token(token)
        tree = parser.feed_eof(tokens[-1] if tokens else None)  # type: ignore[no-untyped-call]
    except UnexpectedToken as exc:
        raise _syntax_error(exc, tokens, text) from None
    try:
        return cast(ast.Query, _ToAst().transform(tree))
    except VisitError as exc:  # an empty field or function name
        raise exc.orig_exc from None


def _open_paren_kind(tokens: list[Token], upto: int) -> str | None:
    """What the innermost unclosed '(' before `upto` opens: a 'group', a value 'list' or a 'function'."""
    stack: list[str] = []
    for i, token in enumerate(tokens[:upto]):
        if token.type == "LPAR":
            before = tokens[i - 1].type if i else ""
            if before in ("STRING", "QSTRING", "NUMBER"):
                stack.append("function")
            elif (
                before in _OPERATOR_TERMINALS
                or (before in ("IN", "IS", "NOT") and _after_field(tokens, i))
                or (before in ("LPAR", "COMMA") and stack and stack[-1] == "list")
            ):
                stack.append("list")
            else:
                stack.append("group")
        elif token.type == "RPAR" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _after_field(tokens: list[Token], i: int) -> bool:
    # `NOT (` opens a group after AND/OR or at the start; `NOT IN (` opens a list.
    return tokens[i - 1].type != "NOT"


def _syntax_error(exc: UnexpectedToken, tokens: list[Token], text: str) -> JqlError:
    token: Token = exc.token
    expected = set(exc.expected)
    at_end = token.type == "$END"
    index = len(tokens) if at_end else next(i for i, t in enumerate(tokens) if t is token)
    got = "" if at_end else text[token.start_pos : token.end_pos]
    where = "" if at_end else position(token.line or 1, token.column or 1)
    kind = _open_paren_kind(tokens, index)

    def expecting(what: str, end: str = "before the end of the query.", prefix: str = SYNTAX_PREFIX) -> JqlError:
        return JqlError(f"{prefix}Expecting {what} {end}" if at_end else f"{prefix}Expecting {what} but got '{got}'.")

    def with_where(error: JqlError, suffix: str = "") -> JqlError:
        error.messages[0] += suffix + where
        return error

    if expected & _OPERATOR_TERMINALS:
        return with_where(expecting("operator"), " " + VALID_OPERATORS)
    if expected == {"IN"}:
        return with_where(expecting("'IN'"))
    if expected == {"BY"}:
        return with_where(expecting("'by'"))
    if "EMPTY" in expected:
        if token.type == "BANG" and index and tokens[index - 1].type == "IS":
            return with_where(expecting("'NOT'"))
        quote_hint = "" if at_end else f" You must surround '{got}' in quotation marks to use it as a value."
        return with_where(expecting("either a value, list or function", prefix=VALUE_SYNTAX_PREFIX), quote_hint)
    if "ASC" in expected:
        return with_where(expecting("either 'ASC' or 'DESC'"))
    if "STRING" in expected and not (at_end and "RPAR" in expected):
        what, use = ("a function argument", "an argument") if kind == "function" else ("a field name", "a field name")
        hint = "" if at_end else f" You must surround '{got}' in quotation marks to use it as {use}."
        return with_where(expecting(what, end="at the end of the query."), hint)
    # After a complete clause, value or sort key: LALR merges these states' lookaheads, so the
    # innermost open parenthesis (not the expected set) says what was missing.
    if kind == "function":
        return with_where(expecting("')'" if at_end else "')' or ','"))
    if kind == "list" or (kind == "group" and at_end):
        return with_where(expecting("')'"))
    if kind is None and any(t.type == "ORDER" for t in tokens[:index]):
        return with_where(expecting("','"))
    return with_where(expecting("either 'OR' or 'AND'"))
