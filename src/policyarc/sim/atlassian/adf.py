"""Atlassian Document Format helpers for the simulator."""

from __future__ import annotations

from typing import Any


def plain_text(node: dict[str, Any] | None) -> str:
    """The text of an ADF node and its children, blocks separated by newlines (used by JQL `~`)."""
    if not node:
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    parts = [plain_text(child) for child in node.get("content", []) if isinstance(child, dict)]
    joiner = "\n" if node.get("type") in ("doc", "bulletList", "orderedList", "table", "tableRow") else ""
    return joiner.join(parts)
