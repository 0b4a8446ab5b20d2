"""ADF to HTML, as Jira's `expand=renderedFields` renders rich text: every text and attribute escaped, only
links with a safe scheme kept."""

from __future__ import annotations

import html
import re

from policyarc.sim.atlassian.adf import HEX_COLOR, PANEL_TYPES
from policyarc.sim.atlassian.adf_nodes import (
    MAX_DEPTH,
    Node,
    attrs_of,
    content_of,
    flat_text,
    iso_date,
    mark_types,
    node_type,
    text_value,
)

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
    return "".join(_html_node(child, depth + 1) for child in content_of(node))


def _html_node(node: Node, depth: int) -> str:
    if depth > MAX_DEPTH:
        return _escape(flat_text(node))
    kind = node_type(node)
    attrs = attrs_of(node)
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
        code = "".join(text_value(child) for child in content_of(node))
        return f"<pre><code{css}>{_escape(code)}</code></pre>"
    if kind == "rule":
        return "<hr />"
    if kind == "hardBreak":
        return "<br />"
    if kind == "table":
        return f'<div class="table-wrap"><table class="confluenceTable"><tbody>{inner}</tbody></table></div>'
    if kind == "panel":
        panel_type = attrs.get("panelType") if attrs.get("panelType") in PANEL_TYPES else "info"
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
        return f"<time>{_escape(iso_date(attrs.get('timestamp')))}</time>"
    if kind in ("inlineCard", "blockCard", "embedCard"):
        href = _safe_href(attrs.get("url"))
        return f'<a href="{_escape(href)}">{_escape(href)}</a>' if href else ""
    if kind in ("media", "mediaInline"):
        return f'<span class="attachment">{_escape(attrs.get("alt") or "attachment")}</span>'
    if kind == "placeholder":
        return ""
    return inner or _escape(attrs.get("text") if isinstance(attrs.get("text"), str) else "")


def _html_text(node: Node) -> str:
    out = _escape(text_value(node)).replace("\n", "<br />")
    wrap = {"strong": "b", "em": "em", "strike": "del", "code": "code", "underline": "ins"}
    for mark, attrs in mark_types(node):
        if mark in wrap:
            out = f"<{wrap[mark]}>{out}</{wrap[mark]}>"
        elif mark == "subsup" and attrs.get("type") in ("sub", "sup"):
            out = f"<{attrs['type']}>{out}</{attrs['type']}>"
        elif mark == "textColor" and isinstance(attrs.get("color"), str) and HEX_COLOR.fullmatch(attrs["color"]):
            out = f'<span style="color: {attrs["color"]}">{out}</span>'
    for mark, attrs in mark_types(node):
        href = _safe_href(attrs.get("href")) if mark == "link" else None
        if href is not None:
            out = f'<a href="{_escape(href)}" class="external-link" rel="nofollow noreferrer">{out}</a>'
    return out
