"""JQL's lexical rules: quoting, escapes, reserved characters and words, with Jira's messages.

Hand-written rather than lark's regex lexer because Jira's lexer errors (an unfinished quote, an
illegal escape, a reserved character) need their own wording and positions, and because a keyword
must never turn into a value by context (`project = AND` is an error in Jira).
"""

from __future__ import annotations

import re

from lark import Token

from policyarc.sim.atlassian.jql.errors import VALID_ESCAPES, syntax_error

KEYWORDS = {
    "and": "AND", "or": "OR", "not": "NOT", "in": "IN", "is": "IS", "empty": "EMPTY", "null": "EMPTY",
    "order": "ORDER", "by": "BY", "asc": "ASC", "desc": "DESC",
}  # fmt: skip
SYMBOLS = {
    "!=": "NE", "!~": "NOT_LIKE", "<=": "LE", ">=": "GE", "&&": "AND", "||": "OR",
    "=": "EQ", "~": "LIKE", "<": "LT", ">": "GT", "!": "BANG", "&": "AND", "|": "OR",
    "(": "LPAR", ")": "RPAR", ",": "COMMA", "[": "LBRACKET", "]": "RBRACKET",
}  # fmt: skip
RESERVED_CHARS = frozenset("{}*/%+^$#@?;")
# An unquoted string stops at these (whitespace aside).
_STOP = frozenset("\"'=!<>~(),[]|&") | RESERVED_CHARS
_ESCAPES = {"'": "'", '"': '"', "t": "\t", "n": "\n", "r": "\r", "\\": "\\", " ": " "}
_NUMBER = re.compile(r"-?\d+")
# Jira's reserved words (JqlStringSupportImpl), those JQL does not itself use: they must be quoted.
RESERVED_WORDS = frozenset(
    """abort access add alias all alter any as audit avg begin between boolean break byte catch char character
    check checkpoint collate collation column commit connect continue count create current date decimal declare
    decrement default defaults define delete delimiter difference distinct divide do double drop else encoding
    end equals escape exclusive exec execute exists explain false fetch file field first float for function go
    goto grant greater group having identified if immediate increment index initial inner inout input insert int
    integer intersect intersection into isempty isnull join last left less like limit lock long max min minus
    mode modify modulo more multiply next noaudit notin nowait number object of option outer output power
    previous prior privileges public raise raw remainder rename resource return returns revoke right row rowid
    rownum rows select session set share size sqrt start strict string subtract sum synonym table then trans
    transaction trigger true uid union unique update user validate values view when whenever where while
    with""".split()  # noqa: SIM905 - a word list reads better as text
)


class _Cursor:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.col = 1

    def peek(self, n: int = 0) -> str:
        j = self.i + n
        return self.text[j] if j < len(self.text) else ""

    def advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.text[self.i] == "\n":
                self.line, self.col = self.line + 1, 1
            else:
                self.col += 1
            self.i += 1


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`; raises `JqlError` with Jira's lexer messages."""
    cur = _Cursor(text)
    tokens: list[Token] = []
    while cur.i < len(text):
        ch = cur.peek()
        start, line, col = cur.i, cur.line, cur.col
        if ch.isspace():
            cur.advance()
            continue
        two = ch + cur.peek(1)
        if len(two) == 2 and two in SYMBOLS:
            cur.advance(2)
            tokens.append(Token(SYMBOLS[two], two, start, line, col, cur.line, cur.col, cur.i))
        elif ch in SYMBOLS:
            cur.advance()
            tokens.append(Token(SYMBOLS[ch], ch, start, line, col, cur.line, cur.col, cur.i))
        elif ch in "\"'":
            value = _quoted(cur)
            tokens.append(Token("QSTRING", value, start, line, col, cur.line, cur.col, cur.i))
        elif ch in RESERVED_CHARS:
            raise syntax_error(
                f"The character '{ch}' is a reserved JQL character. You must enclose it in a string or use the "
                f"escape '\\u{ord(ch):04x}' instead.",
                line,
                col,
            )
        else:
            value, escaped = _unquoted(cur)
            lowered = value.lower()
            if not escaped and lowered in KEYWORDS:
                kind = KEYWORDS[lowered]
            elif _NUMBER.fullmatch(value):
                kind = "NUMBER"
            elif not escaped and lowered in RESERVED_WORDS:
                raise syntax_error(
                    f"'{value}' is a reserved JQL word. You must surround it in quotation marks to use it in a query.",
                    line,
                    col,
                )
            else:
                kind = "STRING"
            tokens.append(Token(kind, value, start, line, col, cur.line, cur.col, cur.i))
    return tokens


def _escape(cur: _Cursor) -> str:
    """Consume a backslash escape at the cursor and return the character it stands for."""
    line, col = cur.line, cur.col
    nxt = cur.peek(1)
    if not nxt:
        raise syntax_error(f"The escape sequence has not been completed. {VALID_ESCAPES}", line, col)
    if nxt in _ESCAPES:
        cur.advance(2)
        return _ESCAPES[nxt]
    if nxt == "u":
        digits = cur.text[cur.i + 2 : cur.i + 6]
        if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
            cur.advance(6)
            return chr(int(digits, 16))
        bad = "\\u" + "".join(_take_until_bad_hex(digits))
        raise syntax_error(f"'{bad}' is an illegal JQL escape sequence. {VALID_ESCAPES}", line, col)
    raise syntax_error(f"'\\{nxt}' is an illegal JQL escape sequence. {VALID_ESCAPES}", line, col)


def _take_until_bad_hex(digits: str) -> list[str]:
    taken = []
    for c in digits:
        taken.append(c)
        if c not in "0123456789abcdefABCDEF":
            break
    return taken


def _quoted(cur: _Cursor) -> str:
    quote, line, col = cur.peek(), cur.line, cur.col
    cur.advance()
    out: list[str] = []
    while True:
        ch = cur.peek()
        if not ch:
            body = "".join(out).replace("\n", " ").replace("\r", " ")
            what = f"The quoted string '{body}'" if body else "The quoted string"
            raise syntax_error(f"{what} has not been completed.", line, col)
        if ch == quote:
            cur.advance()
            return "".join(out)
        if ch == "\\":
            out.append(_escape(cur))
        else:
            out.append(ch)
            cur.advance()


def _unquoted(cur: _Cursor) -> tuple[str, bool]:
    out: list[str] = []
    escaped = False
    while cur.i < len(cur.text):
        ch = cur.peek()
        if ch.isspace() or ch in _STOP:
            break
        if ch == "\\":
            out.append(_escape(cur))
            escaped = True
        else:
            out.append(ch)
            cur.advance()
    return "".join(out), escaped
