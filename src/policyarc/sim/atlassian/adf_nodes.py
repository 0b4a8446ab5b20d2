"""Reading Atlassian Document Format nodes defensively: the accessors the validator and the renderers share.

Input comes from API callers, so every accessor tolerates a node of the wrong shape (a missing or non-list
`content`, `attrs` that is not an object) and answers an empty value instead of raising.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Node = dict[str, Any]

# How deep the validator and the renderers follow nesting before giving up on the structure.
MAX_DEPTH = 100


def node_type(node: object) -> str:
    """The node's `type`, or "" when it has none."""
    kind = node.get("type") if isinstance(node, dict) else None
    return kind if isinstance(kind, str) else ""


def attrs_of(node: Node) -> dict[str, Any]:
    """The node's `attrs` object ({} when missing or not an object)."""
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def content_of(node: Node) -> list[Node]:
    """The node's child nodes, skipping anything that is not an object."""
    content = node.get("content")
    return [child for child in content if isinstance(child, dict)] if isinstance(content, list) else []


def text_value(node: Node) -> str:
    """A text node's `text` ("" when missing or not a string)."""
    text = node.get("text")
    return text if isinstance(text, str) else ""


def mark_types(node: Node) -> list[tuple[str, dict[str, Any]]]:
    """The node's marks as (type, attrs) pairs, skipping malformed ones."""
    marks = node.get("marks")
    if not isinstance(marks, list):
        return []
    return [(mark["type"], attrs_of(mark)) for mark in marks if isinstance(mark, dict) and node_type(mark)]


def flat_text(root: object) -> str:
    """Every text under a node, without recursion (for input nested past any editor's depth)."""
    parts: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node_type(node) == "text":
                parts.append(text_value(node))
            content = node.get("content")
            if isinstance(content, list):
                stack.extend(reversed(content))
    return " ".join(part for part in parts if part)


def iso_date(timestamp: object) -> str:
    """A date node's timestamp (epoch milliseconds) as YYYY-MM-DD; the raw value when it is not one."""
    try:
        return datetime.fromtimestamp(int(str(timestamp)) / 1000, UTC).date().isoformat()
    except (ValueError, OverflowError, OSError):
        return str(timestamp) if timestamp is not None else ""
