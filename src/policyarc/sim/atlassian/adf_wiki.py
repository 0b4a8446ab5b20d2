"""ADF to and from Jira wiki markup, the rich-text form of the Jira Server/Data Center REST v2 API.

`adf_to_wiki` renders what v2 returns for rich-text fields; `wiki_to_adf` parses what v2 accepts into a
document that `validate_adf` accepts (blocks a container may not hold are lowered to paragraphs).
"""

from __future__ import annotations

import re

from policyarc.sim.atlassian.adf import CHILDREN, INLINE, LISTS, PANEL_TYPES
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
    blocks = content_of(doc) if node_type(doc) == "doc" else [doc]
    return _wiki_blocks(blocks, 0)


def _wiki_blocks(nodes: list[Node], depth: int) -> str:
    parts = [_wiki_block(node, depth) for node in nodes]
    return "\n\n".join(part for part in parts if part)


def _wiki_block(node: Node, depth: int) -> str:
    if depth > MAX_DEPTH:
        return _wiki_escape(flat_text(node))
    kind = node_type(node)
    attrs = attrs_of(node)
    if kind == "paragraph" or kind in INLINE:
        return _wiki_line_starts(_wiki_inline(content_of(node) if kind == "paragraph" else [node]))
    if kind == "heading":
        level = attrs.get("level")
        level = min(max(int(level), 1), 6) if isinstance(level, int) and not isinstance(level, bool) else 1
        return f"h{level}. " + _wiki_inline(content_of(node)).replace("\n", " ")
    if kind in ("bulletList", "orderedList", "taskList", "decisionList"):
        return "\n".join(_wiki_list(node, "", depth))
    if kind == "codeBlock":
        language = attrs.get("language")
        named = isinstance(language, str) and re.fullmatch(r"[\w+#.-]+", language)
        head = f"{{code:{language}}}" if named else "{code}"
        return head + "\n" + "".join(text_value(child) for child in content_of(node)) + "\n{code}"
    if kind == "blockquote":
        return "{quote}\n" + _wiki_blocks(content_of(node), depth + 1) + "\n{quote}"
    if kind == "panel":
        panel_type = attrs.get("panelType") if attrs.get("panelType") in PANEL_TYPES else "info"
        return f"{{panel:title={panel_type}}}\n" + _wiki_blocks(content_of(node), depth + 1) + "\n{panel}"
    if kind == "rule":
        return "----"
    if kind == "table":
        return "\n".join(_wiki_row(row, depth) for row in content_of(node))
    if kind in ("expand", "nestedExpand") and isinstance(attrs.get("title"), str) and attrs["title"]:
        return f"*{_wiki_escape(attrs['title'])}*\n" + _wiki_blocks(content_of(node), depth + 1)
    if kind in ("blockCard", "embedCard"):
        url = attrs.get("url")
        return f"[{url}]" if isinstance(url, str) and url else ""
    if kind in ("media", "mediaSingle", "mediaGroup"):
        return "\\[attachment\\]"
    return _wiki_blocks(content_of(node), depth + 1)


def _wiki_list(node: Node, prefix: str, depth: int) -> list[str]:
    marker = prefix + ("#" if node_type(node) == "orderedList" else "*")
    lines: list[str] = []
    for item in content_of(node):
        kind = node_type(item)
        if kind in ("bulletList", "orderedList", "taskList"):
            lines.extend(_wiki_list(item, prefix if kind == "taskList" else marker, depth + 1))
            continue
        texts: list[str] = []
        nested: list[str] = []
        if kind in ("taskItem", "decisionItem"):
            box = "\\[x\\] " if attrs_of(item).get("state") in ("DONE", "DECIDED") else "\\[ \\] "
            texts.append(box + _wiki_inline(content_of(item)))
        for child in content_of(item) if kind not in ("taskItem", "decisionItem") else []:
            child_kind = node_type(child)
            if child_kind in ("bulletList", "orderedList", "taskList"):
                nested.extend(_wiki_list(child, marker, depth + 1))
            elif child_kind == "codeBlock":
                code = "".join(text_value(text) for text in content_of(child)).replace("\n", " ")
                texts.append("{{" + code + "}}")
            else:
                texts.append(_wiki_block(child, depth + 1).replace("\n", " \\\\ "))
        lines.append(f"{marker} " + " \\\\ ".join(text for text in texts if text))
        lines.extend(nested)
    return lines


def _wiki_row(row: Node, depth: int) -> str:
    cells: list[str] = []
    for cell in content_of(row):
        bar = "||" if node_type(cell) == "tableHeader" else "|"
        text = _wiki_blocks(content_of(cell), depth + 1).replace("\n\n", " \\\\ ").replace("\n", " \\\\ ")
        cells.append(bar + (text or " "))
    closing = "||" if content_of(row) and node_type(content_of(row)[-1]) == "tableHeader" else "|"
    return "".join(cells) + closing


def _wiki_inline(nodes: list[Node]) -> str:
    out: list[str] = []
    stack: list[tuple[str, str]] = []
    for node in nodes:
        kind = node_type(node)
        keys: list[tuple[str, str]] = []
        if kind == "text":
            marks = mark_types(node)
            text = text_value(node)
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
            piece = f"[~accountid:{attrs_of(node).get('id', '')}]"
        elif kind == "emoji":
            piece = str(attrs_of(node).get("shortName") or "")
        elif kind == "status":
            piece = "\\[" + _wiki_escape(str(attrs_of(node).get("text") or "").upper()) + "\\]"
        elif kind == "date":
            piece = iso_date(attrs_of(node).get("timestamp"))
        elif kind == "inlineCard":
            url = attrs_of(node).get("url")
            piece = f"[{url}]" if isinstance(url, str) and url else ""
        elif kind == "mediaInline":
            piece = "\\[attachment\\]"
        else:
            piece = _wiki_escape(flat_text(node))
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
        elif macro and depth < MAX_DEPTH:
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
        allowed = CHILDREN["panel"]
        content = _fit(inner, allowed)
        return {
            "type": "panel",
            "attrs": {"panelType": panel_type if panel_type in PANEL_TYPES else "info"},
            "content": content or [{"type": "paragraph", "content": []}],
        }
    content = _fit(inner, CHILDREN["blockquote"])
    return {"type": "blockquote", "content": content or [{"type": "paragraph", "content": []}]}


def _fit(blocks: list[Node], allowed: frozenset[str]) -> list[Node]:
    """Lower blocks a container may not hold (a heading or table in a quote) to paragraphs of their text."""
    out: list[Node] = []
    for block in blocks:
        if node_type(block) in allowed:
            out.append(block)
        elif node_type(block) == "blockquote":
            out.extend(_fit(content_of(block), allowed))
        else:
            text = flat_text(block)
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
    if node_type(node) in LISTS and not node["content"]:
        node["content"].append({"type": "listItem", "content": [{"type": "paragraph", "content": []}]})
    for child in content_of(node):
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
        if not (node_type(node) != "text" or text_value(node)):
            continue
        last = out[-1] if out else None
        if last is not None and node_type(node) == node_type(last) == "text" and last.get("marks") == node.get("marks"):
            out[-1] = {**last, "text": last["text"] + node["text"]}
        else:
            out.append(node)
    return out
