"""Atlassian Document Format (ADF) on the way in and out: structural validation and a small HTML renderer.

Validation is structural, as Jira's own check is: a `doc` of version 1 whose nodes and marks are ADF types,
text nodes carrying non-empty text. It does not enforce every content rule of the full ADF schema.
"""

from __future__ import annotations

from html import escape
from typing import Any

NOT_A_DOCUMENT = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
MAX_DEPTH = 48  # deeper than any editor produces; keeps recursion bounded for hostile input

NODE_TYPES = frozenset(
    {
        "doc", "paragraph", "text", "heading", "bulletList", "orderedList", "listItem", "codeBlock",
        "blockquote", "rule", "hardBreak", "mention", "emoji", "panel", "table", "tableRow", "tableHeader",
        "tableCell", "mediaSingle", "mediaGroup", "media", "mediaInline", "caption", "inlineCard", "blockCard",
        "embedCard", "date", "status", "expand", "nestedExpand", "taskList", "taskItem", "decisionList",
        "decisionItem", "layoutSection", "layoutColumn", "placeholder", "extension", "bodiedExtension",
        "inlineExtension", "multiBodiedExtension", "extensionFrame",
    }
)  # fmt: skip
MARK_TYPES = frozenset(
    {
        "strong", "em", "code", "strike", "underline", "link", "textColor", "subsup", "backgroundColor",
        "border", "alignment", "indentation", "annotation", "breakout", "dataConsumer", "fragment",
    }
)  # fmt: skip

_BLOCK_TAGS = {
    "paragraph": "p",
    "bulletList": "ul",
    "orderedList": "ol",
    "listItem": "li",
    "blockquote": "blockquote",
    "table": "table",
    "tableRow": "tr",
    "tableHeader": "th",
    "tableCell": "td",
}
_MARK_TAGS = {"strong": "b", "em": "em", "code": "tt", "strike": "del", "underline": "ins"}


def is_document(value: Any) -> bool:
    """True when `value` is an ADF document Jira would accept for a rich-text field."""
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
        and all(_valid_node(child, 1) for child in value["content"])
    )


def _valid_node(node: Any, depth: int) -> bool:
    if depth > MAX_DEPTH or not isinstance(node, dict):
        return False
    kind = node.get("type")
    if kind not in NODE_TYPES or kind == "doc":
        return False
    if kind == "text":
        text = node.get("text")
        if not isinstance(text, str) or not text:
            return False
    if "attrs" in node and not isinstance(node["attrs"], dict):
        return False
    marks = node.get("marks", [])
    if not isinstance(marks, list) or not all(
        isinstance(mark, dict) and mark.get("type") in MARK_TYPES for mark in marks
    ):
        return False
    content = node.get("content", [])
    return isinstance(content, list) and all(_valid_node(child, depth + 1) for child in content)


def to_html(doc: dict[str, Any] | None) -> str | None:
    """Jira's `renderedFields` form of a rich-text value (None stays None)."""
    if doc is None:
        return None
    return "".join(_html(child) for child in doc.get("content", []) if isinstance(child, dict))


def _children(node: dict[str, Any]) -> str:
    return "".join(_html(child) for child in node.get("content", []) if isinstance(child, dict))


def _html(node: dict[str, Any]) -> str:
    kind = node.get("type")
    attrs: dict[str, Any] = node["attrs"] if isinstance(node.get("attrs"), dict) else {}
    if kind == "text":
        return _marked(escape(str(node.get("text", ""))), node.get("marks", []))
    if kind in _BLOCK_TAGS:
        tag = _BLOCK_TAGS[kind]
        return f"<{tag}>{_children(node)}</{tag}>"
    if kind == "heading":
        level = attrs.get("level", 1) if isinstance(attrs.get("level"), int) else 1
        level = min(max(level, 1), 6)
        return f"<h{level}>{_children(node)}</h{level}>"
    if kind == "codeBlock":
        return f'<div class="code panel"><pre><code>{_children(node)}</code></pre></div>'
    if kind == "rule":
        return "<hr />"
    if kind == "hardBreak":
        return "<br/>"
    if kind == "mention":
        return f'<a class="user-hover">{escape(str(attrs.get("text", "")))}</a>'
    if kind == "emoji":
        return escape(str(attrs.get("text") or attrs.get("shortName", "")))
    if kind in ("inlineCard", "blockCard", "embedCard"):
        url = escape(str(attrs.get("url", "")))
        return f'<a href="{url}">{url}</a>'
    return _children(node)


def _marked(text: str, marks: Any) -> str:
    for mark in marks if isinstance(marks, list) else []:
        if not isinstance(mark, dict):
            continue
        kind = mark.get("type")
        if kind == "link":
            attrs: dict[str, Any] = mark["attrs"] if isinstance(mark.get("attrs"), dict) else {}
            text = f'<a href="{escape(str(attrs.get("href", "")))}" class="external-link" rel="nofollow">{text}</a>'
        elif kind in _MARK_TAGS:
            tag = _MARK_TAGS[kind]
            text = f"<{tag}>{text}</{tag}>"
    return text
