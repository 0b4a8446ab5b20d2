"""ADF to compact Markdown for an agent to read.

Total: any JSON value gives a string, never an exception. Nodes this module does not know give their text,
so nothing a user wrote is lost. Text is escaped only where it would otherwise turn into markup, so that
`snake_case` and `C:\\path` stay readable and `markdown_to_adf` reads the output back to the same document.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

# Deeper than any editor produces; past it, a subtree is rendered as plain text without recursion.
_MAX_DEPTH = 48

_INLINE_TYPES = frozenset(
    {"text", "hardBreak", "mention", "emoji", "status", "date", "inlineCard", "placeholder", "mediaInline"}
    | {"inlineExtension"}
)
_LIST_TYPES = frozenset({"bulletList", "orderedList", "taskList", "decisionList"})
_DASH_LISTS = frozenset({"bulletList", "taskList", "decisionList"})
_MARK_RANK = {"link": 0, "strong": 1, "em": 2, "strike": 3}
_DELIMITER = {"strong": "**", "em": "*", "strike": "~~"}

_ESCAPABLE = re.compile(r"[\\`*_~\[&<]")
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_AUTOLINK = re.compile(r"<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>|<[^\s<>@]+@[^\s<>]+>")
_LINK_CLOSER = re.compile(r"\][(\[:]")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*")
_LINE_START = re.compile(
    r"^([ \t]*)(?:(#{1,6}(?=[ \t]|$)|>|[-+*](?=[ \t]|$)|=+[ \t]*$|(?:-[ \t]*){3,}$)|(\d{1,9})([.)])(?=[ \t]|$))",
    re.MULTILINE,
)

MarkKey = tuple[str, str, str]  # (type, href, title)


def adf_to_markdown(doc: dict[str, Any] | None) -> str:
    """Render an ADF document (or any node) as Markdown. Never raises; `None` and non-documents give ""."""
    if isinstance(doc, str):
        return doc
    if isinstance(doc, list):
        return _join(doc, 0).strip("\n")
    if not isinstance(doc, dict):
        return ""
    try:
        if doc.get("type") == "doc":
            return _join(_children(doc), 0).strip("\n")
        return _join([doc], 0).strip("\n")
    except RecursionError:
        # `_MAX_DEPTH` keeps the recursion well inside Python's default limit; a caller already deep in its
        # own stack (or a lowered limit) still gets the document's text rather than an exception.
        logger.warning("ADF nested too deeply for this stack; rendered as plain text")
        return _flat_text(doc)


# -- blocks ------------------------------------------------------------------------------------------------


def _join(nodes: list[Any], depth: int, *, sep: str = "\n\n") -> str:
    """Render a list of blocks; runs of inline nodes (invalid at block level, but seen) become paragraphs."""
    parts: list[str] = []
    run: list[Any] = []
    previous = ""
    for node in [*nodes, None]:
        if node is not None and (isinstance(node, str) or (isinstance(node, dict) and _type(node) in _INLINE_TYPES)):
            run.append(node)
            continue
        if run:
            parts.append(_paragraph(run, depth))
            run = []
            previous = "paragraph"
        if not isinstance(node, dict):
            continue
        kind = _type(node)
        # Two lists of one kind in a row would merge into one; a different marker keeps them apart.
        alternate = (kind in _DASH_LISTS and previous in _DASH_LISTS) or (kind == previous == "orderedList")
        parts.append(_block(node, depth, alternate=alternate))
        previous = kind
    return sep.join(part for part in parts if part)


def _block(node: dict[str, Any], depth: int, *, alternate: bool = False) -> str:
    if depth > _MAX_DEPTH:
        return _flat_text(node)
    kind = _type(node)
    attrs = _attrs(node)
    content = _children(node)
    if kind == "paragraph":
        return _paragraph(content, depth)
    if kind == "heading":
        level = _int(attrs.get("level"), 1, 1, 6)
        text = _inline(content, depth).replace("\n", " ").strip()
        if text.endswith("#"):
            text = text[:-1] + "\\#"  # a trailing # would close the heading
        return "#" * level + " " + text if text else "#" * level
    if kind in _LIST_TYPES:
        return _list(node, depth, alternate=alternate)
    if kind == "codeBlock":
        return _code_block(node)
    if kind == "blockquote":
        return _quote(_join(content, depth + 1))
    if kind == "panel":
        panel_type = attrs.get("panelType")
        label = panel_type.upper() if isinstance(panel_type, str) and panel_type else "INFO"
        body = _join(content, depth + 1)
        return _quote(f"[!{label}]" + ("\n" + body if body else ""))
    if kind == "rule":
        return "---"
    if kind == "table":
        return _table(content, depth)
    if kind in ("expand", "nestedExpand"):
        title = attrs.get("title") if isinstance(attrs.get("title"), str) else ""
        body = _join(content, depth + 1)
        return f"<details><summary>{title}</summary>\n\n{body}\n\n</details>"
    if kind in ("mediaSingle", "mediaGroup"):
        return " ".join(part for part in (_block(child, depth + 1) for child in _dicts(content)) if part)
    if kind == "media":
        return _media(attrs)
    if kind == "caption":
        return _inline(content, depth)
    if kind in ("blockCard", "embedCard"):
        return _card_url(attrs)
    if kind in ("listItem", "taskItem", "decisionItem", "tableRow", "tableCell", "tableHeader"):
        # Found outside their parent: render what they hold.
        return _join(content, depth + 1, sep="\n") if kind.startswith("table") else _join(content, depth + 1)
    if content:
        # doc, layoutSection, layoutColumn, bodiedExtension, bodiedSyncBlock and unknown containers.
        return _join(content, depth + 1)
    leftover = attrs.get("text")
    return leftover if isinstance(leftover, str) else ""


def _paragraph(content: list[Any], depth: int) -> str:
    text = _escape_line_starts(_inline(content, depth)).lstrip(" \t")
    first = next((node for node in content if isinstance(node, str | dict)), None)
    if text.startswith("[") and (isinstance(first, str) or (_type(first) == "text" and not _mark_keys(_marks(first)))):
        # `[` opening a paragraph could start a link reference definition (or a task box): keep it literal.
        text = "\\" + text
    return text


def _list(node: dict[str, Any], depth: int, *, alternate: bool) -> str:
    kind = _type(node)
    start = _int(_attrs(node).get("order"), 1, 0, 999_999_999) if kind == "orderedList" else 1
    lines: list[str] = []
    number = start
    for item in _children(node):
        if not isinstance(item, dict):
            continue
        item_type = _type(item)
        if kind == "orderedList":
            marker = f"{number}{')' if alternate else '.'}"
            number += 1
        else:
            marker = "*" if alternate else "-"
        if item_type in ("taskItem", "blockTaskItem"):
            state = _attrs(item).get("state")
            marker += " [x]" if state == "DONE" else " [ ]"
            body = _item_body(item, depth)
        elif item_type == "decisionItem":
            marker += " Decision:"
            body = _paragraph(_children(item), depth + 1)
        elif item_type in _LIST_TYPES and lines:
            # A task list nested in a task list sits beside the items: indent it under the last one.
            nested = _block(item, depth + 1)
            lines.extend("  " + line if line else "" for line in nested.split("\n"))
            continue
        else:
            body = _item_body(item, depth)
        lines.append(_hang(marker, body))
    return "\n".join(lines)


def _item_body(item: dict[str, Any], depth: int) -> str:
    content = _children(item)
    if content and all(isinstance(child, str) or _type(child) in _INLINE_TYPES for child in content):
        return _paragraph(content, depth + 1)  # taskItem and decisionItem hold inline nodes directly
    parts: list[str] = []
    for child in content:
        if not isinstance(child, dict):
            continue
        rendered = _join([child], depth + 1)
        if not rendered:
            continue
        # Nested lists stay tight; anything else after a block needs a blank line to stay separate.
        if parts:
            parts.append("\n" if _type(child) in _LIST_TYPES else "\n\n")
        parts.append(rendered)
    return "".join(parts)


def _hang(marker: str, body: str) -> str:
    if not body:
        return marker
    pad = " " * (len(marker.split(" ")[0]) + 1)
    first, *rest = body.split("\n")
    return "\n".join([f"{marker} {first}", *(pad + line if line else "" for line in rest)])


def _quote(body: str) -> str:
    return "\n".join("> " + line if line else ">" for line in body.split("\n"))


def _code_block(node: dict[str, Any]) -> str:
    # A code block holds text nodes; anything nested in one (invalid ADF, but seen) still gives its text.
    code = "".join(
        _flat_text(child) if isinstance(child, dict) and _children(child) else _text_of(child)
        for child in _children(node)
    )
    language = _attrs(node).get("language")
    language = re.sub(r"\s", "", language) if isinstance(language, str) else ""
    char = "~" if "`" in language else "`"  # a backtick fence cannot carry a backtick in its info string
    longest = max((len(run) for run in re.findall(re.escape(char) + "+", code)), default=0)
    fence = char * max(3, longest + 1)
    return f"{fence}{language}\n{code}\n{fence}" if code else f"{fence}{language}\n{fence}"


def _table(rows: list[Any], depth: int) -> str:
    grid: list[list[str]] = []
    for row in _dicts(rows):
        cells = []
        # Anything else where a row or a cell belongs (not valid ADF, but seen) is a cell of its own: its text stays.
        for cell in _dicts(_children(row)) if _type(row) == "tableRow" else [row]:
            inside = _children(cell) if _type(cell) in ("tableCell", "tableHeader") else [cell]
            text = _join(inside, depth + 1, sep="\n").strip()
            cells.append(text.replace("|", "\\|").replace("\n", "<br>"))
        grid.append(cells)
    width = max((len(cells) for cells in grid), default=0)
    if not width:
        return ""
    lines = ["| " + " | ".join(cells + [""] * (width - len(cells))) + " |" for cells in grid]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


# -- inline ------------------------------------------------------------------------------------------------


def _inline(nodes: list[Any], depth: int) -> str:
    """Inline nodes to Markdown; marks open and close like a stack so that `**a *b* c**` nests."""
    out: list[str] = []
    stack: list[MarkKey] = []
    for node in nodes:
        if isinstance(node, str):
            piece, is_text = _escape(node), True
            keys: list[MarkKey] = []
        elif isinstance(node, dict):
            piece, keys, is_text = _inline_piece(node, depth)
        else:
            continue
        if not piece:
            continue
        if piece == "\n" and _at_line_start(out):
            piece = "\\\n"  # an empty line would end the paragraph; a lone backslash is a break
        keep = 0
        while keep < len(stack) and keep < len(keys) and stack[keep] == keys[keep]:
            keep += 1
        _close(out, stack[keep:])
        if is_text and piece.isspace():
            out.append(piece)  # emphasis cannot open on whitespace: leave the marks the space alone has closed
            stack = stack[:keep]
            continue
        stripped = piece.lstrip() if is_text and keys[keep:] else piece
        out.append(piece[: len(piece) - len(stripped)])
        out.extend(_open(key) for key in keys[keep:])
        out.append(stripped)
        stack = keys
    _close(out, stack)
    return "".join(out)


def _at_line_start(out: list[str]) -> bool:
    for part in reversed(out):
        if part:
            return part.endswith("\n")
    return True


def _inline_piece(node: dict[str, Any], depth: int) -> tuple[str, list[MarkKey], bool]:
    kind = _type(node)
    attrs = _attrs(node)
    if kind == "text":
        text = _text_of(node)
        marks = node.get("marks")
        keys = _mark_keys(marks if isinstance(marks, list) else [])
        if isinstance(marks, list) and any(isinstance(mark, dict) and mark.get("type") == "code" for mark in marks):
            return _code_span(text), keys, False
        if keys == [("link", text, "")] and _URI.fullmatch(text):
            return f"<{text}>", [], False  # a bare URL, as autolinked
        return _escape(text), keys, True
    if kind == "hardBreak":
        return "\n", [], False
    if kind == "mention":
        name = attrs.get("text") or attrs.get("id") or _flat_text(node) or "unknown"
        return "@" + str(name).lstrip("@"), [], False
    if kind in _ATOMS:
        piece = _atom(kind, attrs)
        # Atoms carry their words in attrs; one that holds content (not valid ADF, but seen) keeps that text too.
        nested = _escape(_flat_text(node)) if _children(node) else ""
        return " ".join(part for part in (piece, nested) if part), [], False
    if depth > _MAX_DEPTH:
        return _escape(_flat_text(node)), [], True
    content = _children(node)
    if content:
        # An unknown or misplaced node: its text, with blocks run together on one line.
        if all(isinstance(child, str) or _type(child) in _INLINE_TYPES for child in content):
            return _inline(content, depth + 1), [], False
        return _join(content, depth + 1, sep=" ").replace("\n", " "), [], False
    leftover = attrs.get("text")
    return (_escape(leftover) if isinstance(leftover, str) else ""), [], True


_ATOMS = frozenset({"emoji", "status", "date", "inlineCard", "mediaInline", "placeholder"})


def _atom(kind: str, attrs: dict[str, Any]) -> str:
    if kind == "emoji":
        return str(attrs.get("shortName") or attrs.get("text") or "")
    if kind == "status":
        label = attrs.get("text")
        return f"[{label.upper()}]" if isinstance(label, str) and label else ""
    if kind == "date":
        return _date(attrs.get("timestamp"))
    if kind == "inlineCard":
        return _card_url(attrs)
    if kind == "mediaInline":
        return _media(attrs)
    return ""  # placeholder: editor hint text, not content


def _mark_keys(marks: list[Any]) -> list[MarkKey]:
    keys: dict[str, MarkKey] = {}
    for mark in marks:
        if not isinstance(mark, dict):
            continue
        kind = mark.get("type")
        if kind == "link":
            attrs = _attrs(mark)
            href, title = attrs.get("href"), attrs.get("title")
            if isinstance(href, str) and href:
                keys["link"] = ("link", href, title if isinstance(title, str) else "")
        elif isinstance(kind, str) and kind in _MARK_RANK:
            keys[kind] = (kind, "", "")
    return sorted(keys.values(), key=lambda key: _MARK_RANK[key[0]])


def _open(key: MarkKey) -> str:
    return "[" if key[0] == "link" else _DELIMITER[key[0]]


def _close(out: list[str], keys: list[MarkKey]) -> None:
    if not keys:
        return
    # A closing delimiter after whitespace does not close: move the whitespace outside.
    trailing = ""
    while out:
        last = out[-1]
        stripped = last.rstrip()
        trailing = last[len(stripped) :] + trailing
        if stripped:
            out[-1] = stripped
            break
        out.pop()
    for key in reversed(keys):
        out.append(_link_tail(key) if key[0] == "link" else _DELIMITER[key[0]])
    out.append(trailing)


def _link_tail(key: MarkKey) -> str:
    _, href, title = key
    if re.search(r"[\s<>()]", href):
        href = "<" + href.replace("<", "%3C").replace(">", "%3E") + ">"
    if title:
        return f']({href} "' + title.replace("\\", "\\\\").replace('"', '\\"') + '")'
    return f"]({href})"


def _code_span(text: str) -> str:
    text = text.replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ") and text.strip()):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def _escape(text: str) -> str:
    """Backslash the characters that would otherwise be read as Markdown, and only those."""
    if not _ESCAPABLE.search(text):
        return text
    autolinks = {match.start() for match in _AUTOLINK.finditer(text)}
    entities = {match.start() for match in _ENTITY.finditer(text)}
    # A `[` can open a link when `](`, `][` or `]:` follows it anywhere: one scan for the last such place keeps
    # this linear (a search from every `[` made 32,000 of them cost 0.4 s).
    last_closer = max((match.start() for match in _LINK_CLOSER.finditer(text)), default=-1)
    out: list[str] = []
    for index, char in enumerate(text):
        before = text[index - 1] if index else ""
        after = text[index + 1] if index + 1 < len(text) else ""
        if char == "\\":
            needed = after == "" or after in _PUNCTUATION
        elif char == "`":
            needed = True
        elif char == "*":
            needed = not (before.isspace() and after.isspace())
        elif char == "_":
            needed = not ((before.isalnum() and after.isalnum()) or (before.isspace() and after.isspace()))
        elif char == "~":
            needed = before == "~" or after == "~"
        elif char == "[":
            needed = last_closer > index
        elif char == "&":
            needed = index in entities
        else:  # "<"
            needed = index in autolinks
        out.append("\\" + char if needed else char)
    return "".join(out)


def _escape_line_starts(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        indent, marker, number, dot = match.group(1), match.group(2), match.group(3), match.group(4)
        if marker is not None:
            return indent + "\\" + marker
        return f"{indent}{number}\\{dot}"

    return _LINE_START.sub(fix, text)


# -- leaves and helpers ------------------------------------------------------------------------------------


def _media(attrs: dict[str, Any]) -> str:
    alt = attrs.get("alt")
    label = f"[attachment: {alt}]" if isinstance(alt, str) and alt else "[attachment]"
    url = attrs.get("url")
    return f"{label}({url})" if attrs.get("type") == "external" and isinstance(url, str) and url else label


def _card_url(attrs: dict[str, Any]) -> str:
    url = attrs.get("url")
    if isinstance(url, str):
        return url
    data = attrs.get("data")
    if isinstance(data, dict):
        for key in ("url", "name"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return ""


def _date(timestamp: object) -> str:
    try:
        millis = int(str(timestamp))
        return datetime.fromtimestamp(millis / 1000, UTC).date().isoformat()
    except (ValueError, OverflowError, OSError):
        return str(timestamp) if timestamp is not None else ""


def _flat_text(root: Any) -> str:
    """All the text under a node, without recursion (for pathologically deep input)."""
    parts: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, dict):
            if _type(node) == "text":
                parts.append(_text_of(node))
            stack.extend(reversed(_children(node)))
    return " ".join(part for part in parts if part)


def _type(node: Any) -> str:
    kind = node.get("type") if isinstance(node, dict) else None
    return kind if isinstance(kind, str) else ""


def _attrs(node: dict[str, Any]) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _children(node: dict[str, Any]) -> list[Any]:
    content = node.get("content")
    return content if isinstance(content, list) else []


def _marks(node: Any) -> list[Any]:
    marks = node.get("marks") if isinstance(node, dict) else None
    return marks if isinstance(marks, list) else []


def _dicts(nodes: list[Any]) -> list[dict[str, Any]]:
    return [node for node in nodes if isinstance(node, dict)]


def _text_of(node: Any) -> str:
    if isinstance(node, str):
        return node
    text = node.get("text") if isinstance(node, dict) else None
    return text if isinstance(text, str) else "" if text is None else str(text)


def _int(value: object, default: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    try:
        return min(max(int(value), low), high)
    except (ValueError, OverflowError):
        return default
