# ruff: noqa: E501  (the case tables read best one case per line)
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyarc.connectors.jira.adf import adf_to_markdown, markdown_to_adf
from policyarc.sim.atlassian.adf import plain_text, validate_adf

# shared/ sits beside the clone (CI, the main checkout) or beside the folder of worktrees: the nearest one up.
SHARED_ATLASSIAN = next(
    (
        folder / "shared" / "atlassian"
        for folder in Path(__file__).resolve().parents[4:]
        if (folder / "shared" / "atlassian").is_dir()
    ),
    Path(__file__).resolve().parents[4] / "shared" / "atlassian",
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def _schema_validator() -> Any:
    path = SHARED_ATLASSIAN / "adf-schema-v1-full.json"
    if not path.exists():
        return None
    schema = json.loads(path.read_text())
    try:
        # jsonschema_rs (a schemathesis dependency) is ~1000x faster on this anyOf-heavy schema.
        import jsonschema_rs

        return jsonschema_rs.validator_for(schema)
    except ImportError:
        import jsonschema

        return jsonschema.validators.validator_for(schema)(schema)


def assert_valid(doc: dict[str, Any]) -> None:
    """Valid for the real ADF JSON schema (when ../shared is there) and for the simulator's validator."""
    assert validate_adf(doc) == []
    validator = _schema_validator()
    if validator is not None:
        errors = [str(error) for error in validator.iter_errors(doc)]
        assert errors == [], errors


def test_schema_is_reachable() -> None:
    if _schema_validator() is None:
        pytest.skip("../shared/atlassian/adf-schema-v1-full.json is absent (a clone without the shared folder)")


def doc(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def p(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def t(text: str, *marks: str | dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = [{"type": mark} if isinstance(mark, str) else mark for mark in marks]
    return node


def link(href: str) -> dict[str, Any]:
    return {"type": "link", "attrs": {"href": href}}


def li(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "listItem", "content": list(blocks)}


BREAK = {"type": "hardBreak"}

# (Markdown, ADF, the Markdown adf_to_markdown writes back): every construct both ways.
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("", doc(), ""),
    ("Hello world", doc(p(t("Hello world"))), "Hello world"),
    ("# One\n\n###### Six", doc(*[{"type": "heading", "attrs": {"level": n}, "content": [t(w)]} for n, w in ((1, "One"), (6, "Six"))]), "# One\n\n###### Six"),
    ("**b** *i* ~~s~~ `c`", doc(p(t("b", "strong"), t(" "), t("i", "em"), t(" "), t("s", "strike"), t(" "), t("c", "code"))), "**b** *i* ~~s~~ `c`"),
    ("**bold *both***", doc(p(t("bold ", "strong"), t("both", "strong", "em"))), "**bold *both***"),
    ("[site](https://a.example/x)", doc(p(t("site", link("https://a.example/x")))), "[site](https://a.example/x)"),
    ("[**b**](https://a.example)", doc(p(t("b", link("https://a.example"), "strong"))), "[**b**](https://a.example)"),
    ("<https://a.example>", doc(p(t("https://a.example", link("https://a.example")))), "<https://a.example>"),
    ("![logo](https://a.example/l.png)", doc(p(t("logo", link("https://a.example/l.png")))), "[logo](https://a.example/l.png)"),
    ("one\ntwo", doc(p(t("one"), BREAK, t("two"))), "one\ntwo"),
    ("one  \ntwo", doc(p(t("one"), BREAK, t("two"))), "one\ntwo"),
    ("- a\n- b", doc({"type": "bulletList", "content": [li(p(t("a"))), li(p(t("b")))]}), "- a\n- b"),
    ("- a\n  - b", doc({"type": "bulletList", "content": [li(p(t("a")), {"type": "bulletList", "content": [li(p(t("b")))]})]}), "- a\n  - b"),
    ("1. a\n2. b", doc({"type": "orderedList", "content": [li(p(t("a"))), li(p(t("b")))]}), "1. a\n2. b"),
    ("3. a\n4. b", doc({"type": "orderedList", "attrs": {"order": 3}, "content": [li(p(t("a"))), li(p(t("b")))]}), "3. a\n4. b"),
    ("```python\nprint(1)\n```", doc({"type": "codeBlock", "attrs": {"language": "python"}, "content": [t("print(1)")]}), "```python\nprint(1)\n```"),
    ("    indented", doc({"type": "codeBlock", "content": [t("indented")]}), "```\nindented\n```"),
    ("> quoted", doc({"type": "blockquote", "content": [p(t("quoted"))]}), "> quoted"),
    ("---", doc({"type": "rule"}), "---"),
    (
        "| a | b |\n| --- | --- |\n| 1 | 2 |",
        doc({"type": "table", "content": [
            {"type": "tableRow", "content": [{"type": "tableHeader", "content": [p(t("a"))]}, {"type": "tableHeader", "content": [p(t("b"))]}]},
            {"type": "tableRow", "content": [{"type": "tableCell", "content": [p(t("1"))]}, {"type": "tableCell", "content": [p(t("2"))]}]},
        ]}),
        "| a | b |\n| --- | --- |\n| 1 | 2 |",
    ),
    ("> [!WARNING]\n> careful", doc({"type": "panel", "attrs": {"panelType": "warning"}, "content": [p(t("careful"))]}), "> [!WARNING]\n> careful"),
]  # fmt: skip


@pytest.mark.parametrize(("markdown", "adf", "written"), CASES, ids=[case[0][:30] or "empty" for case in CASES])
def test_each_construct_both_ways(markdown: str, adf: dict[str, Any], written: str) -> None:
    assert markdown_to_adf(markdown) == adf
    assert_valid(adf)
    assert adf_to_markdown(adf) == written
    assert markdown_to_adf(written) == adf


def test_task_lists() -> None:
    adf = markdown_to_adf("- [ ] write\n- [x] test\n  - [ ] nested")
    assert_valid(adf)
    (tasks,) = adf["content"]
    assert tasks["type"] == "taskList"
    assert [(item["type"], item.get("attrs", {}).get("state")) for item in tasks["content"]] == [
        ("taskItem", "TODO"),
        ("taskItem", "DONE"),
        ("taskList", None),
    ]
    assert tasks["content"][0]["content"] == [t("write")]
    ids = re.findall(r'"localId": "([^"]+)"', json.dumps(adf))
    assert len(ids) == len(set(ids)) == 5
    assert adf_to_markdown(adf) == "- [ ] write\n- [x] test\n  - [ ] nested"
    # A list where only some items have a box stays a plain list with the text kept.
    mixed = markdown_to_adf("- [ ] a\n- b")
    assert mixed["content"][0]["type"] == "bulletList"
    assert plain_text(mixed) == "[ ] a\nb"


def test_constructs_the_schema_forbids_are_lowered_not_lost() -> None:
    source = (
        "- # heading in item\n  > quote in item\n\n  | a |\n  | - |\n  | 1 |\n\n> # heading in quote\n> > nested\n> ---"
    )
    adf = markdown_to_adf(source)
    assert_valid(adf)
    text = plain_text(adf)
    for words in ("heading in item", "quote in item", "heading in quote", "nested", "1"):
        assert words in text
    heading_in_item = adf["content"][0]["content"][0]["content"][0]
    assert heading_in_item == p(t("heading in item", "strong"))


def test_inline_code_drops_marks_adf_cannot_combine_with_code() -> None:
    adf = markdown_to_adf("**bold `code` [`linked`](https://x.example)**")
    assert_valid(adf)
    assert adf["content"][0]["content"][1] == t("code", "code")
    assert adf["content"][0]["content"][3] == t("linked", link("https://x.example"), "code")


def test_raw_html_and_unknown_pieces_stay_text() -> None:
    adf = markdown_to_adf("<b>hi</b> &amp; <script>x</script>")
    assert adf == doc(p(t("<b>hi</b> & <script>x</script>")))


def test_table_cell_line_breaks() -> None:
    adf = markdown_to_adf("| a |\n| - |\n| x<br>y |")
    cell = adf["content"][0]["content"][1]["content"][0]
    assert cell["content"] == [p(t("x"), BREAK, t("y"))]
    assert "x<br>y" in adf_to_markdown(adf)


def test_blank_input_and_non_strings() -> None:
    assert markdown_to_adf("   \n\n") == doc()
    assert markdown_to_adf(None) == doc()  # type: ignore[arg-type]
    assert_valid(markdown_to_adf("   \n\n"))


# -- adf_to_markdown on what Jira sends ---------------------------------------------------------------------


def test_jira_only_nodes() -> None:
    adf = doc(
        p(
            {"type": "mention", "attrs": {"id": "712020:abc", "text": "@Alice Example"}},
            t(" "),
            {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
            t(" "),
            {"type": "status", "attrs": {"text": "In review", "color": "blue"}},
            t(" "),
            {"type": "date", "attrs": {"timestamp": "1717200000000"}},
            t(" "),
            {"type": "inlineCard", "attrs": {"url": "https://acme.atlassian.net/browse/DEV-1"}},
        ),
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [p(t("Heads up"))]},
        {"type": "expand", "attrs": {"title": "Details"}, "content": [p(t("hidden"))]},
        {
            "type": "mediaSingle",
            "attrs": {"layout": "center"},
            "content": [{"type": "media", "attrs": {"type": "file", "id": "f1", "collection": "c"}}],
        },
        {"type": "blockCard", "attrs": {"url": "https://a.example/card"}},
    )
    assert_valid(adf)
    assert adf_to_markdown(adf) == (
        "@Alice Example :smile: [IN REVIEW] 2024-06-01 https://acme.atlassian.net/browse/DEV-1\n\n"
        "> [!INFO]\n> Heads up\n\n"
        "<details><summary>Details</summary>\n\nhidden\n\n</details>\n\n"
        "[attachment]\n\n"
        "https://a.example/card"
    )


def test_unknown_nodes_give_their_text() -> None:
    adf = doc(
        {"type": "futureBlock", "content": [p(t("inside a future block"))]},
        p({"type": "futureInline", "content": [t("inline future")]}),
        t("stray text at doc level"),
    )
    out = adf_to_markdown(adf)
    for words in ("inside a future block", "inline future", "stray text at doc level"):
        assert words in out


def test_consecutive_lists_stay_separate() -> None:
    adf = doc(
        {"type": "bulletList", "content": [li(p(t("a")))]},
        {"type": "bulletList", "content": [li(p(t("b")))]},
        {"type": "orderedList", "content": [li(p(t("c")))]},
        {"type": "orderedList", "content": [li(p(t("d")))]},
    )
    assert adf_to_markdown(adf) == "- a\n\n* b\n\n1. c\n\n1) d"
    assert markdown_to_adf(adf_to_markdown(adf)) == adf


def test_escapes_only_what_would_become_markup() -> None:
    adf = doc(
        p(t("snake_case and C:\\path and 2 * 3 and [WIP] stay")),
        p(t("*not emphasis* and `not code` and ~~not strike~~")),
        p(t("# not a heading")),
        p(t("1. not a list")),
        p(t("- not a bullet")),
        p(t("[ref]: https://not.a.definition")),
    )
    out = adf_to_markdown(adf)
    assert "snake_case and C:\\path and 2 * 3 and [WIP] stay" in out
    assert markdown_to_adf(out) == adf


def test_marks_with_whitespace_at_their_edges() -> None:
    adf = doc(p(t("a "), t("bold ", "strong"), t("then plain")))
    assert adf_to_markdown(adf) == "a **bold** then plain"


def test_multiple_line_breaks_keep_empty_lines() -> None:
    adf = doc(p(t("a"), BREAK, BREAK, t("b")))
    out = adf_to_markdown(adf)
    assert markdown_to_adf(out) == adf


@pytest.mark.parametrize(
    "value",
    [None, "", "plain", 3, [], {}, {"type": "doc"}, {"type": "doc", "content": "x"}, {"type": "doc", "content": [1, None]},
     {"type": "doc", "content": [{"type": "heading", "attrs": {"level": "9"}, "content": [{"type": "text", "text": 5}]}]},
     {"type": "doc", "content": [{"type": "orderedList", "attrs": {"order": float("inf")}, "content": [{}]}]},
     {"type": "doc", "content": [{"type": "text", "text": "x", "marks": [None, {"type": "link"}, {"type": "link", "attrs": {"href": 1}}]}]},
     {"type": "doc", "content": [{"type": "date", "attrs": {"timestamp": "99999999999999999999"}}]},
     {"type": "doc", "content": [{"type": "table", "content": [{"type": "tableRow", "content": "x"}]}]}],
)  # fmt: skip
def test_odd_input_never_raises(value: Any) -> None:
    assert isinstance(adf_to_markdown(value), str)


def test_misplaced_nodes_keep_their_text() -> None:
    # Not valid ADF, but a total renderer still shows what the user wrote (found by the property tests).
    assert adf_to_markdown(doc({"type": "mention", "content": [t("Alice")]})) == "@Alice"
    assert "lost" in adf_to_markdown(doc({"type": "table", "content": [p(t("lost"))]}))
    row = {"type": "tableRow", "content": [p(t("cell"))]}
    assert "cell" in adf_to_markdown(doc({"type": "table", "content": [row]}))


def test_deep_nesting_keeps_text_without_recursion_errors() -> None:
    node: dict[str, Any] = p(t("deep"))
    for _ in range(3000):
        node = {"type": "blockquote", "content": [node]}
    assert adf_to_markdown(doc(node)).strip(">\n ").endswith("deep")
    nested = "".join("  " * level + "- item\n" for level in range(40))
    assert_valid(markdown_to_adf(nested))


# -- properties ---------------------------------------------------------------------------------------------

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)


@st.composite
def phrase(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        word = " ".join(draw(st.lists(WORD, min_size=1, max_size=3)))
        style = draw(st.sampled_from(["", "**", "*", "~~", "`", "link", "***"]))
        if style == "link":
            parts.append(f"[{word}](https://x.example/{draw(WORD)})")
        else:
            parts.append(f"{style}{word}{style[::-1]}")
    return " ".join(parts)


def _list(draw: st.DrawFn, depth: int) -> str:
    kind = draw(st.sampled_from(["-", "1.", "task"]))
    start = draw(st.integers(0, 12))
    lines = []
    for index in range(draw(st.integers(1, 3))):
        marker = {"-": "-", "task": "- [ ]", "1.": f"{start + index}."}[kind]
        lines.append(f"{marker} {draw(phrase())}")
        if depth < 2 and draw(st.booleans()):
            nested = _list(draw, depth + 1) if kind != "task" else f"- [x] {draw(phrase())}"
            pad = " " * (len(marker.split(" ")[0]) + 1)
            lines.extend(pad + line for line in nested.split("\n"))
    return "\n".join(lines)


@st.composite
def block(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["p", "h", "list", "code", "quote", "hr", "table", "lines"]))
    if kind == "p":
        return draw(phrase())
    if kind == "lines":
        return draw(phrase()) + "\n" + draw(phrase())
    if kind == "h":
        return "#" * draw(st.integers(1, 6)) + " " + draw(phrase())
    if kind == "list":
        return _list(draw, 0)
    if kind == "code":
        language = draw(st.sampled_from(["", "python", "js"]))
        return f"```{language}\n" + "\n".join(draw(st.lists(WORD, min_size=1, max_size=3))) + "\n```"
    if kind == "quote":
        return "> " + draw(phrase())
    if kind == "hr":
        return "---"
    width = draw(st.integers(1, 3))
    rows = [[draw(phrase()) for _ in range(width)] for _ in range(draw(st.integers(2, 3)))]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


MARKDOWN = st.lists(block(), min_size=1, max_size=5).map("\n\n".join)
# Anything a user might type, markup characters included.
NOISE = st.lists(
    st.sampled_from([*"ab *_~`[]()#>-+1.!\\&<|\n:\t", "  ", "- ", "1. ", "> ", "```", "| --- |", "[ ] ", "http://a.b"]),
    max_size=30,
).map("".join)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text)


def _keeps_text(original: str, written: str) -> bool:
    """Every letter and digit of `original` appears in `written`, in order (links add their URLs)."""
    remaining = iter(re.sub(r"[^a-z0-9]", "", written.lower()))
    return all(char in remaining for char in re.sub(r"[^a-z0-9]", "", original.lower()))


@FUZZ
@given(MARKDOWN)
def test_generated_markdown_is_valid_adf_and_round_trips(markdown: str) -> None:
    adf = markdown_to_adf(markdown)
    assert_valid(adf)
    written = adf_to_markdown(adf)
    assert markdown_to_adf(written) == adf
    assert _keeps_text(plain_text(adf), written)


@FUZZ
@given(NOISE)
def test_any_text_is_valid_adf_and_keeps_its_words(markdown: str) -> None:
    adf = markdown_to_adf(markdown)
    assert_valid(adf)
    again = markdown_to_adf(adf_to_markdown(adf))
    assert_valid(again)
    assert _words(plain_text(again)) == _words(plain_text(adf))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=30,
)
NODE_TYPES = ["doc", "paragraph", "text", "heading", "bulletList", "listItem", "table", "tableRow", "tableCell",
              "codeBlock", "mention", "status", "emoji", "date", "panel", "taskList", "taskItem", "hardBreak", "x"]  # fmt: skip
ADFISH = st.recursive(
    st.fixed_dictionaries(
        {"type": st.sampled_from(NODE_TYPES)},
        optional={"text": st.text(max_size=6) | JSON, "attrs": st.dictionaries(st.sampled_from(
            ["level", "order", "text", "url", "timestamp", "shortName", "language", "state", "panelType"]), JSON)},
    ),
    lambda inner: st.fixed_dictionaries(
        {"type": st.sampled_from(NODE_TYPES), "content": st.lists(inner | JSON, max_size=4)},
        optional={"marks": st.lists(st.fixed_dictionaries({"type": st.sampled_from(["strong", "em", "code", "link", "x"])},
                  optional={"attrs": st.dictionaries(st.just("href"), JSON)}) | JSON, max_size=3)},
    ),
    max_leaves=25,
)  # fmt: skip


@FUZZ
@given(JSON | ADFISH)
def test_adf_to_markdown_is_total(value: Any) -> None:
    assert isinstance(adf_to_markdown(value), str)


@FUZZ
@given(ADFISH)
def test_adf_to_markdown_drops_no_text(node: dict[str, Any]) -> None:
    out = adf_to_markdown({"type": "doc", "version": 1, "content": [node]})
    assert _keeps_text(plain_text(node), out)


# -- the simulator's seed -----------------------------------------------------------------------------------


def test_every_seeded_description_and_comment_renders_without_losing_text() -> None:
    try:
        from policyarc.sim.atlassian.seed import build_world
    except ImportError:
        pytest.skip("policyarc.sim.atlassian.seed.build_world does not exist yet")
    world = build_world()
    documents = []
    for site in world.sites.values():
        for issue in site.issues.values():
            documents.append(issue.description)
            documents.extend(comment.body for comment in getattr(issue, "comments", []))
    assert documents
    for document in documents:
        out = adf_to_markdown(document)
        if document is None:
            assert out == ""
            continue
        assert validate_adf(document) == []
        assert _keeps_text(plain_text(document), out)


@pytest.mark.parametrize(
    "node",
    [
        {"type": "codeBlock", "content": [{"type": "doc", "content": [{"type": "text", "text": "nested"}]}]},
        {"type": "status", "content": [{"type": "text", "text": "nested"}]},
        {"type": "placeholder", "content": [{"type": "text", "text": "nested"}]},
    ],
)
def test_misplaced_content_in_code_blocks_and_atoms_keeps_its_text(node: dict[str, Any]) -> None:
    # Found by test_adf_to_markdown_drops_no_text: not valid ADF, but its words must not vanish.
    assert "nested" in adf_to_markdown({"type": "doc", "version": 1, "content": [node]})
