"""Markdown (CommonMark + GFM tables, strikethrough and task lists) to an ADF v1 `doc`.

Every output validates against ADF's JSON schema: where Markdown allows a construct the schema does not
(a heading or a table inside a list item, a quote inside a quote, a rule inside a quote), it is lowered to
the nearest allowed form and keeps its text. Images become links, because ADF media needs an upload.
`> [!INFO]` (GitHub's alert syntax, also what `adf_to_markdown` writes for panels) becomes a panel.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

Node = dict[str, Any]
# Where a block lands; the schema allows different children in each.
Context = Literal["doc", "listItem", "blockquote", "panel", "tableCell"]

# Built once: the parser is configuration only and holds no per-document state.
# Raw HTML is off so that `<b>` stays visible text; maxNesting above the default 20 so deep lists keep their text.
_PARSER = MarkdownIt("commonmark", {"html": False, "maxNesting": 64}).enable(["table", "strikethrough"])

_MARK_ORDER = {"link": 0, "strong": 1, "em": 2, "strike": 3, "code": 4}
_INLINE_MARKS = {"strong": "strong", "em": "em", "s": "strike"}
_TASK_PREFIX = re.compile(r"\[( |x|X)\](?: |$)")
_PANEL_MARKER = re.compile(r"\[!(info|note|tip|warning|error|success|important|caution)\]", re.IGNORECASE)
_PANEL_ALIASES = {"important": "warning", "caution": "error"}
_CELL_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)

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
    tree = SyntaxTreeNode(_PARSER.parse(text))
    return {"type": "doc", "version": 1, "content": _Converter().blocks(tree.children, "doc")}


class _Converter:
    """One document's conversion; holds the counter that makes task list ids unique and deterministic."""

    def __init__(self) -> None:
        self._ids = 0

    def _local_id(self) -> str:
        self._ids += 1
        return str(uuid.UUID(int=self._ids))

    def blocks(self, nodes: list[SyntaxTreeNode], ctx: Context) -> list[Node]:
        out: list[Node] = []
        for node in nodes:
            out.extend(self.block(node, ctx))
        return out

    def block(self, node: SyntaxTreeNode, ctx: Context) -> list[Node]:
        kind = node.type
        if kind == "paragraph":
            return [_paragraph(self.inline_of(node, cell=ctx == "tableCell"))]
        if kind == "heading":
            # A setext heading may span lines; an ATX heading cannot, so its lines join with a space.
            content = _merge([_text(" ") if n["type"] == "hardBreak" else n for n in self.inline_of(node)])
            if ctx in _HEADINGS_ALLOWED:
                return [{"type": "heading", "attrs": {"level": int(node.tag[1:])}, "content": content}]
            return [_paragraph(_with_mark(content, {"type": "strong"}))]
        if kind in ("fence", "code_block"):
            return [_code_block(node)]
        if kind == "bullet_list":
            if ctx in _TASKS_ALLOWED and _is_task_list(node):
                return [self.task_list(node)]
            return [{"type": "bulletList", "content": self.list_items(node)}]
        if kind == "ordered_list":
            start = node.attrs.get("start")
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

    def list_items(self, node: SyntaxTreeNode) -> list[Node]:
        items: list[Node] = []
        for item in node.children:
            content = self.blocks(item.children, "listItem") or [_paragraph([])]
            items.append({"type": "listItem", "content": content})
        return items or [{"type": "listItem", "content": [_paragraph([])]}]

    def task_list(self, node: SyntaxTreeNode) -> Node:
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

    def quote(self, node: SyntaxTreeNode, ctx: Context) -> list[Node]:
        if ctx not in _QUOTES_ALLOWED:
            # A quote inside a list item, quote or panel: the schema has no place for it, keep its blocks.
            return self.blocks(node.children, ctx)
        panel_type, children = _panel_marker(node)
        if panel_type is not None:
            content = self.panel_content(children)
            return [{"type": "panel", "attrs": {"panelType": panel_type}, "content": content or [_paragraph([])]}]
        return [{"type": "blockquote", "content": self.blocks(node.children, "blockquote") or [_paragraph([])]}]

    def panel_content(self, children: list[SyntaxTreeNode | list[Node]]) -> list[Node]:
        out: list[Node] = []
        for child in children:
            if isinstance(child, list):
                out.append(_paragraph(child))
            else:
                out.extend(self.block(child, "panel"))
        return out

    def table(self, node: SyntaxTreeNode) -> Node:
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

    def table_as_paragraphs(self, node: SyntaxTreeNode) -> list[Node]:
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

    def inline_of(self, block: SyntaxTreeNode, *, cell: bool = False) -> list[Node]:
        """The inline content of a paragraph, heading or table cell."""
        out: list[Node] = []
        for child in block.children:
            if child.type == "inline":
                _inline(child.children, [], out, cell)
        return _merge(out)


def _inline(nodes: list[SyntaxTreeNode], marks: list[Node], out: list[Node], cell: bool) -> None:
    for node in nodes:
        kind = node.type
        if kind == "text":
            if cell:
                # GFM tables cannot hold line breaks; `<br>` is the usual way to write one.
                for index, part in enumerate(_CELL_BREAK.split(node.content)):
                    if index:
                        out.append({"type": "hardBreak"})
                    if part:
                        out.append(_text(part, marks))
            elif node.content:
                out.append(_text(node.content, marks))
        elif kind in ("softbreak", "hardbreak"):
            # Jira shows a single newline as a line break, which is what people writing a description mean.
            if out and out[-1]["type"] == "text":
                # Spaces before a line break are invisible, and Markdown cannot keep them.
                out[-1]["text"] = out[-1]["text"].rstrip(" \t")
                if not out[-1]["text"]:
                    out.pop()
            out.append({"type": "hardBreak"})
        elif kind in _INLINE_MARKS:
            _inline(node.children, [*marks, {"type": _INLINE_MARKS[kind]}], out, cell)
        elif kind == "code_inline":
            if node.content:
                links = [mark for mark in marks if mark["type"] == "link"]
                out.append(_text(node.content, [*links, {"type": "code"}]))
        elif kind == "link":
            _inline(node.children, [*marks, *_link_mark(node.attrs.get("href"), node.attrs.get("title"))], out, cell)
        elif kind == "image":
            src = node.attrs.get("src")
            alt = "".join(child.content for child in node.children if child.type == "text") or str(src or "")
            if alt:
                out.append(_text(alt, [*marks, *_link_mark(src, node.attrs.get("title"))]))
        else:
            text = _source_text(node)
            if text:
                out.append(_text(text, marks))


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
    """Join neighbouring text nodes with the same marks (what ADF editors produce)."""
    out: list[Node] = []
    for node in inline:
        last = out[-1] if out else None
        if (
            last is not None
            and node["type"] == "text"
            and last["type"] == "text"
            and last.get("marks") == node.get("marks")
        ):
            out[-1] = {**last, "text": last["text"] + node["text"]}
        else:
            out.append(node)
    return out


def _paragraph(inline: list[Node]) -> Node:
    return {"type": "paragraph", "content": inline}


def _code_block(node: SyntaxTreeNode) -> Node:
    code = node.content[:-1] if node.content.endswith("\n") else node.content
    block: Node = {"type": "codeBlock", "content": [{"type": "text", "text": code}] if code else []}
    language = node.info.split()[0] if node.type == "fence" and node.info.strip() else ""
    if language:
        block["attrs"] = {"language": language}
    return block


def _is_task_list(node: SyntaxTreeNode) -> bool:
    """Every item starts `[ ]` or `[x]`, and holds nothing else but further task lists."""
    if not node.children:
        return False
    for item in node.children:
        if not item.children or item.children[0].type != "paragraph":
            return False
        inline = item.children[0].children
        first = inline[0].children[0] if inline and inline[0].children else None
        if first is None or first.type != "text" or not _TASK_PREFIX.match(first.content):
            return False
        if any(nested.type != "bullet_list" or not _is_task_list(nested) for nested in item.children[1:]):
            return False
    return True


def _panel_marker(node: SyntaxTreeNode) -> tuple[str | None, list[SyntaxTreeNode | list[Node]]]:
    """`> [!INFO]` on the quote's first line: the panel type, and the quote's children after the marker."""
    children = node.children
    if not children or children[0].type != "paragraph" or not children[0].children:
        return None, []
    inline = children[0].children[0].children
    if not inline or inline[0].type != "text":
        return None, []
    match = _PANEL_MARKER.fullmatch(inline[0].content.strip())
    if match is None or (len(inline) > 1 and inline[1].type not in ("softbreak", "hardbreak")):
        return None, []
    kind = match.group(1).lower()
    rest: list[Node] = []
    _inline(inline[2:], [], rest, False)
    head: list[SyntaxTreeNode | list[Node]] = [_merge(rest)] if rest else []
    return _PANEL_ALIASES.get(kind, kind), [*head, *children[1:]]


def _source_text(node: SyntaxTreeNode) -> str:
    if node.children:
        return "".join(_source_text(child) for child in node.children)
    return node.content or ""
