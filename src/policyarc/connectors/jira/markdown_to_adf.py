"""Markdown (CommonMark + GFM tables, strikethrough and task lists) to an ADF v1 `doc`.

Every output validates against ADF's JSON schema: where Markdown allows a construct the schema does not
(a heading or a table inside a list item, a quote inside a quote, a rule inside a quote), it is lowered to
the nearest allowed form and keeps its text. Images become links, because ADF media needs an upload.
`> [!INFO]` (GitHub's alert syntax, also what `adf_to_markdown` writes for panels) becomes a panel.

The work is bounded, because the text comes from whoever calls a tool and one conversion holds the event loop:
text longer than `MAX_MARKDOWN` becomes plain paragraphs without parsing; containers deeper than
`_BLOCK_DEPTH` keep their lines as plain text; marks are applied from markdown-it's flat token stream (no
recursion, so 16,000 nested `*` cost what 16,000 letters cost); the inline parser's nesting limit, which
multiplies the cost of every unmatched `[`, is kept small. What is left is linear but, for a long text full
of markup, tens of milliseconds: `markdown_to_adf_async` converts such a text in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
import uuid
from typing import Any, Literal

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

logger = logging.getLogger(__name__)

Node = dict[str, Any]
# Where a block lands; the schema allows different children in each.
Context = Literal["doc", "listItem", "blockquote", "panel", "tableCell"]

# Jira's text fields hold at most 32,767 characters; the tools accept this much Markdown (inputs.py).
MAX_MARKDOWN = 32_000
# Up to this length the worst text measured converts in a few milliseconds: no thread hop (the common case).
INLINE_LIMIT = 2_000
# Container depth (markdown-it's token level) past which lines are kept as plain text; below `maxNesting`, at
# which markdown-it would silently drop them.
_BLOCK_DEPTH = 60

# Built once: the parsers are configuration only and hold no per-document state (they are used from threads).
# Raw HTML is off so that `<b>` stays visible text; maxNesting above the default 20 so deep lists keep structure.
_PARSER = MarkdownIt("commonmark", {"html": False, "maxNesting": 64}).enable(["table", "strikethrough"])
# Inline text is parsed with a lower nesting limit: each unmatched `[` re-scans up to that many levels (about
# 30 microseconds per `[` at 64, against 7 at 10), and no link-in-image-in-link a person writes is that deep.
_INLINE_PARSER = MarkdownIt("commonmark", {"html": False, "maxNesting": 10}).enable(["strikethrough"])

_MARK_ORDER = {"link": 0, "strong": 1, "em": 2, "strike": 3, "code": 4}
_OPENING_MARKS = {"strong_open": "strong", "em_open": "em", "s_open": "strike"}
_CLOSING_MARKS = {"strong_close": "strong", "em_close": "em", "s_close": "strike"}
_TASK_PREFIX = re.compile(r"\[( |x|X)\](?: |$)")
_PANEL_MARKER = re.compile(r"\[!(info|note|tip|warning|error|success|important|caution)\]", re.IGNORECASE)
_PANEL_ALIASES = {"important": "warning", "caution": "error"}
_CELL_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n[ \t]*\n")

_HEADINGS_ALLOWED: frozenset[Context] = frozenset({"doc", "panel", "tableCell"})
_RULES_ALLOWED: frozenset[Context] = frozenset({"doc", "panel", "tableCell"})
_QUOTES_ALLOWED: frozenset[Context] = frozenset({"doc", "tableCell"})
_TASKS_ALLOWED: frozenset[Context] = frozenset({"doc", "listItem", "panel", "tableCell"})


def markdown_to_adf(text: str) -> Node:
    """Convert Markdown to an ADF `doc` (version 1). Empty input gives a doc with no content. Never raises."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if not text.strip():
        return {"type": "doc", "version": 1, "content": []}
    if len(text) > MAX_MARKDOWN:
        return plain_text_adf(text)
    try:
        tokens = _PARSER.parse(text)
        return {"type": "doc", "version": 1, "content": _Converter().blocks(_tree(tokens), "doc")}
    except Exception as exc:  # a RecursionError or a parser bug: the user's text still reaches Jira, unformatted
        # The innermost frames say where; the message is left out, as it may quote the user's text.
        where = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)[-8:]))
        logger.warning("Markdown sent as plain text: converting it raised %s at\n%s", type(exc).__name__, where)
        return plain_text_adf(text)


async def markdown_to_adf_async(text: str) -> Node:
    """`markdown_to_adf`, in a worker thread when the text is long enough to hold the event loop noticeably."""
    if len(text) <= INLINE_LIMIT:
        return markdown_to_adf(text)
    return await asyncio.to_thread(markdown_to_adf, text)


def plain_text_adf(text: str) -> Node:
    """The text as it stands: a paragraph per blank-line-separated block, lines joined by hard breaks."""
    content: list[Node] = []
    for block in _BLANK_LINES.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        inline: list[Node] = []
        for line in block.strip("\n").split("\n"):
            if inline:
                inline.append({"type": "hardBreak"})
            if line:
                inline.append(_text(line))
        if any(node["type"] == "text" and node["text"].strip() for node in inline):
            content.append(_paragraph(inline))
    return {"type": "doc", "version": 1, "content": content}


# -- markdown-it configuration --------------------------------------------------------------------------------


def _deep_as_text(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Past `_BLOCK_DEPTH`, the rest of the container is one plain paragraph (markdown-it would drop it)."""
    if state.level < _BLOCK_DEPTH:
        return False
    if silent:
        return True
    last = line = start
    while line < end:
        if not state.isEmpty(line):
            if state.sCount[line] < state.blkIndent:
                break  # the container ends here, as markdown-it's block loop decides
            last = line + 1
        line += 1
    last = max(last, start + 1)
    state.line = last
    state.push("paragraph_open", "p", 1).map = [start, last]
    inline = state.push("inline", "", 0)
    inline.content = state.getLines(start, last, state.blkIndent, False).strip()
    inline.map = [start, last]
    inline.children = []
    state.push("paragraph_close", "p", -1)
    return True


def _parse_inline(state: StateCore) -> None:
    """markdown-it's core `inline` rule, run by the parser with the lower nesting limit."""
    for token in state.tokens:
        if token.type == "inline":
            token.children = []
            _INLINE_PARSER.inline.parse(token.content, _INLINE_PARSER, state.env, token.children)


_PARSER.block.ruler.before("table", "policyarc_deep_as_text", _deep_as_text)
_PARSER.core.ruler.at("inline", _parse_inline)
# Each rule chain is compiled on first use; done here, before any worker thread can race to do it.
_PARSER.parse("x [a](b) *c*\n\n- d\n\n> e\n\n| f |\n| - |\n| g |\n")


class _Block:
    """A block of the token stream: the opening (or only) token and the blocks inside it."""

    __slots__ = ("children", "token", "type")

    def __init__(self, kind: str, token: Token) -> None:
        self.type = kind
        self.token = token
        self.children: list[_Block] = []

    @property
    def inline(self) -> list[Token]:
        """The inline tokens of an `inline` block (flat: marks open and close in sequence)."""
        return self.token.children or []


def _tree(tokens: list[Token]) -> list[_Block]:
    """Block tokens to a tree, with a stack rather than recursion (markdown-it's own tree class recurses)."""
    root: list[_Block] = []
    stack = [root]
    for token in tokens:
        if token.nesting == 1:
            block = _Block(token.type.removesuffix("_open"), token)
            stack[-1].append(block)
            stack.append(block.children)
        elif token.nesting == -1:
            if len(stack) > 1:
                stack.pop()
        else:
            stack[-1].append(_Block(token.type, token))
    return root


class _Converter:
    """One document's conversion; holds the counter that makes task list ids unique and deterministic."""

    def __init__(self) -> None:
        self._ids = 0

    def _local_id(self) -> str:
        self._ids += 1
        return str(uuid.UUID(int=self._ids))

    def blocks(self, nodes: list[_Block], ctx: Context) -> list[Node]:
        out: list[Node] = []
        for node in nodes:
            out.extend(self.block(node, ctx))
        return out

    def block(self, node: _Block, ctx: Context) -> list[Node]:
        kind = node.type
        token = node.token
        if kind == "paragraph":
            return [_paragraph(self.inline_of(node, cell=ctx == "tableCell"))]
        if kind == "heading":
            # A setext heading may span lines; an ATX heading cannot, so its lines join with a space.
            content = _merge([_text(" ") if n["type"] == "hardBreak" else n for n in self.inline_of(node)])
            if ctx in _HEADINGS_ALLOWED:
                return [{"type": "heading", "attrs": {"level": int(token.tag[1:])}, "content": content}]
            return [_paragraph(_with_mark(content, {"type": "strong"}))]
        if kind in ("fence", "code_block"):
            return [_code_block(token)]
        if kind == "bullet_list":
            if ctx in _TASKS_ALLOWED and _is_task_list(node):
                return [self.task_list(node)]
            return [{"type": "bulletList", "content": self.list_items(node)}]
        if kind == "ordered_list":
            start = token.attrs.get("start")
            ordered: Node = {"type": "orderedList", "content": self.list_items(node)}
            if isinstance(start, int) and start != 1:
                ordered["attrs"] = {"order": start}
            return [ordered]
        if kind == "blockquote":
            return self.quote(node, ctx)
        if kind == "hr":
            return [{"type": "rule"}] if ctx in _RULES_ALLOWED else []
        if kind == "table":
            return [self.table(node)] if ctx == "doc" else self.table_as_paragraphs(node)
        # Anything else the parser may produce (html_block with html off never appears): keep its text.
        text = _source_text(node)
        return [_paragraph([_text(text)])] if text else []

    def list_items(self, node: _Block) -> list[Node]:
        items: list[Node] = []
        for item in node.children:
            content = self.blocks(item.children, "listItem") or [_paragraph([])]
            items.append({"type": "listItem", "content": content})
        return items or [{"type": "listItem", "content": [_paragraph([])]}]

    def task_list(self, node: _Block) -> Node:
        content: list[Node] = []
        for item in node.children:
            first, *rest = item.children
            inline = self.inline_of(first)
            head = inline[0]
            match = _TASK_PREFIX.match(head["text"])
            state = "TODO" if match is None or match.group(1) == " " else "DONE"
            remainder = head["text"][match.end() if match else 0 :].lstrip(" \t")
            inline = ([{**head, "text": remainder}] if remainder else []) + inline[1:]
            content.append(
                {"type": "taskItem", "attrs": {"localId": self._local_id(), "state": state}, "content": inline}
            )
            content.extend(self.task_list(nested) for nested in rest)
        return {"type": "taskList", "attrs": {"localId": self._local_id()}, "content": content}

    def quote(self, node: _Block, ctx: Context) -> list[Node]:
        if ctx not in _QUOTES_ALLOWED:
            # A quote inside a list item, quote or panel: the schema has no place for it, keep its blocks.
            return self.blocks(node.children, ctx)
        panel_type, children = _panel_marker(node)
        if panel_type is not None:
            content = self.panel_content(children)
            return [{"type": "panel", "attrs": {"panelType": panel_type}, "content": content or [_paragraph([])]}]
        return [{"type": "blockquote", "content": self.blocks(node.children, "blockquote") or [_paragraph([])]}]

    def panel_content(self, children: list[_Block | list[Node]]) -> list[Node]:
        out: list[Node] = []
        for child in children:
            if isinstance(child, list):
                out.append(_paragraph(child))
            else:
                out.extend(self.block(child, "panel"))
        return out

    def table(self, node: _Block) -> Node:
        rows: list[Node] = []
        for section in node.children:
            for row in section.children:
                cells = [
                    {
                        "type": "tableHeader" if cell.type == "th" else "tableCell",
                        "content": [_paragraph(self.inline_of(cell, cell=True))],
                    }
                    for cell in row.children
                ]
                rows.append({"type": "tableRow", "content": cells})
        return {"type": "table", "content": rows}

    def table_as_paragraphs(self, node: _Block) -> list[Node]:
        out: list[Node] = []
        for section in node.children:
            for row in section.children:
                inline: list[Node] = []
                for index, cell in enumerate(row.children):
                    if index:
                        inline.append(_text(" | "))
                    inline.extend(self.inline_of(cell))
                out.append(_paragraph(_merge(inline)))
        return out

    def inline_of(self, block: _Block, *, cell: bool = False) -> list[Node]:
        """The inline content of a paragraph, heading or table cell."""
        out: list[Node] = []
        for child in block.children:
            if child.type == "inline":
                _inline(child.inline, out, cell)
        return _merge(out)


def _inline(tokens: list[Token], out: list[Node], cell: bool) -> None:
    """Flat inline tokens to ADF text nodes. ADF marks are a set, so counters stand for nested emphasis."""
    open_marks = {"strong": 0, "em": 0, "strike": 0}
    links: list[Node | None] = []  # the open links, innermost last; None for one without a usable href
    for token in tokens:
        kind = token.type
        if kind == "text":
            if not token.content:
                continue
            marks = _current(open_marks, links)
            if cell:
                # GFM tables cannot hold line breaks; `<br>` is the usual way to write one.
                for index, part in enumerate(_CELL_BREAK.split(token.content)):
                    if index:
                        out.append({"type": "hardBreak"})
                    if part:
                        out.append(_text(part, marks))
            else:
                out.append(_text(token.content, marks))
        elif kind in ("softbreak", "hardbreak"):
            # Jira shows a single newline as a line break, which is what people writing a description mean.
            if out and out[-1]["type"] == "text":
                # Spaces before a line break are invisible, and Markdown cannot keep them.
                out[-1]["text"] = out[-1]["text"].rstrip(" \t")
                if not out[-1]["text"]:
                    out.pop()
            out.append({"type": "hardBreak"})
        elif kind in _OPENING_MARKS:
            open_marks[_OPENING_MARKS[kind]] += 1
        elif kind in _CLOSING_MARKS:
            name = _CLOSING_MARKS[kind]
            open_marks[name] = max(0, open_marks[name] - 1)
        elif kind == "link_open":
            mark = _link_mark(token.attrs.get("href"), token.attrs.get("title"))
            links.append(mark[0] if mark else None)
        elif kind == "link_close":
            if links:
                links.pop()
        elif kind == "code_inline":
            if token.content:
                link = _innermost(links)
                out.append(_text(token.content, [*([link] if link else []), {"type": "code"}]))
        elif kind == "image":
            src = token.attrs.get("src")
            alt = "".join(child.content for child in token.children or [] if child.type == "text") or str(src or "")
            if alt:
                marks = _current(open_marks, links)
                out.append(_text(alt, [*marks, *_link_mark(src, token.attrs.get("title"))]))
        elif token.content:
            out.append(_text(token.content, _current(open_marks, links)))


def _innermost(links: list[Node | None]) -> Node | None:
    # Links cannot nest in CommonMark, so the stack is short; the innermost usable link wins, as in `_text`.
    for link in reversed(links):
        if link is not None:
            return link
    return None


def _current(open_marks: dict[str, int], links: list[Node | None]) -> list[Node]:
    marks: list[Node] = []
    link = _innermost(links)
    if link is not None:
        marks.append(link)
    marks.extend({"type": name} for name, count in open_marks.items() if count)
    return marks


def _link_mark(href: object, title: object) -> list[Node]:
    if not isinstance(href, str) or not href:
        return []
    attrs: dict[str, str] = {"href": href}
    if isinstance(title, str) and title:
        attrs["title"] = title
    return [{"type": "link", "attrs": attrs}]


def _text(text: str, marks: list[Node] | None = None) -> Node:
    node: Node = {"type": "text", "text": text}
    if marks:
        by_type: dict[str, Node] = {}
        for mark in marks:
            by_type[mark["type"]] = mark  # the innermost mark of a type wins (a link inside a link)
        if "code" in by_type:
            # ADF lets code combine only with link: drop bold, italic and strike around inline code.
            by_type = {key: value for key, value in by_type.items() if key in ("code", "link")}
        node["marks"] = sorted(by_type.values(), key=lambda mark: _MARK_ORDER[mark["type"]])
    return node


def _with_mark(inline: list[Node], mark: Node) -> list[Node]:
    out: list[Node] = []
    for node in inline:
        if node["type"] == "text":
            out.append(_text(node["text"], [*node.get("marks", []), mark]))
        else:
            out.append(node)
    return out


def _merge(inline: list[Node]) -> list[Node]:
    """Join neighbouring text nodes with the same marks (what ADF editors produce), in linear time."""
    out: list[Node] = []
    pieces: list[str] = []  # the texts of the run that out[-1] stands for
    for node in inline:
        last = out[-1] if out else None
        if (
            last is not None
            and node["type"] == "text"
            and last["type"] == "text"
            and last.get("marks") == node.get("marks")
        ):
            pieces.append(node["text"])
            continue
        if len(pieces) > 1:
            out[-1] = {**out[-1], "text": "".join(pieces)}
        out.append(node)
        pieces = [node["text"]] if node["type"] == "text" else []
    if len(pieces) > 1:
        out[-1] = {**out[-1], "text": "".join(pieces)}
    return out


def _paragraph(inline: list[Node]) -> Node:
    return {"type": "paragraph", "content": inline}


def _code_block(token: Token) -> Node:
    code = token.content[:-1] if token.content.endswith("\n") else token.content
    block: Node = {"type": "codeBlock", "content": [{"type": "text", "text": code}] if code else []}
    language = token.info.split()[0] if token.type == "fence" and token.info.strip() else ""
    if language:
        block["attrs"] = {"language": language}
    return block


def _is_task_list(node: _Block) -> bool:
    """Every item starts `[ ]` or `[x]`, and holds nothing else but further task lists."""
    if not node.children:
        return False
    for item in node.children:
        if not item.children or item.children[0].type != "paragraph":
            return False
        inline = item.children[0].children
        first = inline[0].inline[0] if inline and inline[0].inline else None
        if first is None or first.type != "text" or not _TASK_PREFIX.match(first.content):
            return False
        if any(nested.type != "bullet_list" or not _is_task_list(nested) for nested in item.children[1:]):
            return False
    return True


def _panel_marker(node: _Block) -> tuple[str | None, list[_Block | list[Node]]]:
    """`> [!INFO]` on the quote's first line: the panel type, and the quote's children after the marker."""
    children = node.children
    if not children or children[0].type != "paragraph" or not children[0].children:
        return None, []
    inline = children[0].children[0].inline
    if not inline or inline[0].type != "text":
        return None, []
    match = _PANEL_MARKER.fullmatch(inline[0].content.strip())
    if match is None or (len(inline) > 1 and inline[1].type not in ("softbreak", "hardbreak")):
        return None, []
    kind = match.group(1).lower()
    rest: list[Node] = []
    _inline(inline[2:], rest, False)
    head: list[_Block | list[Node]] = [_merge(rest)] if rest else []
    return _PANEL_ALIASES.get(kind, kind), [*head, *children[1:]]


def _source_text(node: _Block) -> str:
    """All the text under a block, without recursion."""
    parts: list[str] = []
    stack = [node]
    while stack:
        block = stack.pop()
        if block.type == "inline":
            parts.extend(token.content for token in block.inline)
        elif block.children:
            stack.extend(reversed(block.children))
        else:
            parts.append(block.token.content)
    return "".join(parts)
