"""Atlassian Document Format helpers for the simulator.

`plain_text` for JQL `~`; `validate_adf` to answer invalid documents with Jira's 400; `adf_to_html` for
`expand=renderedFields`; `adf_to_wiki` / `wiki_to_adf` for the Jira Server/DC v2 API, which speaks wiki markup.
The node and mark rules follow the ADF v1 JSON schema (`@atlaskit/adf-schema`, `json-schema/v1/full.json`).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

Node = dict[str, Any]

# What Jira Cloud answers (in `errors`, under the field name) when a v3 rich-text field is not an ADF document.
INVALID_DOCUMENT_MESSAGE = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


def plain_text(node: dict[str, Any] | None) -> str:
    """The text of an ADF node and its children, blocks separated by newlines (used by JQL `~`)."""
    if not node:
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    parts = [plain_text(child) for child in node.get("content", []) if isinstance(child, dict)]
    joiner = "\n" if node.get("type") in ("doc", "bulletList", "orderedList", "table", "tableRow") else ""
    return joiner.join(parts)


# -- validation ---------------------------------------------------------------------------------------------

_INLINE = frozenset(
    {"text", "date", "emoji", "hardBreak", "inlineCard", "mention", "placeholder", "status", "inlineExtension"}
    | {"mediaInline"}
)
_LISTS = frozenset({"bulletList", "orderedList"})
_MEDIA = frozenset({"mediaSingle", "mediaGroup"})
_NON_NESTABLE = frozenset(
    {"paragraph", "panel", "blockquote", "rule", "heading", "codeBlock", "decisionList", "taskList", "table"}
    | {"blockCard", "embedCard", "extension"}
    | _LISTS
    | _MEDIA
)
_BLOCK_CONTENT = _NON_NESTABLE | {"expand", "bodiedExtension"}
_CELL = (_NON_NESTABLE - {"table"}) | {"nestedExpand"}
_CHILDREN: dict[str, frozenset[str]] = {
    "doc": _BLOCK_CONTENT | {"layoutSection", "syncBlock", "bodiedSyncBlock"},
    "paragraph": _INLINE,
    "heading": _INLINE,
    "bulletList": frozenset({"listItem"}),
    "orderedList": frozenset({"listItem"}),
    "listItem": frozenset({"paragraph", "taskList", "mediaSingle", "codeBlock", "extension"}) | _LISTS,
    "blockquote": frozenset({"paragraph", "codeBlock", "extension"}) | _LISTS | _MEDIA,
    "codeBlock": frozenset({"text"}),
    "panel": frozenset({"paragraph", "heading", "blockCard", "codeBlock", "taskList", "rule", "decisionList"})
    | {"extension"}
    | _LISTS
    | _MEDIA,
    "table": frozenset({"tableRow"}),
    "tableRow": frozenset({"tableCell", "tableHeader"}),
    "tableCell": _CELL,
    "tableHeader": _CELL,
    "taskList": frozenset({"taskItem", "taskList", "blockTaskItem"}),
    "taskItem": _INLINE,
    "blockTaskItem": frozenset({"paragraph", "extension"}),
    "decisionList": frozenset({"decisionItem"}),
    "decisionItem": _INLINE,
    "expand": _NON_NESTABLE | {"nestedExpand"},
    "nestedExpand": _CELL - {"table", "blockCard", "embedCard", "nestedExpand"},
    "mediaSingle": frozenset({"media", "caption"}),
    "mediaGroup": frozenset({"media"}),
    "caption": _INLINE - {"inlineExtension", "mediaInline"},
    "layoutSection": frozenset({"layoutColumn"}),
    "layoutColumn": _BLOCK_CONTENT,
    "bodiedExtension": _NON_NESTABLE,
    "bodiedSyncBlock": _BLOCK_CONTENT | {"layoutSection"},
}
_LEAVES = frozenset(
    {"text", "hardBreak", "rule", "mention", "emoji", "status", "date", "inlineCard", "blockCard", "embedCard"}
    | {"placeholder", "media", "mediaInline", "extension", "inlineExtension", "syncBlock"}
)
_NEEDS_CONTENT = frozenset(_CHILDREN) - {"paragraph", "heading", "codeBlock", "taskItem", "decisionItem", "caption"}
_MAY_BE_EMPTY = frozenset({"doc", "tableRow", "layoutSection"})
_NEEDS_ATTRS = frozenset(
    {"heading", "panel", "taskList", "taskItem", "blockTaskItem", "decisionList", "decisionItem", "mention"}
    | {"emoji", "status", "date", "inlineCard", "blockCard", "embedCard", "media", "mediaInline", "placeholder"}
    | {"extension", "inlineExtension", "bodiedExtension", "layoutColumn", "nestedExpand", "syncBlock"}
    | {"bodiedSyncBlock"}
)
_TEXT_MARKS = frozenset(
    {"code", "em", "link", "strike", "strong", "subsup", "textColor", "underline", "backgroundColor", "annotation"}
)
_NODE_MARKS: dict[str, frozenset[str]] = {
    "paragraph": frozenset({"alignment", "indentation", "fontSize"}),
    "heading": frozenset({"alignment", "indentation"}),
    "codeBlock": frozenset({"breakout"}),
    "expand": frozenset({"breakout"}),
    "layoutSection": frozenset({"breakout"}),
    "syncBlock": frozenset({"breakout"}),
    "bodiedSyncBlock": frozenset({"breakout"}),
    "table": frozenset({"fragment"}),
    "mediaSingle": frozenset({"link"}),
    "media": frozenset({"link", "annotation", "border", "dataConsumer"}),
    "mediaInline": frozenset({"link", "annotation", "border", "dataConsumer"}),
    "extension": frozenset({"dataConsumer", "fragment"}),
    "inlineExtension": frozenset({"dataConsumer", "fragment"}),
    "bodiedExtension": frozenset({"dataConsumer", "fragment"}),
}
_PANEL_TYPES = frozenset({"info", "note", "tip", "warning", "error", "success", "custom"})
_STATUS_COLOR = re.compile(r"neutral|purple|blue|red|yellow|green|#[0-9a-fA-F]{6}")
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_MAX_ERRORS = 20
_MAX_DEPTH = 100


def validate_adf(value: object) -> list[str]:
    """What is wrong with `value` as an ADF v1 document, one message per problem (empty when valid)."""
    if isinstance(value, str):
        return [
            "expected an Atlassian Document Format object "
            '({"type": "doc", "version": 1, "content": [...]}), got a string; '
            "API v3 does not accept plain text, Markdown or wiki markup in rich-text fields"
        ]
    if not isinstance(value, dict):
        return [f"expected an Atlassian Document Format object, got {_json_kind(value)}"]
    errors: list[str] = []
    if value.get("type") != "doc":
        errors.append(f"doc: the root node must have type 'doc', got {_describe(value.get('type'))}")
        return errors
    if value.get("version") != 1 or isinstance(value.get("version"), bool):
        errors.append(f"doc: 'version' must be 1, got {_describe(value.get('version'))}")
    if not isinstance(value.get("content"), list):
        errors.append("doc: 'content' must be an array of block nodes")
        return errors
    _check_node(value, "doc", "doc", 0, errors)
    return errors[:_MAX_ERRORS]


def _check_node(node: Node, path: str, parent: str, depth: int, errors: list[str]) -> None:
    if len(errors) >= _MAX_ERRORS:
        return
    if depth > _MAX_DEPTH:
        errors.append(f"{path}: the document is nested too deeply")
        return
    kind = node.get("type")
    if not isinstance(kind, str):
        errors.append(f"{path}: node has no 'type'")
        return
    if kind not in _CHILDREN and kind not in _LEAVES:
        errors.append(f"{path}: unknown node type '{kind}'")
        return
    allowed = {"type", "content", "attrs", "marks"} | ({"text"} if kind == "text" else set())
    allowed |= {"version"} if kind == "doc" else set()
    for key in node:
        if key not in allowed:
            errors.append(f"{path}: '{kind}' has an unexpected property '{key}'")
    _check_attrs(kind, node, path, errors)
    _check_marks(kind, node, path, parent, errors)
    if kind == "text":
        text = node.get("text")
        if not isinstance(text, str):
            errors.append(f"{path}: text node needs a 'text' string")
        elif not text:
            errors.append(f"{path}: text node 'text' must not be empty")
    content = node.get("content")
    children = _CHILDREN.get(kind)
    if children is None:
        if content is not None and content != []:
            errors.append(f"{path}: '{kind}' cannot have content")
        return
    if content is None:
        if kind in _NEEDS_CONTENT:
            errors.append(f"{path}: '{kind}' needs a 'content' array")
        return
    if not isinstance(content, list):
        errors.append(f"{path}: '{kind}' content must be an array, got {_json_kind(content)}")
        return
    if not content and kind in _NEEDS_CONTENT and kind not in _MAY_BE_EMPTY:
        errors.append(f"{path}: '{kind}' needs at least one child node")
    for index, child in enumerate(content):
        child_path = f"{path}.content[{index}]"
        if not isinstance(child, dict):
            errors.append(f"{child_path}: expected a node object, got {_json_kind(child)}")
            continue
        child_type = child.get("type")
        known = isinstance(child_type, str) and (child_type in _CHILDREN or child_type in _LEAVES)
        if known and child_type not in children:
            hint = ""
            if child_type in _INLINE and not children & _INLINE:
                hint = " (inline content must be wrapped in a block such as a paragraph)"
            elif kind in _INLINE | {"paragraph", "heading"}:
                hint = " (only inline nodes go here)"
            errors.append(f"{child_path}: '{child_type}' is not allowed inside '{kind}'{hint}")
            continue
        _check_node(child, child_path, kind, depth + 1, errors)


def _check_attrs(kind: str, node: Node, path: str, errors: list[str]) -> None:
    attrs = node.get("attrs")
    if attrs is None:
        if kind in _NEEDS_ATTRS:
            errors.append(f"{path}: '{kind}' needs 'attrs'")
        return
    if not isinstance(attrs, dict):
        errors.append(f"{path}: '{kind}' attrs must be an object")
        return

    def need_string(*names: str, empty_ok: bool = False) -> None:
        for name in names:
            value = attrs.get(name)
            if not isinstance(value, str) or (not value and not empty_ok):
                errors.append(f"{path}: '{kind}' needs attrs.{name} (a {'' if empty_ok else 'non-empty '}string)")

    if kind == "heading":
        level = attrs.get("level")
        if isinstance(level, bool) or not isinstance(level, int | float) or not 1 <= level <= 6:
            errors.append(f"{path}: heading attrs.level must be a number from 1 to 6, got {_describe(level)}")
    elif kind == "orderedList" and "order" in attrs:
        order = attrs["order"]
        if isinstance(order, bool) or not isinstance(order, int | float) or order < 0:
            errors.append(f"{path}: orderedList attrs.order must be a number >= 0, got {_describe(order)}")
    elif kind == "panel" and attrs.get("panelType") not in _PANEL_TYPES:
        errors.append(f"{path}: panel attrs.panelType must be one of {sorted(_PANEL_TYPES)}")
    elif kind in ("taskList", "decisionList", "syncBlock", "bodiedSyncBlock"):
        need_string("localId", empty_ok=True)
        if kind.endswith("SyncBlock") or kind == "syncBlock":
            need_string("resourceId", empty_ok=True)
    elif kind in ("taskItem", "blockTaskItem"):
        need_string("localId", empty_ok=True)
        if attrs.get("state") not in ("TODO", "DONE"):
            errors.append(f"{path}: {kind} attrs.state must be 'TODO' or 'DONE'")
    elif kind == "decisionItem":
        need_string("localId", "state", empty_ok=True)
    elif kind == "mention":
        need_string("id", empty_ok=True)
    elif kind == "emoji":
        need_string("shortName", empty_ok=True)
    elif kind == "status":
        need_string("text")
        if not isinstance(attrs.get("color"), str) or not _STATUS_COLOR.fullmatch(attrs["color"]):
            errors.append(f"{path}: status attrs.color must be neutral, purple, blue, red, yellow, green or #rrggbb")
    elif kind == "date":
        need_string("timestamp")
    elif kind in ("inlineCard", "blockCard"):
        if not isinstance(attrs.get("url"), str) and "data" not in attrs and "datasource" not in attrs:
            errors.append(f"{path}: {kind} needs attrs.url (or attrs.data)")
    elif kind == "embedCard":
        need_string("url", "layout", empty_ok=True)
    elif kind == "media":
        if attrs.get("type") == "external":
            need_string("url", empty_ok=True)
        elif attrs.get("type") in ("file", "link"):
            need_string("id")
            need_string("collection", empty_ok=True)
        else:
            errors.append(f"{path}: media attrs.type must be 'file', 'link' or 'external'")
    elif kind == "mediaInline":
        need_string("id")
        need_string("collection", empty_ok=True)
    elif kind == "placeholder":
        need_string("text", empty_ok=True)
    elif kind in ("extension", "inlineExtension", "bodiedExtension"):
        need_string("extensionKey", "extensionType")
    elif kind == "layoutColumn":
        width = attrs.get("width")
        if isinstance(width, bool) or not isinstance(width, int | float) or not 0 <= width <= 100:
            errors.append(f"{path}: layoutColumn attrs.width must be a number from 0 to 100")
    elif kind == "codeBlock" and "language" in attrs and not isinstance(attrs["language"], str):
        errors.append(f"{path}: codeBlock attrs.language must be a string")
    elif kind in ("expand", "nestedExpand") and "title" in attrs and not isinstance(attrs["title"], str):
        errors.append(f"{path}: {kind} attrs.title must be a string")


def _check_marks(kind: str, node: Node, path: str, parent: str, errors: list[str]) -> None:
    marks = node.get("marks")
    if marks is None:
        return
    if not isinstance(marks, list):
        errors.append(f"{path}: marks must be an array")
        return
    allowed = _TEXT_MARKS if kind == "text" else _NODE_MARKS.get(kind, frozenset())
    if kind == "text" and parent == "codeBlock" and marks:
        errors.append(f"{path}: text inside a codeBlock cannot have marks")
        return
    seen: set[str] = set()
    for index, mark in enumerate(marks):
        mark_path = f"{path}.marks[{index}]"
        mark_type = mark.get("type") if isinstance(mark, dict) else None
        if not isinstance(mark, dict) or not isinstance(mark_type, str):
            errors.append(f"{mark_path}: a mark must be an object with a 'type'")
            continue
        if mark_type not in allowed:
            errors.append(f"{mark_path}: mark '{mark_type}' is not allowed on '{kind}'")
            continue
        if mark_type in seen:
            errors.append(f"{mark_path}: mark '{mark_type}' appears twice")
        seen.add(mark_type)
        attrs = mark.get("attrs")
        attrs = attrs if isinstance(attrs, dict) else {}
        if mark_type == "link" and not isinstance(attrs.get("href"), str):
            errors.append(f"{mark_path}: link mark needs attrs.href (a string)")
        elif mark_type == "subsup" and attrs.get("type") not in ("sub", "sup"):
            errors.append(f"{mark_path}: subsup mark needs attrs.type 'sub' or 'sup'")
        elif mark_type in ("textColor", "backgroundColor") and not (
            isinstance(attrs.get("color"), str) and _HEX_COLOR.fullmatch(attrs["color"])
        ):
            errors.append(f"{mark_path}: {mark_type} mark needs attrs.color as #rrggbb")
        elif mark_type == "annotation" and not isinstance(attrs.get("id"), str):
            errors.append(f"{mark_path}: annotation mark needs attrs.id")
    if "code" in seen and seen - {"code", "link", "annotation"}:
        others = ", ".join(sorted(seen - {"code", "link", "annotation"}))
        errors.append(f"{path}: the code mark cannot be combined with {others}")


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _describe(value: object) -> str:
    if isinstance(value, str):
        return repr(value[:40])
    return _json_kind(value) if not isinstance(value, int | float) or isinstance(value, bool) else repr(value)


# -- shared walking helpers ---------------------------------------------------------------------------------


def _kind(node: object) -> str:
    kind = node.get("type") if isinstance(node, dict) else None
    return kind if isinstance(kind, str) else ""


def _attrs_of(node: Node) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _content_of(node: Node) -> list[Node]:
    content = node.get("content")
    return [child for child in content if isinstance(child, dict)] if isinstance(content, list) else []


def _text_value(node: Node) -> str:
    text = node.get("text")
    return text if isinstance(text, str) else ""


def _mark_types(node: Node) -> list[tuple[str, dict[str, Any]]]:
    marks = node.get("marks")
    if not isinstance(marks, list):
        return []
    return [(mark["type"], _attrs_of(mark)) for mark in marks if isinstance(mark, dict) and _kind(mark)]


def _flat_text(root: object) -> str:
    """Every text under a node, without recursion (for input nested past any editor's depth)."""
    parts: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if _kind(node) == "text":
                parts.append(_text_value(node))
            content = node.get("content")
            if isinstance(content, list):
                stack.extend(reversed(content))
    return " ".join(part for part in parts if part)


def _iso_date(timestamp: object) -> str:
    try:
        return datetime.fromtimestamp(int(str(timestamp)) / 1000, UTC).date().isoformat()
    except (ValueError, OverflowError, OSError):
        return str(timestamp) if timestamp is not None else ""


# -- HTML (renderedFields) ----------------------------------------------------------------------------------

_SAFE_SCHEME = re.compile(r"(?:https?|mailto|ftp):", re.IGNORECASE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")


def adf_to_html(doc: object) -> str:
    """Render ADF as HTML, as Jira's `renderedFields` do: every text and attribute escaped, only safe links."""
    if not isinstance(doc, dict):
        return ""
    return _html_node(doc, 0)


def _escape(text: object) -> str:
    return html.escape(text if isinstance(text, str) else "" if text is None else str(text), quote=True)


def _safe_href(href: object) -> str | None:
    if not isinstance(href, str):
        return None
    # Browsers ignore control characters and spaces inside a scheme ("java\tscript:"), so judge it without them.
    squeezed = _CONTROL.sub("", href)
    if _SCHEME.match(squeezed) and not _SAFE_SCHEME.match(squeezed):
        return None
    return href


def _html_children(node: Node, depth: int) -> str:
    return "".join(_html_node(child, depth + 1) for child in _content_of(node))


def _html_node(node: Node, depth: int) -> str:
    if depth > _MAX_DEPTH:
        return _escape(_flat_text(node))
    kind = _kind(node)
    attrs = _attrs_of(node)
    inner = _html_children(node, depth) if kind != "text" else ""
    simple = {
        "paragraph": "p",
        "bulletList": "ul",
        "listItem": "li",
        "blockquote": "blockquote",
        "tableRow": "tr",
        "tableCell": "td",
        "tableHeader": "th",
    }
    if kind == "text":
        return _html_text(node)
    if kind in simple:
        tag = simple[kind]
        return f"<{tag}>{inner}</{tag}>"
    if kind == "doc":
        return inner
    if kind == "heading":
        level = attrs.get("level")
        level = min(max(int(level), 1), 6) if isinstance(level, int) and not isinstance(level, bool) else 1
        return f"<h{level}>{inner}</h{level}>"
    if kind == "orderedList":
        order = attrs.get("order")
        start = f' start="{int(order)}"' if isinstance(order, int) and not isinstance(order, bool) else ""
        return f"<ol{start}>{inner}</ol>"
    if kind == "codeBlock":
        language = attrs.get("language")
        css = f' class="language-{_escape(language)}"' if isinstance(language, str) and language else ""
        code = "".join(_text_value(child) for child in _content_of(node))
        return f"<pre><code{css}>{_escape(code)}</code></pre>"
    if kind == "rule":
        return "<hr />"
    if kind == "hardBreak":
        return "<br />"
    if kind == "table":
        return f'<div class="table-wrap"><table class="confluenceTable"><tbody>{inner}</tbody></table></div>'
    if kind == "panel":
        panel_type = attrs.get("panelType") if attrs.get("panelType") in _PANEL_TYPES else "info"
        return f'<div class="panel panel-{panel_type}">{inner}</div>'
    if kind in ("expand", "nestedExpand"):
        return f"<details><summary>{_escape(attrs.get('title'))}</summary>{inner}</details>"
    if kind in ("taskList", "decisionList"):
        return f'<ul class="{kind}">{inner}</ul>'
    if kind in ("taskItem", "blockTaskItem", "decisionItem"):
        done = attrs.get("state") in ("DONE", "DECIDED")
        return f'<li data-state="{"DONE" if done else "TODO"}">{inner}</li>'
    if kind == "mention":
        name = str(attrs.get("text") or attrs.get("id") or "").lstrip("@")
        return f'<a class="user-hover" rel="{_escape(attrs.get("id"))}">@{_escape(name)}</a>'
    if kind == "emoji":
        return _escape(attrs.get("text") or attrs.get("shortName"))
    if kind == "status":
        return f'<span class="aui-lozenge">{_escape(str(attrs.get("text") or "").upper())}</span>'
    if kind == "date":
        return f"<time>{_escape(_iso_date(attrs.get('timestamp')))}</time>"
    if kind in ("inlineCard", "blockCard", "embedCard"):
        href = _safe_href(attrs.get("url"))
        return f'<a href="{_escape(href)}">{_escape(href)}</a>' if href else ""
    if kind in ("media", "mediaInline"):
        return f'<span class="attachment">{_escape(attrs.get("alt") or "attachment")}</span>'
    if kind == "placeholder":
        return ""
    return inner or _escape(attrs.get("text") if isinstance(attrs.get("text"), str) else "")


def _html_text(node: Node) -> str:
    out = _escape(_text_value(node)).replace("\n", "<br />")
    wrap = {"strong": "b", "em": "em", "strike": "del", "code": "code", "underline": "ins"}
    for mark, attrs in _mark_types(node):
        if mark in wrap:
            out = f"<{wrap[mark]}>{out}</{wrap[mark]}>"
        elif mark == "subsup" and attrs.get("type") in ("sub", "sup"):
            out = f"<{attrs['type']}>{out}</{attrs['type']}>"
        elif mark == "textColor" and isinstance(attrs.get("color"), str) and _HEX_COLOR.fullmatch(attrs["color"]):
            out = f'<span style="color: {attrs["color"]}">{out}</span>'
    for mark, attrs in _mark_types(node):
        href = _safe_href(attrs.get("href")) if mark == "link" else None
        if href is not None:
            out = f'<a href="{_escape(href)}" class="external-link" rel="nofollow noreferrer">{out}</a>'
    return out


# -- Jira wiki markup (Server/DC API v2) --------------------------------------------------------------------

_WIKI_DELIMITERS = {"strong": "*", "em": "_", "strike": "-", "underline": "+", "sup": "^", "sub": "~"}
_WIKI_MARKS = {char: mark for mark, char in _WIKI_DELIMITERS.items()}
_WIKI_RANK = {"link": 0, "strong": 1, "em": 2, "strike": 3, "underline": 4, "sup": 5, "sub": 6}
_WIKI_BLOCK_WORD = re.compile(r"^([ \t]*(?:h[1-6]|bq))\.", re.MULTILINE)
_WIKI_LINE_START = re.compile(r"^([ \t]*)([*#-]+(?=[ \t])|-{4,}[ \t]*$|\|)", re.MULTILINE)
_WIKI_LIST = re.compile(r"^[ \t]*([*#]+|-)[ \t]+(.*)$")
_WIKI_HEADING = re.compile(r"^[ \t]*h([1-6])\.[ \t]*(.*)$")
_WIKI_MACRO = re.compile(r"^[ \t]*\{(code|noformat|quote|panel)(?::([^}]*))?\}(.*)$")


def adf_to_wiki(doc: object) -> str:
    """Render ADF as Jira wiki markup (what the v2 API returns for rich-text fields)."""
    if not isinstance(doc, dict):
        return ""
    blocks = _content_of(doc) if _kind(doc) == "doc" else [doc]
    return _wiki_blocks(blocks, 0)


def _wiki_blocks(nodes: list[Node], depth: int) -> str:
    parts = [_wiki_block(node, depth) for node in nodes]
    return "\n\n".join(part for part in parts if part)


def _wiki_block(node: Node, depth: int) -> str:
    if depth > _MAX_DEPTH:
        return _wiki_escape(_flat_text(node))
    kind = _kind(node)
    attrs = _attrs_of(node)
    if kind == "paragraph" or kind in _INLINE:
        return _wiki_line_starts(_wiki_inline(_content_of(node) if kind == "paragraph" else [node]))
    if kind == "heading":
        level = attrs.get("level")
        level = min(max(int(level), 1), 6) if isinstance(level, int) and not isinstance(level, bool) else 1
        return f"h{level}. " + _wiki_inline(_content_of(node)).replace("\n", " ")
    if kind in ("bulletList", "orderedList", "taskList", "decisionList"):
        return "\n".join(_wiki_list(node, "", depth))
    if kind == "codeBlock":
        language = attrs.get("language")
        named = isinstance(language, str) and re.fullmatch(r"[\w+#.-]+", language)
        head = f"{{code:{language}}}" if named else "{code}"
        return head + "\n" + "".join(_text_value(child) for child in _content_of(node)) + "\n{code}"
    if kind == "blockquote":
        return "{quote}\n" + _wiki_blocks(_content_of(node), depth + 1) + "\n{quote}"
    if kind == "panel":
        panel_type = attrs.get("panelType") if attrs.get("panelType") in _PANEL_TYPES else "info"
        return f"{{panel:title={panel_type}}}\n" + _wiki_blocks(_content_of(node), depth + 1) + "\n{panel}"
    if kind == "rule":
        return "----"
    if kind == "table":
        return "\n".join(_wiki_row(row, depth) for row in _content_of(node))
    if kind in ("expand", "nestedExpand") and isinstance(attrs.get("title"), str) and attrs["title"]:
        return f"*{_wiki_escape(attrs['title'])}*\n" + _wiki_blocks(_content_of(node), depth + 1)
    if kind in ("blockCard", "embedCard"):
        url = attrs.get("url")
        return f"[{url}]" if isinstance(url, str) and url else ""
    if kind in ("media", "mediaSingle", "mediaGroup"):
        return "\\[attachment\\]"
    return _wiki_blocks(_content_of(node), depth + 1)


def _wiki_list(node: Node, prefix: str, depth: int) -> list[str]:
    marker = prefix + ("#" if _kind(node) == "orderedList" else "*")
    lines: list[str] = []
    for item in _content_of(node):
        kind = _kind(item)
        if kind in ("bulletList", "orderedList", "taskList"):
            lines.extend(_wiki_list(item, prefix if kind == "taskList" else marker, depth + 1))
            continue
        texts: list[str] = []
        nested: list[str] = []
        if kind in ("taskItem", "decisionItem"):
            box = "\\[x\\] " if _attrs_of(item).get("state") in ("DONE", "DECIDED") else "\\[ \\] "
            texts.append(box + _wiki_inline(_content_of(item)))
        for child in _content_of(item) if kind not in ("taskItem", "decisionItem") else []:
            child_kind = _kind(child)
            if child_kind in ("bulletList", "orderedList", "taskList"):
                nested.extend(_wiki_list(child, marker, depth + 1))
            elif child_kind == "codeBlock":
                code = "".join(_text_value(text) for text in _content_of(child)).replace("\n", " ")
                texts.append("{{" + code + "}}")
            else:
                texts.append(_wiki_block(child, depth + 1).replace("\n", " \\\\ "))
        lines.append(f"{marker} " + " \\\\ ".join(text for text in texts if text))
        lines.extend(nested)
    return lines


def _wiki_row(row: Node, depth: int) -> str:
    cells: list[str] = []
    for cell in _content_of(row):
        bar = "||" if _kind(cell) == "tableHeader" else "|"
        text = _wiki_blocks(_content_of(cell), depth + 1).replace("\n\n", " \\\\ ").replace("\n", " \\\\ ")
        cells.append(bar + (text or " "))
    closing = "||" if _content_of(row) and _kind(_content_of(row)[-1]) == "tableHeader" else "|"
    return "".join(cells) + closing


def _wiki_inline(nodes: list[Node]) -> str:
    out: list[str] = []
    stack: list[tuple[str, str]] = []
    for node in nodes:
        kind = _kind(node)
        keys: list[tuple[str, str]] = []
        if kind == "text":
            marks = _mark_types(node)
            text = _text_value(node)
            code = any(mark == "code" for mark, _ in marks)
            piece = "{{" + text.replace("}}", "} }") + "}}" if code else _wiki_escape(text)
            for mark, attrs in marks:
                if mark == "link" and isinstance(attrs.get("href"), str) and attrs["href"]:
                    keys.append(("link", attrs["href"]))
                elif mark == "subsup" and attrs.get("type") in ("sub", "sup"):
                    keys.append((attrs["type"], ""))
                elif mark in _WIKI_DELIMITERS:
                    keys.append((mark, ""))
            keys = sorted(set(keys), key=lambda key: _WIKI_RANK[key[0]])
        elif kind == "hardBreak":
            piece = "\n"
        elif kind == "mention":
            piece = f"[~accountid:{_attrs_of(node).get('id', '')}]"
        elif kind == "emoji":
            piece = str(_attrs_of(node).get("shortName") or "")
        elif kind == "status":
            piece = "\\[" + _wiki_escape(str(_attrs_of(node).get("text") or "").upper()) + "\\]"
        elif kind == "date":
            piece = _iso_date(_attrs_of(node).get("timestamp"))
        elif kind == "inlineCard":
            url = _attrs_of(node).get("url")
            piece = f"[{url}]" if isinstance(url, str) and url else ""
        elif kind == "mediaInline":
            piece = "\\[attachment\\]"
        else:
            piece = _wiki_escape(_flat_text(node))
        if not piece:
            continue
        keep = 0
        while keep < len(stack) and keep < len(keys) and stack[keep] == keys[keep]:
            keep += 1
        _wiki_close(out, stack[keep:])
        stripped = piece.lstrip() if keys[keep:] else piece
        out.append(piece[: len(piece) - len(stripped)])
        if keys == [("link", stripped)] and kind == "text":
            stripped, keys = f"[{stripped}]", []  # a bare URL
        out.extend("[" if key[0] == "link" else _WIKI_DELIMITERS[key[0]] for key in keys[keep:])
        out.append(stripped)
        stack = keys
    _wiki_close(out, stack)
    return "".join(out)


def _wiki_close(out: list[str], keys: list[tuple[str, str]]) -> None:
    if not keys:
        return
    trailing = ""
    while out:
        stripped = out[-1].rstrip()
        trailing = out[-1][len(stripped) :] + trailing
        if stripped:
            out[-1] = stripped
            break
        out.pop()
    for key in reversed(keys):
        out.append(f"|{key[1]}]" if key[0] == "link" else _WIKI_DELIMITERS[key[0]])
    out.append(trailing)


def _wiki_escape(text: str) -> str:
    out: list[str] = []
    for index, char in enumerate(text):
        before = text[index - 1] if index else ""
        after = text[index + 1] if index + 1 < len(text) else ""
        if char in _WIKI_MARKS:
            needed = _can_open(before, after, char) or _can_close(before, after)
        elif char == "\\":
            needed = after == "" or not (after.isalnum() or after.isspace())
        else:
            needed = char in "[]{}|!"
        out.append("\\" + char if needed else char)
    return "".join(out)


def _wiki_line_starts(text: str) -> str:
    text = _WIKI_BLOCK_WORD.sub(lambda match: match.group(1) + "\\.", text)
    return _WIKI_LINE_START.sub(lambda match: match.group(1) + "\\" + match.group(2), text)


def _can_open(before: str, after: str, char: str) -> bool:
    return not before.isalnum() and after != "" and not after.isspace() and after != char


def _can_close(before: str, after: str) -> bool:
    return before != "" and not before.isspace() and not after.isalnum()


def wiki_to_adf(text: str) -> Node:
    """Parse Jira wiki markup into an ADF document (what the v2 API accepts for rich-text fields)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return {"type": "doc", "version": 1, "content": _wiki_parse_blocks(lines, 0)}


def _wiki_parse_blocks(lines: list[str], depth: int) -> list[Node]:
    blocks: list[Node] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            inline: list[Node] = []
            for index, line in enumerate(paragraph):
                if index:
                    inline.append({"type": "hardBreak"})
                inline.extend(_wiki_inline_text(line.strip()))
            blocks.append({"type": "paragraph", "content": _merge_text(inline)})
            paragraph.clear()

    index = 0
    while index < len(lines):
        line = lines[index]
        macro = _WIKI_MACRO.match(line)
        heading = _WIKI_HEADING.match(line)
        if not line.strip():
            flush()
        elif macro and depth < _MAX_DEPTH:
            flush()
            name, params, rest = macro.group(1), macro.group(2) or "", macro.group(3)
            body, index = _wiki_macro_body(lines, index, name, rest)
            blocks.append(_wiki_macro(name, params, body, depth))
        elif heading:
            flush()
            content = _wiki_inline_text(heading.group(2))
            blocks.append({"type": "heading", "attrs": {"level": int(heading.group(1))}, "content": content})
        elif re.fullmatch(r"[ \t]*-{4,}[ \t]*", line):
            flush()
            blocks.append({"type": "rule"})
        elif line.lstrip().startswith("bq. "):
            flush()
            quoted = {"type": "paragraph", "content": _wiki_inline_text(line.lstrip()[4:])}
            blocks.append({"type": "blockquote", "content": [quoted]})
        elif _WIKI_LIST.match(line):
            flush()
            end = index
            while end < len(lines) and _WIKI_LIST.match(lines[end]):
                end += 1
            blocks.extend(_wiki_parse_list(lines[index:end]))
            index = end - 1
        elif line.lstrip().startswith("|"):
            flush()
            end = index
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                end += 1
            rows = [_wiki_parse_row(row.strip()) for row in lines[index:end]]
            blocks.append({"type": "table", "content": rows})
            index = end - 1
        else:
            paragraph.append(line)
        index += 1
    flush()
    return blocks


def _wiki_macro_body(lines: list[str], index: int, name: str, rest: str) -> tuple[list[str], int]:
    closing = "{" + name + "}"
    if closing in rest:
        return [rest[: rest.index(closing)]], index
    body = [rest] if rest.strip() else []
    index += 1
    while index < len(lines):
        if closing in lines[index]:
            before = lines[index][: lines[index].index(closing)]
            if before.strip():
                body.append(before)
            return body, index
        body.append(lines[index])
        index += 1
    return body, index


def _wiki_macro(name: str, params: str, body: list[str], depth: int) -> Node:
    if name in ("code", "noformat"):
        code = "\n".join(body)
        node: Node = {"type": "codeBlock", "content": [{"type": "text", "text": code}] if code else []}
        language = next((param for param in params.split("|") if param and "=" not in param), "")
        if name == "code" and language:
            node["attrs"] = {"language": language.strip()}
        return node
    inner = _wiki_parse_blocks(body, depth + 1)
    if name == "panel":
        title = re.search(r"title=([^|]*)", params)
        panel_type = title.group(1).strip().lower() if title else "info"
        allowed = _CHILDREN["panel"]
        content = _fit(inner, allowed)
        return {
            "type": "panel",
            "attrs": {"panelType": panel_type if panel_type in _PANEL_TYPES else "info"},
            "content": content or [{"type": "paragraph", "content": []}],
        }
    content = _fit(inner, _CHILDREN["blockquote"])
    return {"type": "blockquote", "content": content or [{"type": "paragraph", "content": []}]}


def _fit(blocks: list[Node], allowed: frozenset[str]) -> list[Node]:
    """Lower blocks a container may not hold (a heading or table in a quote) to paragraphs of their text."""
    out: list[Node] = []
    for block in blocks:
        if _kind(block) in allowed:
            out.append(block)
        elif _kind(block) == "blockquote":
            out.extend(_fit(_content_of(block), allowed))
        else:
            text = _flat_text(block)
            if text:
                out.append({"type": "paragraph", "content": [{"type": "text", "text": text}]})
    return out


def _wiki_parse_list(lines: list[str]) -> list[Node]:
    top: list[Node] = []
    stack: list[tuple[str, Node]] = []  # (marker char, list node) per depth
    for line in lines:
        match = _WIKI_LIST.match(line)
        if match is None:
            continue
        prefix = match.group(1).replace("-", "*")
        common = 0
        while common < len(stack) and common < len(prefix) and stack[common][0] == prefix[common]:
            common += 1
        del stack[common:]
        while len(stack) < len(prefix):
            char = prefix[len(stack)]
            new_list: Node = {"type": "orderedList" if char == "#" else "bulletList", "content": []}
            if stack:
                parent_items = stack[-1][1]["content"]
                if not parent_items:
                    parent_items.append({"type": "listItem", "content": [{"type": "paragraph", "content": []}]})
                parent_items[-1]["content"].append(new_list)
            else:
                top.append(new_list)
            stack.append((char, new_list))
        paragraph = {"type": "paragraph", "content": _wiki_inline_text(match.group(2))}
        stack[-1][1]["content"].append({"type": "listItem", "content": [paragraph]})
    for node in top:
        _fill_empty_lists(node)
    return top


def _fill_empty_lists(node: Node) -> None:
    if _kind(node) in _LISTS and not node["content"]:
        node["content"].append({"type": "listItem", "content": [{"type": "paragraph", "content": []}]})
    for child in _content_of(node):
        _fill_empty_lists(child)


def _wiki_parse_row(line: str) -> Node:
    cells: list[Node] = []
    index = 0
    while index < len(line):
        header = line.startswith("||", index)
        index += 2 if header else 1
        start, depth_brackets = index, 0
        while index < len(line):
            char = line[index]
            if char == "\\" and index + 1 < len(line):
                index += 2
                continue
            if char == "[":
                depth_brackets += 1
            elif char == "]":
                depth_brackets = max(0, depth_brackets - 1)
            elif char == "|" and depth_brackets == 0:
                break
            index += 1
        raw = line[start:index]
        if index >= len(line) and not raw.strip() and cells:
            break  # the closing bar of the row
        content = _wiki_inline_text(raw.strip())
        cells.append(
            {
                "type": "tableHeader" if header else "tableCell",
                "content": [{"type": "paragraph", "content": content}],
            }
        )
        if index < len(line) and line.startswith("||", index) and not header and index + 2 >= len(line):
            break
    return {"type": "tableRow", "content": cells}


def _wiki_inline_text(text: str) -> list[Node]:
    out: list[Node] = []
    for index, part in enumerate(re.split(r"(?<!\\)\\\\", text)):
        if index:
            out.append({"type": "hardBreak"})
        out.extend(_wiki_parse_inline(part.strip() if index else part, []))
    return _merge_text(out)


def _wiki_parse_inline(text: str, marks: list[Node]) -> list[Node]:
    out: list[Node] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            out.append(_text_node("".join(buffer), marks))
            buffer.clear()

    index = 0
    while index < len(text):
        char = text[index]
        before = text[index - 1] if index else ""
        after = text[index + 1] if index + 1 < len(text) else ""
        if char == "\\" and after and not after.isalnum() and not after.isspace():
            buffer.append(after)
            index += 2
            continue
        if text.startswith("{{", index):
            end = text.find("}}", index + 2)
            if end > index + 2:
                flush()
                links = [mark for mark in marks if mark["type"] == "link"]
                out.append(_text_node(text[index + 2 : end], [*links, {"type": "code"}]))
                index = end + 2
                continue
        if char == "[":
            end = _closing_bracket(text, index)
            inner = text[index + 1 : end] if end > index + 1 else ""
            if inner.strip():
                flush()
                out.extend(_wiki_link(inner, marks))
                index = end + 1
                continue
        if char in _WIKI_MARKS and _can_open(before, after, char):
            end = _closing_delimiter(text, index, char)
            if end > 0:
                flush()
                mark_name = _WIKI_MARKS[char]
                mark: Node = {"type": mark_name}
                if mark_name in ("sub", "sup"):
                    mark = {"type": "subsup", "attrs": {"type": mark_name}}
                out.extend(_wiki_parse_inline(text[index + 1 : end], [*marks, mark]))
                index = end + 1
                continue
        buffer.append(char)
        index += 1
    flush()
    return out


def _wiki_link(inner: str, marks: list[Node]) -> list[Node]:
    if inner.startswith("~"):
        account = inner[1:].removeprefix("accountid:")
        return [{"type": "mention", "attrs": {"id": account, "text": "@" + account}}]
    parts = inner.split("|")
    label, href = (parts[0], parts[1].strip()) if len(parts) > 1 else (inner, inner.strip())
    link = {"type": "link", "attrs": {"href": href}}
    if len(parts) == 1:
        return [_text_node(inner, [*marks, link])]
    return _wiki_parse_inline(label, [*marks, link])


def _closing_bracket(text: str, start: int) -> int:
    index = start + 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == "]":
            return index
        index += 1
    return -1


def _closing_delimiter(text: str, start: int, char: str) -> int:
    index = start + 2
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == char and _can_close(text[index - 1], text[index + 1] if index + 1 < len(text) else ""):
            return index
        index += 1
    return -1


def _text_node(text: str, marks: list[Node]) -> Node:
    node: Node = {"type": "text", "text": text}
    if marks:
        by_type = {mark["type"]: mark for mark in marks}
        if "code" in by_type:
            by_type = {key: value for key, value in by_type.items() if key in ("code", "link")}
        node["marks"] = list(by_type.values())
    return node


def _merge_text(inline: list[Node]) -> list[Node]:
    out: list[Node] = []
    for node in inline:
        if not (_kind(node) != "text" or _text_value(node)):
            continue
        last = out[-1] if out else None
        if last is not None and _kind(node) == _kind(last) == "text" and last.get("marks") == node.get("marks"):
            out[-1] = {**last, "text": last["text"] + node["text"]}
        else:
            out.append(node)
    return out
