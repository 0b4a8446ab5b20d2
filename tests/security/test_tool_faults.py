"""Tool robustness (issue 8, finding 4): what a caller's text or Jira's ADF can cost, and what an unforeseen fault
in a tool becomes. No timings are asserted: work is counted (parser steps, regex scans), stacks are made
shallow on purpose, and threads are observed.

Measured by hand (CPU time, this machine, scripts in the commit message): the worst 32,000-character Markdown
found costs about 0.3 s after these changes (1.5 s and a RecursionError before); the worst 2,000 characters,
the longest converted on the event loop, about 19 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it.parser_inline import ParserInline
from pydantic import BaseModel
from starlette.applications import Starlette

from policyarc.caller import Caller
from policyarc.connectors.base import ToolHints, ToolSpec
from policyarc.connectors.jira import adf_to_markdown as a2m
from policyarc.connectors.jira import markdown_to_adf as m2a
from policyarc.connectors.jira import shaping
from policyarc.connectors.jira.adf import adf_to_markdown, markdown_to_adf, markdown_to_adf_async
from policyarc.connectors.jira.catalog import JIRA_TOOLS
from policyarc.connectors.jira.client import JiraClient, RetryPolicy
from policyarc.connectors.jira.tools import PROJECTS, READ, WRITE, JiraCall
from policyarc.mcp_endpoint import AuditEntry, ToolPipeline
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.sim.atlassian.adf import plain_text
from policyarc.upstream import HttpxUpstream
from tests.connectors.jira.test_adf import assert_valid
from tests.connectors.jira.test_tools import ACME, ALICE, ALL_SCOPES
from tests.fakes import MemoryAudit, OneJiraSite

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextlib.contextmanager
def shallow_stack(room: int) -> Iterator[None]:
    """Python's recursion limit set `room` frames above where the caller stands, as deep in a stack as it gets."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + room)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def nested_list(depth: int, word: str) -> str:
    return "".join("  " * level + f"- {word}{level}\n" for level in range(depth))


# -- Markdown -> ADF ----------------------------------------------------------------------------------------

# (what, Markdown, words the ADF must still hold)
PATHOLOGICAL: list[tuple[str, str, list[str]]] = [
    ("32,000 [", "[" * 32_000, []),
    ("16,000 * around a letter", "*" * 16_000 + "a" + "*" * 15_999, ["a"]),
    ("16,000 ![", "![" * 16_000, []),
    ("brackets nested 16,000 deep", "[" * 16_000 + "word" + "]" * 16_000, ["word"]),
    ("8,000 unclosed links", "[a](" * 8_000, []),
    ("alternating emphasis", "*_" * 16_000, []),
    ("backticks", "`a" * 16_000, []),
    ("a quote 100 deep", ">" * 100 + " deep", ["deep"]),
    ("a list 80 deep", nested_list(80, "item"), ["item0", "item40", "item79"]),
    ("quotes 80 deep, one per line", "".join(">" * level + f" q{level}\n\n" for level in range(1, 80)), ["q79"]),
    ("a table of 5,000 rows", "|a|b|\n|-|-|\n" + "|x|y|\n" * 5_000, ["x"]),
]


@pytest.mark.parametrize(("markdown", "words"), [case[1:] for case in PATHOLOGICAL], ids=[c[0] for c in PATHOLOGICAL])
def test_pathological_markdown_gives_valid_adf_keeping_its_text(markdown: str, words: list[str]) -> None:
    adf = markdown_to_adf(markdown)
    assert_valid(adf)
    text = plain_text(adf)
    for word in words:
        assert word in text


def test_no_recursion_error_escapes_even_on_a_shallow_stack() -> None:
    texts = ["*" * 2_000 + "a" + "*" * 1_999, nested_list(30, "item"), "> " * 30 + "quoted", "[" * 500 + "x"]
    with shallow_stack(120):
        results = [markdown_to_adf(text) for text in texts]
    for adf in results:
        assert_valid(adf)
    assert "a" in plain_text(results[0])
    assert all(f"item{level}" in plain_text(results[1]) for level in range(30))
    assert "quoted" in plain_text(results[2])


def test_a_fault_in_the_converter_degrades_to_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(m2a._Converter, "blocks", broken)
    adf = markdown_to_adf("# Title\n\n- **one**\n- two")
    assert_valid(adf)
    assert adf == m2a.plain_text_adf("# Title\n\n- **one**\n- two")
    assert adf["content"] == [
        {"type": "paragraph", "content": [{"type": "text", "text": "# Title"}]},
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "- **one**"},
                {"type": "hardBreak"},
                {"type": "text", "text": "- two"},
            ],
        },
    ]


def test_text_past_the_limit_is_kept_as_plain_text_unparsed() -> None:
    text = "**bold** " + "x" * m2a.MAX_MARKDOWN
    adf = markdown_to_adf(text)
    assert_valid(adf)
    assert adf["content"][0]["content"][0] == {"type": "text", "text": text}


def test_inline_parser_work_per_unmatched_bracket_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each unmatched `[` re-scans as many levels as the inline parser's nesting limit: count those steps.
    steps = {"n": 0}
    original = ParserInline.skipToken

    def counting(self: ParserInline, state: Any) -> None:
        steps["n"] += 1
        original(self, state)

    monkeypatch.setattr(ParserInline, "skipToken", counting)
    for pattern in ("[", "!["):
        steps["n"] = 0
        markdown_to_adf(pattern * 2_000)
        # About 11 and 20 steps per character now; 65 and 127 with the nesting limit of 64 used for blocks.
        assert steps["n"] <= 24 * len(pattern * 2_000), pattern


async def test_long_text_converts_off_the_event_loop_and_short_text_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    convert = m2a.markdown_to_adf

    def recording(text: str) -> dict[str, Any]:
        threads.append(threading.get_ident())
        return convert(text)

    monkeypatch.setattr(m2a, "markdown_to_adf", recording)
    short = await markdown_to_adf_async("a *short* text")
    long = await markdown_to_adf_async("[" * (m2a.INLINE_LIMIT + 1))
    assert threads[0] == threading.get_ident()  # no thread hop for the common case
    assert threads[1] != threading.get_ident()
    assert_valid(short)
    assert_valid(long)


MARKUP = st.lists(
    st.sampled_from(
        [*"[]()*_!`>~<\\&|#:\n ", "a", "word", "- ", "1. ", "> ", "```", "    ", "[a](b)", "![x](y)", "|-|", "&amp;"]
    ),
    max_size=400,
).map("".join)


@FUZZ
@given(st.text() | MARKUP)
def test_any_text_gives_schema_valid_adf_and_reads_back(text: str) -> None:
    adf = markdown_to_adf(text)
    assert_valid(adf)
    assert isinstance(adf_to_markdown(adf), str)


# -- ADF -> Markdown ----------------------------------------------------------------------------------------


def _doc(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def _paragraph(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}]}


CONTAINERS = ["bulletList", "listItem", "blockquote", "panel", "table", "tableRow", "tableCell", "expand", "x"]


def _nest(kinds: list[str], leaf: dict[str, Any]) -> dict[str, Any]:
    node = leaf
    for kind in reversed(kinds):
        node = {"type": kind, "content": [node]}
    return node


def test_deep_adf_on_a_shallow_stack_gives_its_text() -> None:
    deep = _doc(_nest(["bulletList", "listItem"] * 40, _paragraph("deepest")))
    with shallow_stack(100):
        out = adf_to_markdown(deep)
    assert out.endswith("deepest")


def test_escaping_brackets_scans_a_text_once_not_once_per_bracket(monkeypatch: pytest.MonkeyPatch) -> None:
    scans = {"n": 0}

    class CountingRe:
        def __getattr__(self, name: str) -> Any:
            return getattr(re, name)

        def search(self, *args: Any, **kwargs: Any) -> Any:
            scans["n"] += 1
            return re.search(*args, **kwargs)

    monkeypatch.setattr(a2m, "re", CountingRe())
    unclosed = adf_to_markdown(_doc(_paragraph("x" + "[" * 5_000)))
    linked = adf_to_markdown(_doc(_paragraph("x" + "[" * 5_000 + "](y)")))
    assert scans["n"] <= 2
    assert unclosed == "x" + "[" * 5_000  # nothing after it can close a link: no escapes
    assert linked == "x" + "\\[" * 5_000 + "](y)"


@FUZZ
@given(st.lists(st.sampled_from(CONTAINERS), max_size=300), st.text(alphabet="abc[]*_`", min_size=1, max_size=20))
def test_any_nesting_of_adf_renders_and_keeps_its_words(kinds: list[str], text: str) -> None:
    out = adf_to_markdown(_doc(_nest(kinds, _paragraph(text + " end"))))
    assert "end" in out


# -- the pipeline: an unforeseen fault is a tool error with its audit record ------------------------------


class Allow:
    def allowed(self, caller: Caller, scope: str) -> bool:
        return True


class Tokens:
    def __init__(self, token: str) -> None:
        self._token = token

    async def access_token(self, caller: Caller) -> str:
        return self._token

    async def upstream_rejected(self, caller: Caller) -> None:
        return None


CALLER = Caller(
    user_id="user-alice",
    email="alice@example.com",
    account_id=ALICE,
    client_id="client-1",
    client_name="fuzz",
    environment_id="env-1",
    scopes=frozenset({READ, WRITE, PROJECTS}),
    expires_at=4_102_444_800.0,
)


def pipeline_for(
    sim: Starlette, http: httpx.AsyncClient, tools: list[ToolSpec[JiraCall]] | None = None
) -> tuple[ToolPipeline, MemoryAudit]:
    token = sim.state.sim.tokens.mint(ALICE, "policyarc-demo", ALL_SCOPES, [ACME])["access_token"]
    audit = MemoryAudit()
    pipeline = ToolPipeline(
        tools=tools if tools is not None else JIRA_TOOLS,
        policy=Allow(),
        connectors=OneJiraSite(
            JiraClient(HttpxUpstream(http), api_url="http://sim/api", retry=RetryPolicy(attempts=1)), ACME
        ),
        vault=Tokens(token),
        audit=audit,
    )
    return pipeline, audit


def sim_http(sim: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://sim")


class Note(BaseModel):
    text: str


async def test_an_unforeseen_exception_in_a_handler_is_a_tool_error_with_its_audit_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(call: JiraCall, args: Note) -> dict[str, Any]:
        raise KeyError(f"the argument was {args.text}")

    tool = ToolSpec(
        name="broken",
        title="Broken",
        description="Fails.",
        scope=READ,
        input_model=Note,
        output_schema={"type": "object"},
        hints=ToolHints(read_only=True, destructive=False, idempotent=True),
        handler=broken,
    )
    sim = create_sim_app(SimConfig(rate_limits_enabled=False))
    async with sim_http(sim) as http:
        pipeline, audit = pipeline_for(sim, http, [tool])
        with caplog.at_level(logging.ERROR):
            result = await pipeline.call(CALLER, "broken", {"text": "secret-pass-phrase"})
    assert result.is_error
    assert result.structured_content is None
    assert "internal_error" in result.content[0].text
    assert "check the issue before retrying" in result.content[0].text
    [entry] = audit.entries
    assert (entry.tool, entry.decision, entry.error_code) == ("broken", "allowed", "internal_error")
    assert "KeyError" in caplog.text and "in broken" in caplog.text  # the exception's type and where it was
    assert "secret-pass-phrase" not in caplog.text  # but not its message, which quoted an argument


async def test_integers_past_64_bits_are_invalid_arguments_with_an_audit_record() -> None:
    # The SDK's JSON parser keeps 2**70 as an integer; the digest and the request body would both fail on it.
    sim = create_sim_app(SimConfig(rate_limits_enabled=False))
    async with sim_http(sim) as http:
        pipeline, audit = pipeline_for(sim, http)
        result = await pipeline.call(
            CALLER, "create_issue", {"project": "ENG", "summary": "x", "fields": {"customfield_1": 2**70}}
        )
    assert result.is_error
    assert "fields: Value error, must be plain JSON that Jira can take" in result.content[0].text
    [entry] = audit.entries
    assert (entry.decision, entry.error_code) == ("invalid_input", "invalid_arguments")


async def test_a_long_pathological_description_reaches_jira_as_valid_adf(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    convert = m2a.markdown_to_adf

    def recording(text: str) -> dict[str, Any]:
        threads.append(threading.get_ident())
        return convert(text)

    monkeypatch.setattr(m2a, "markdown_to_adf", recording)
    sim = create_sim_app(SimConfig(rate_limits_enabled=False))
    description = "*" * 16_000 + "kept" + "*" * 15_995
    async with sim_http(sim) as http:
        pipeline, audit = pipeline_for(sim, http)
        result = await pipeline.call(
            CALLER, "create_issue", {"project": "ENG", "summary": "x", "description": description}
        )
        too_long = await pipeline.call(
            CALLER, "create_issue", {"project": "ENG", "summary": "x", "description": "a" * (m2a.MAX_MARKDOWN + 1)}
        )
    assert not result.is_error, result.content
    assert threads and threading.get_ident() not in threads  # converted off the event loop
    stored = sim.state.sim.world.sites["acme"].issues[result.structured_content["key"]].description
    assert_valid(stored)
    assert "kept" in plain_text(stored)
    assert too_long.is_error
    assert too_long.content[0].text == (
        f"Invalid arguments for create_issue: description: String should have at most {m2a.MAX_MARKDOWN} characters"
    )
    assert [entry.error_code for entry in audit.entries] == [None, "invalid_arguments"]


# Arguments as an agent (or an attacker) might send them: right-typed mostly, sometimes anything JSON holds.
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
STRINGS = (
    st.text(max_size=30)
    | st.sampled_from(
        ["ENG-1", "ENG", "SEC-1", "OPS-2", "me", "none", "Done", "In Progress", "11", "alice@example.com",
         "project = ENG", "project = FOO", "ENG-999999", "0", "-1", "x" * 300]
    )
    | st.sampled_from(["[" * 2_100, "*" * 1_100 + "a" + "*" * 1_099, "> " * 200 + "q", nested_list(70, "i")])
)  # fmt: skip


def _for_property(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    kinds = {option.get("type") for option in schema.get("anyOf", [schema])}
    options: list[st.SearchStrategy[Any]] = [JSON]
    if "string" in kinds:
        options.append(STRINGS)
    if "integer" in kinds:
        options.append(st.integers(min_value=-3, max_value=120) | st.just(2**70))
    if "boolean" in kinds:
        options.append(st.booleans())
    if "array" in kinds:
        options.append(st.lists(STRINGS, max_size=4))
    if "object" in kinds:
        options.append(
            st.dictionaries(st.sampled_from(["labels", "resolution", "customfield_1", "x"]), JSON, max_size=3)
        )
    return st.one_of(*options)


@st.composite
def tool_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    tool = draw(st.sampled_from(JIRA_TOOLS))
    properties: dict[str, Any] = tool.input_model.model_json_schema()["properties"]
    chosen = draw(st.lists(st.sampled_from(sorted(properties)), unique=True, max_size=len(properties)))
    arguments = {name: draw(_for_property(properties[name])) for name in chosen}
    if draw(st.integers(0, 9)) == 0:
        arguments[draw(st.text(max_size=8))] = draw(JSON)
    return tool.name, arguments


_SIM: list[Starlette] = []


def _shared_sim() -> Starlette:
    if not _SIM:  # the seeded world is built once for all examples; creates and edits only add to it
        _SIM.append(create_sim_app(SimConfig(rate_limits_enabled=False)))
    return _SIM[0]


async def _call_once(name: str, arguments: dict[str, Any]) -> tuple[types.CallToolResult, list[AuditEntry]]:
    sim = _shared_sim()
    async with sim_http(sim) as http:
        pipeline, audit = pipeline_for(sim, http)
        result = await pipeline.call(CALLER, name, arguments)
    return result, audit.entries


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(tool_calls())
def test_any_arguments_to_any_tool_give_a_result_and_one_audit_record(call: tuple[str, dict[str, Any]]) -> None:
    name, arguments = call
    result, entries = asyncio.run(_call_once(name, arguments))
    assert isinstance(result, types.CallToolResult)
    assert len(entries) == 1
    # The catch-all must not be what answered: every failure here has a specific code and message.
    assert entries[0].error_code != "internal_error", (name, arguments, result.content)
    if result.is_error:
        assert result.content[0].text


# -- the same through HTTP, on the fast path and the SDK's ---------------------------------------------------

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "SDK path"])
async def test_a_fault_in_a_tool_is_a_tool_error_on_both_paths(
    tmp_path: Path, fast_path: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from policyarc.store.models import AuditRecord
    from tests.e2e.harness import running_product

    def broken(*_: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    async with running_product(tmp_path, fast_path=fast_path) as product:
        async with product.client("alice@example.com") as client:
            await client.list_tools()
        monkeypatch.setattr(shaping, "issue_detail", broken)
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {product.token_of('alice@example.com')}"}
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_issue"}}
        async with product.raw() as http:
            response = await http.post(
                "/mcp", json={**call, "params": {**call["params"], "arguments": {"key": "ENG-1"}}}, headers=headers
            )
            big = {"key": "ENG-1", "max_comments": 2**70}
            oversized = await http.post(
                "/mcp", json={**call, "params": {**call["params"], "arguments": big}}, headers=headers
            )
        async with product.gateway.sessions() as session:
            rows = (await session.scalars(select(AuditRecord).order_by(AuditRecord.id))).all()
    assert response.status_code == 200
    result = orjson.loads(response.content)["result"]
    assert result["isError"] is True
    assert "internal_error" in result["content"][0]["text"]
    assert oversized.status_code == 200
    assert orjson.loads(oversized.content)["result"]["isError"] is True
    assert [(row.tool, row.error_code) for row in rows] == [
        ("get_issue", "internal_error"),
        ("get_issue", "invalid_arguments"),
    ]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (httpx.ReadTimeout("slow"), "The connection to Jira failed after the change was sent (ReadTimeout)"),
        (httpx.Response(500, json={}), "Jira answered HTTP 500 to this change, which it may have made."),
    ],
    ids=["ReadTimeout", "HTTP 500"],
)
async def test_a_write_that_may_have_happened_tells_the_agent_to_check_first(answer: Any, words: str) -> None:
    def jira(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    sim = create_sim_app(SimConfig(rate_limits_enabled=False))
    async with httpx.AsyncClient(transport=httpx.MockTransport(jira)) as http:
        pipeline, audit = pipeline_for(sim, http)
        result = await pipeline.call(CALLER, "update_issue", {"key": "ENG-1", "summary": "new"})
    assert result.is_error
    assert result.content[0].text.startswith(words)
    assert "Check the issue in Jira (for a new issue, search for it) before retrying" in result.content[0].text
    [entry] = audit.entries
    assert entry.error_code == "outcome_unknown"
