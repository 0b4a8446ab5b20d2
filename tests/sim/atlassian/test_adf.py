# ruff: noqa: E501  (the case tables read best one case per line)
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyarc.connectors.jira.adf import markdown_to_adf
from policyarc.sim.atlassian.adf import plain_text, validate_adf
from policyarc.sim.atlassian.adf_html import adf_to_html
from policyarc.sim.atlassian.adf_wiki import adf_to_wiki, wiki_to_adf

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def doc(*blocks: Any) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def p(*inline: Any) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def t(text: str, *marks: str | dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = [{"type": mark} if isinstance(mark, str) else mark for mark in marks]
    return node


def test_plain_text_unchanged() -> None:
    document = doc(p(t("a"), t("b")), {"type": "bulletList", "content": [{"type": "listItem", "content": [p(t("c"))]}]})
    assert plain_text(document) == "ab\nc"
    assert plain_text(None) == ""


# -- validate_adf -------------------------------------------------------------------------------------------

RICH = doc(
    {"type": "heading", "attrs": {"level": 2}, "content": [t("Title")]},
    p(
        t("bold", "strong"),
        t(" "),
        t("code", "code", {"type": "link", "attrs": {"href": "https://x.example"}}),
        {"type": "hardBreak"},
        {"type": "mention", "attrs": {"id": "712020:abc", "text": "@Alice"}},
        {"type": "emoji", "attrs": {"shortName": ":smile:"}},
        {"type": "status", "attrs": {"text": "DONE", "color": "green"}},
        {"type": "date", "attrs": {"timestamp": "1717200000000"}},
        {"type": "inlineCard", "attrs": {"url": "https://x.example"}},
    ),
    {"type": "panel", "attrs": {"panelType": "note"}, "content": [p(t("note"))]},
    {"type": "expand", "attrs": {"title": "More"}, "content": [p(t("more"))]},
    {"type": "codeBlock", "attrs": {"language": "python"}, "content": [t("print(1)")]},
    {"type": "taskList", "attrs": {"localId": "l1"}, "content": [
        {"type": "taskItem", "attrs": {"localId": "i1", "state": "TODO"}, "content": [t("do it")]}
    ]},
    {"type": "table", "content": [{"type": "tableRow", "content": [{"type": "tableHeader", "content": [p()]}]}]},
    {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
        {"type": "media", "attrs": {"type": "file", "id": "f", "collection": "c"}}
    ]},
    {"type": "rule"},
)  # fmt: skip


def test_accepts_valid_documents() -> None:
    assert validate_adf(RICH) == []
    assert validate_adf(doc()) == []
    assert validate_adf(doc(p())) == []


@pytest.mark.parametrize(
    "markdown",
    ["", "plain", "# h\n\n- a\n  1. b\n\n> q\n\n```js\nx\n```\n\n---\n\n| a |\n| - |\n| 1 |", "- [ ] a\n- [x] b"],
)
def test_accepts_markdown_to_adf_output(markdown: str) -> None:
    assert validate_adf(markdown_to_adf(markdown)) == []


@FUZZ
@given(st.lists(st.sampled_from([*"ab *_~`[]()#>-+1.!\\&<|\n", "- ", "> ", "```", "[ ] "]), max_size=40).map("".join))
def test_accepts_any_markdown_to_adf_output(markdown: str) -> None:
    assert validate_adf(markdown_to_adf(markdown)) == []


MISTAKES: list[tuple[object, str]] = [
    ("**Markdown** instead of a doc", "got a string"),
    (None, "got null"),
    ([p(t("x"))], "got an array"),
    ({"type": "paragraph", "content": [t("x")]}, "root node must have type 'doc'"),
    ({"type": "doc", "content": [p(t("x"))]}, "'version' must be 1"),
    ({"type": "doc", "version": 1}, "'content' must be an array"),
    (doc(t("bare text")), "'text' is not allowed inside 'doc' (inline content must be wrapped in a block"),
    (doc({"type": "markdown", "content": []}), "unknown node type 'markdown'"),
    (doc(p({"type": "text"})), "text node needs a 'text' string"),
    (doc(p(t(""))), "'text' must not be empty"),
    (doc({"type": "paragraph", "text": "hi"}), "unexpected property 'text'"),
    (doc({"type": "heading", "attrs": {"level": 7}, "content": []}), "level must be a number from 1 to 6"),
    (doc({"type": "heading", "content": [t("x")]}), "'heading' needs 'attrs'"),
    (doc({"type": "codeBlock", "content": [p(t("x"))]}), "'paragraph' is not allowed inside 'codeBlock'"),
    (doc({"type": "codeBlock", "content": [t("x", "strong")]}), "text inside a codeBlock cannot have marks"),
    (doc(p(t("x", "bold"))), "mark 'bold' is not allowed"),
    (doc(p(t("x", "code", "strong"))), "code mark cannot be combined with strong"),
    (doc(p(t("x", {"type": "link"}))), "link mark needs attrs.href"),
    (doc({"type": "bulletList", "content": [p(t("x"))]}), "'paragraph' is not allowed inside 'bulletList'"),
    (doc({"type": "bulletList", "content": []}), "'bulletList' needs at least one child"),
    (doc(p(p(t("x")))), "(only inline nodes go here)"),
    (doc({"type": "panel", "attrs": {"panelType": "danger"}, "content": [p()]}), "panelType must be one of"),
    (doc({"type": "status", "attrs": {"text": "x", "color": "pink"}}), "'status' is not allowed inside 'doc'"),
    (doc(p({"type": "status", "attrs": {"text": "x", "color": "pink"}})), "status attrs.color"),
    (doc(p({"type": "mention", "attrs": {}})), "'mention' needs attrs.id"),
]


@pytest.mark.parametrize(("value", "message"), MISTAKES, ids=[message for _, message in MISTAKES])
def test_rejects_realistic_mistakes_with_a_useful_message(value: object, message: str) -> None:
    errors = validate_adf(value)
    assert errors, f"{value!r} was accepted"
    assert any(message in error for error in errors), errors


def test_messages_point_at_the_node() -> None:
    errors = validate_adf(doc(p(t("ok")), p(t("ok"), {"type": "text"})))
    assert errors == ["doc.content[1].content[1]: text node needs a 'text' string"]


def test_error_list_is_bounded_and_deep_input_is_safe() -> None:
    assert len(validate_adf(doc(*[{"type": "nope"}] * 500))) == 20
    node: dict[str, Any] = p(t("x"))
    for _ in range(2000):
        node = {"type": "blockquote", "content": [node]}
    assert validate_adf(doc(node))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "content", "attrs", "marks", "text", "version", "x"]),
            inner | st.sampled_from(["doc", "paragraph", "text", "heading", "link"]),
            max_size=5,
        )
    ),
    max_leaves=30,
)


@FUZZ
@given(JSON)
def test_all_functions_are_total(value: Any) -> None:
    assert isinstance(validate_adf(value), list)
    assert isinstance(adf_to_html(value), str)
    assert isinstance(adf_to_wiki(value), str)


# -- adf_to_html --------------------------------------------------------------------------------------------


def test_html_renders_structure() -> None:
    html = adf_to_html(RICH)
    for fragment in ("<h2>Title</h2>", "<b>bold</b>", "<br />", "@Alice", '<div class="panel panel-note">', "<hr />"):
        assert fragment in html
    assert '<pre><code class="language-python">print(1)</code></pre>' in html
    assert '<a href="https://x.example" class="external-link" rel="nofollow noreferrer"><code>code</code></a>' in html


def test_html_escapes_everything() -> None:
    hostile = doc(
        p(t("<script>alert(1)</script>"), t("x", {"type": "link", "attrs": {"href": '"><script>alert(2)</script>'}})),
        {"type": "codeBlock", "attrs": {"language": '"><script>'}, "content": [t("</code><script>alert(3)</script>")]},
        p({"type": "mention", "attrs": {"id": '"><script>', "text": "<script>alert(4)</script>"}}),
        {"type": "expand", "attrs": {"title": "<script>alert(5)</script>"}, "content": [p()]},
        p(t("x", {"type": "textColor", "attrs": {"color": "red;background:url(javascript:alert(6))"}})),
    )
    html = adf_to_html(hostile)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript" not in html


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "java\tscript:alert(1)",
        " javascript:x",
        "data:text/html,x",
        "vbscript:x",
    ],
)
def test_html_drops_dangerous_links(href: str) -> None:
    html = adf_to_html(
        doc(p(t("click", {"type": "link", "attrs": {"href": href}}), {"type": "inlineCard", "attrs": {"url": href}}))
    )
    assert "href" not in html
    assert "click" in html


def test_html_keeps_safe_links() -> None:
    for href in ("https://a.example/?q=1&r=2", "mailto:a@example.com", "/browse/DEV-1"):
        html = adf_to_html(doc(p(t("go", {"type": "link", "attrs": {"href": href}}))))
        assert f'href="{href.replace("&", "&amp;")}"' in html


# -- wiki markup --------------------------------------------------------------------------------------------

WIKI_CASES: list[tuple[str, dict[str, Any]]] = [
    ("h1. Title", doc({"type": "heading", "attrs": {"level": 1}, "content": [t("Title")]})),
    ("h3. Three", doc({"type": "heading", "attrs": {"level": 3}, "content": [t("Three")]})),
    ("*bold* _italic_ -strike- {{mono}}", doc(p(t("bold", "strong"), t(" "), t("italic", "em"), t(" "), t("strike", "strike"), t(" "), t("mono", "code")))),
    ("a well-known, hyphen-ated - dash", doc(p(t("a well-known, hyphen-ated - dash")))),
    ("[Jira|https://x.example]", doc(p(t("Jira", {"type": "link", "attrs": {"href": "https://x.example"}})))),
    ("[https://x.example]", doc(p(t("https://x.example", {"type": "link", "attrs": {"href": "https://x.example"}})))),
    ("one\ntwo", doc(p(t("one"), {"type": "hardBreak"}, t("two")))),
    ("* a\n** b\n* c", doc({"type": "bulletList", "content": [
        {"type": "listItem", "content": [p(t("a")), {"type": "bulletList", "content": [{"type": "listItem", "content": [p(t("b"))]}]}]},
        {"type": "listItem", "content": [p(t("c"))]},
    ]})),
    ("# a\n# b", doc({"type": "orderedList", "content": [{"type": "listItem", "content": [p(t(x))]} for x in "ab"]})),
    ("{code:java}\nint x = 1;\n{code}", doc({"type": "codeBlock", "attrs": {"language": "java"}, "content": [t("int x = 1;")]})),
    ("{code}\nplain\n{code}", doc({"type": "codeBlock", "content": [t("plain")]})),
    ("{quote}\nsaid *this*\n{quote}", doc({"type": "blockquote", "content": [p(t("said "), t("this", "strong"))]})),
    ("----", doc({"type": "rule"})),
    ("||h1||h2||\n|c1|c2|", doc({"type": "table", "content": [
        {"type": "tableRow", "content": [{"type": "tableHeader", "content": [p(t(x))]} for x in ("h1", "h2")]},
        {"type": "tableRow", "content": [{"type": "tableCell", "content": [p(t(x))]} for x in ("c1", "c2")]},
    ]})),
]  # fmt: skip


@pytest.mark.parametrize(("wiki", "adf"), WIKI_CASES, ids=[wiki[:25] for wiki, _ in WIKI_CASES])
def test_wiki_both_ways(wiki: str, adf: dict[str, Any]) -> None:
    assert wiki_to_adf(wiki) == adf
    assert validate_adf(adf) == []
    assert adf_to_wiki(adf) == wiki


def test_wiki_extras() -> None:
    parsed = wiki_to_adf("bq. quoted\n\n[~accountid:712020:abc] said\\\\hi\n\n{noformat}\n*raw*\n{noformat}")
    assert validate_adf(parsed) == []
    assert parsed["content"][0] == {"type": "blockquote", "content": [p(t("quoted"))]}
    assert parsed["content"][1]["content"][0] == {
        "type": "mention",
        "attrs": {"id": "712020:abc", "text": "@712020:abc"},
    }
    assert {"type": "hardBreak"} in parsed["content"][1]["content"]
    assert parsed["content"][2] == {"type": "codeBlock", "content": [t("*raw*")]}
    assert adf_to_wiki(parsed).startswith("{quote}\nquoted\n{quote}\n\n[~accountid:712020:abc] said")


def test_wiki_escapes_literal_markup() -> None:
    adf = doc(
        p(t("2*3 and *stars* and [brackets] and {braces} and a|pipe")), p(t("* not a list")), p(t("h1. not a heading"))
    )
    wiki = adf_to_wiki(adf)
    assert wiki_to_adf(wiki) == adf


def test_markdown_output_survives_the_wiki_round_trip() -> None:
    adf = markdown_to_adf("# T\n\nSome **bold** and *em* and `code` and [l](https://x.example).\n\n- a\n  - b\n\n1. c")
    assert wiki_to_adf(adf_to_wiki(adf)) == adf


WORDS = st.text(alphabet="abcdefgh 123", min_size=1, max_size=12).filter(lambda s: s.strip() == s and s != "")


@st.composite
def simple_doc(draw: st.DrawFn) -> dict[str, Any]:
    blocks = []
    for _ in range(draw(st.integers(1, 4))):
        inline = []
        for index in range(draw(st.integers(1, 3))):
            if index:
                inline.append(t(" "))
            mark = draw(st.sampled_from([None, "strong", "em", "strike", "code"]))
            inline.append(t(draw(WORDS), mark) if mark else t(draw(WORDS)))
        kind = draw(st.sampled_from(["p", "h", "ul", "ol"]))
        merged: list[dict[str, Any]] = []
        for node in inline:
            if merged and "marks" not in merged[-1] and "marks" not in node:
                merged[-1] = t(merged[-1]["text"] + node["text"])
            else:
                merged.append(node)
        if kind == "p":
            blocks.append(p(*merged))
        elif kind == "h":
            blocks.append({"type": "heading", "attrs": {"level": draw(st.integers(1, 6))}, "content": merged})
        else:
            blocks.append(
                {
                    "type": "bulletList" if kind == "ul" else "orderedList",
                    "content": [{"type": "listItem", "content": [p(*merged)]}],
                }
            )
    return doc(*blocks)


@FUZZ
@given(simple_doc())
def test_wiki_round_trip_property(adf: dict[str, Any]) -> None:
    assert wiki_to_adf(adf_to_wiki(adf)) == adf


@FUZZ
@given(
    st.lists(st.sampled_from([*"ab *_-+{}[]|#^~\\\n", "h1. ", "{code}", "{quote}", "----", "||"]), max_size=40).map(
        "".join
    )
)
def test_wiki_to_adf_is_total_and_valid(wiki: str) -> None:
    adf = wiki_to_adf(wiki)
    assert validate_adf(adf) == [], (wiki, adf)
    assert isinstance(adf_to_wiki(adf), str)
