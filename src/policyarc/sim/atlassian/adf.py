"""Atlassian Document Format in the simulator: the schema's node and mark rules, and validation against them.

`plain_text` for JQL `~`; `validate_adf` to answer invalid documents with Jira's 400. The node and mark rules
follow the ADF v1 JSON schema (`@atlaskit/adf-schema`, `json-schema/v1/full.json`); the renderers
(`adf_html`, `adf_wiki`) use the public ones.
"""

from __future__ import annotations

import re
from typing import Any

from policyarc.sim.atlassian.adf_nodes import MAX_DEPTH, Node

# What Jira Cloud answers (in `errors`, under the field name) when a v3 rich-text field is not an ADF document.
INVALID_DOCUMENT_MESSAGE = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


def plain_text(node: dict[str, Any] | None) -> str:
    """The text of an ADF node and its children, blocks separated by newlines (used by JQL `~`)."""
    if not node:
        return ""
    if node.get("type") == "text":
        text = node.get("text")
        return text if isinstance(text, str) else ""  # a malformed node has no text, not the text "None"
    content = node.get("content")
    parts = [plain_text(child) for child in content if isinstance(child, dict)] if isinstance(content, list) else []
    joiner = "\n" if node.get("type") in ("doc", "bulletList", "orderedList", "table", "tableRow") else ""
    return joiner.join(parts)


# -- the schema's rules: which children each node takes, which attrs and marks it needs --------------------

INLINE = frozenset(
    {"text", "date", "emoji", "hardBreak", "inlineCard", "mention", "placeholder", "status", "inlineExtension"}
    | {"mediaInline"}
)
LISTS = frozenset({"bulletList", "orderedList"})
_MEDIA = frozenset({"mediaSingle", "mediaGroup"})
_NON_NESTABLE = frozenset(
    {"paragraph", "panel", "blockquote", "rule", "heading", "codeBlock", "decisionList", "taskList", "table"}
    | {"blockCard", "embedCard", "extension"}
    | LISTS
    | _MEDIA
)
_BLOCK_CONTENT = _NON_NESTABLE | {"expand", "bodiedExtension"}
_CELL = (_NON_NESTABLE - {"table"}) | {"nestedExpand"}
CHILDREN: dict[str, frozenset[str]] = {
    "doc": _BLOCK_CONTENT | {"layoutSection", "syncBlock", "bodiedSyncBlock"},
    "paragraph": INLINE,
    "heading": INLINE,
    "bulletList": frozenset({"listItem"}),
    "orderedList": frozenset({"listItem"}),
    "listItem": frozenset({"paragraph", "taskList", "mediaSingle", "codeBlock", "extension"}) | LISTS,
    "blockquote": frozenset({"paragraph", "codeBlock", "extension"}) | LISTS | _MEDIA,
    "codeBlock": frozenset({"text"}),
    "panel": frozenset({"paragraph", "heading", "blockCard", "codeBlock", "taskList", "rule", "decisionList"})
    | {"extension"}
    | LISTS
    | _MEDIA,
    "table": frozenset({"tableRow"}),
    "tableRow": frozenset({"tableCell", "tableHeader"}),
    "tableCell": _CELL,
    "tableHeader": _CELL,
    "taskList": frozenset({"taskItem", "taskList", "blockTaskItem"}),
    "taskItem": INLINE,
    "blockTaskItem": frozenset({"paragraph", "extension"}),
    "decisionList": frozenset({"decisionItem"}),
    "decisionItem": INLINE,
    "expand": _NON_NESTABLE | {"nestedExpand"},
    "nestedExpand": _CELL - {"table", "blockCard", "embedCard", "nestedExpand"},
    "mediaSingle": frozenset({"media", "caption"}),
    "mediaGroup": frozenset({"media"}),
    "caption": INLINE - {"inlineExtension", "mediaInline"},
    "layoutSection": frozenset({"layoutColumn"}),
    "layoutColumn": _BLOCK_CONTENT,
    "bodiedExtension": _NON_NESTABLE,
    "bodiedSyncBlock": _BLOCK_CONTENT | {"layoutSection"},
}
_LEAVES = frozenset(
    {"text", "hardBreak", "rule", "mention", "emoji", "status", "date", "inlineCard", "blockCard", "embedCard"}
    | {"placeholder", "media", "mediaInline", "extension", "inlineExtension", "syncBlock"}
)
_NEEDS_CONTENT = frozenset(CHILDREN) - {"paragraph", "heading", "codeBlock", "taskItem", "decisionItem", "caption"}
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
PANEL_TYPES = frozenset({"info", "note", "tip", "warning", "error", "success", "custom"})
_STATUS_COLOR = re.compile(r"neutral|purple|blue|red|yellow|green|#[0-9a-fA-F]{6}")
HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_MAX_ERRORS = 20


# -- validation ---------------------------------------------------------------------------------------------


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
    if depth > MAX_DEPTH:
        errors.append(f"{path}: the document is nested too deeply")
        return
    kind = node.get("type")
    if not isinstance(kind, str):
        errors.append(f"{path}: node has no 'type'")
        return
    if kind not in CHILDREN and kind not in _LEAVES:
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
    children = CHILDREN.get(kind)
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
        known = isinstance(child_type, str) and (child_type in CHILDREN or child_type in _LEAVES)
        if known and child_type not in children:
            hint = ""
            if child_type in INLINE and not children & INLINE:
                hint = " (inline content must be wrapped in a block such as a paragraph)"
            elif kind in INLINE | {"paragraph", "heading"}:
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
    elif kind == "panel" and attrs.get("panelType") not in PANEL_TYPES:
        errors.append(f"{path}: panel attrs.panelType must be one of {sorted(PANEL_TYPES)}")
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
            isinstance(attrs.get("color"), str) and HEX_COLOR.fullmatch(attrs["color"])
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
