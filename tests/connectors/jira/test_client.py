import httpx
import pytest

from policyarc.connectors.jira.client import JiraClient, RetryPolicy
from policyarc.connectors.jira.errors import (
    JiraBadRequest,
    JiraNotFound,
    JiraOutcomeUnknown,
    JiraRateLimited,
    JiraUnauthorized,
    JiraUnavailable,
)
from policyarc.upstream import HttpxUpstream

FAST = RetryPolicy(attempts=3, max_wait=1.0, base_delay=0.001)


def client_for(handler: httpx.MockTransport) -> JiraClient:
    return JiraClient(HttpxUpstream(httpx.AsyncClient(transport=handler)), api_url="https://api.example", retry=FAST)


def scripted(*responses: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handle), seen


async def test_get_sends_the_callers_token_to_the_cloud_url() -> None:
    transport, seen = scripted(httpx.Response(200, json={"key": "ENG-1"}))
    body = await client_for(transport).get("cid", "issue/ENG-1", "user-token", params={"fields": "summary"})
    assert body == {"key": "ENG-1"}
    assert str(seen[0].url) == "https://api.example/ex/jira/cid/rest/api/3/issue/ENG-1?fields=summary"
    assert seen[0].headers["Authorization"] == "Bearer user-token"


async def test_read_retries_503_then_succeeds() -> None:
    transport, seen = scripted(httpx.Response(503), httpx.Response(200, json={"ok": True}))
    assert await client_for(transport).get("cid", "myself", "t") == {"ok": True}
    assert len(seen) == 2


async def test_read_honours_retry_after_on_429() -> None:
    transport, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "0"}, json={"errorMessages": ["slow down"]}),
        httpx.Response(200, json=[]),
    )
    assert await client_for(transport).get("cid", "project/search", "t") == []
    assert len(seen) == 2


async def test_retry_after_beyond_the_bound_is_surfaced_not_waited() -> None:
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "120"}, json={}))
    with pytest.raises(JiraRateLimited) as info:
        await client_for(transport).get("cid", "myself", "t")
    assert info.value.retry_after == 120
    assert len(seen) == 1


async def test_write_is_not_retried_after_a_5xx() -> None:
    transport, seen = scripted(httpx.Response(502), httpx.Response(201, json={"key": "ENG-9"}))
    with pytest.raises(JiraUnavailable):
        await client_for(transport).request("POST", "cid", "issue", "t", json={"fields": {}})
    assert len(seen) == 1


async def test_write_is_not_retried_after_a_read_timeout() -> None:
    transport, seen = scripted(httpx.ReadTimeout("slow"), httpx.Response(201, json={"key": "ENG-9"}))
    with pytest.raises(JiraUnavailable):
        await client_for(transport).request("POST", "cid", "issue", "t", json={"fields": {}})
    assert len(seen) == 1


async def test_write_is_retried_when_the_connection_never_opened() -> None:
    transport, seen = scripted(httpx.ConnectError("refused"), httpx.Response(201, json={"key": "ENG-9"}))
    assert await client_for(transport).request("POST", "cid", "issue", "t", json={}) == {"key": "ENG-9"}
    assert len(seen) == 2


async def test_search_post_marked_read_only_is_retried() -> None:
    transport, seen = scripted(httpx.Response(504), httpx.Response(200, json={"issues": []}))
    result = await client_for(transport).request("POST", "cid", "search/jql", "t", json={}, read_only=True)
    assert result == {"issues": []}
    assert len(seen) == 2


async def test_jira_error_messages_are_kept() -> None:
    body = {"errorMessages": ["The value 'FOO' does not exist for the field 'project'."], "errors": {}}
    transport, _ = scripted(httpx.Response(400, json=body))
    with pytest.raises(JiraBadRequest) as info:
        await client_for(transport).get("cid", "search/jql", "t")
    assert info.value.describe() == "The value 'FOO' does not exist for the field 'project'."


async def test_field_errors_and_status_classes() -> None:
    transport, _ = scripted(
        httpx.Response(404, json={"errorMessages": ["Issue does not exist or you do not have permission to see it."]}),
        httpx.Response(401, json={"code": 401, "message": "Unauthorized; scope does not match"}),
        httpx.Response(
            400, json={"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}
        ),
    )
    client = client_for(transport)
    with pytest.raises(JiraNotFound):
        await client.get("cid", "issue/X-1", "t")
    with pytest.raises(JiraUnauthorized, match="scope does not match"):
        await client.get("cid", "issue/X-1", "t")
    with pytest.raises(JiraBadRequest, match="summary: You must specify a summary"):
        await client.request("POST", "cid", "issue", "t", json={})


async def test_token_never_appears_in_error_text() -> None:
    transport, _ = scripted(httpx.ConnectError("refused"), httpx.ConnectError("refused"), httpx.ConnectError("x"))
    with pytest.raises(JiraUnavailable) as info:
        await client_for(transport).get("cid", "myself", "secret-token-value")
    assert "secret-token-value" not in str(info.value)


async def test_non_json_success_is_an_upstream_error() -> None:
    transport, _ = scripted(httpx.Response(200, content=b"<html>"))
    with pytest.raises(JiraUnavailable, match="not JSON"):
        await client_for(transport).get("cid", "myself", "t")


async def test_query_parameters_are_encoded_as_httpx_would() -> None:
    transport, seen = scripted(httpx.Response(200, json={}))
    params = {"jql": "project = ENG & x", "expand": ["names", "schema"], "validate": False, "startAt": 0}
    await client_for(transport).get("cid", "search", "t", params=params)
    query = seen[0].url.params
    assert query["jql"] == "project = ENG & x"  # spaces, = and & stay inside the value
    assert query.get_list("expand") == ["names", "schema"]
    assert query["validate"] == "false" and query["startAt"] == "0"


# -- issue 8: reads retried on 500 as the README says; a write's error says whether it may have been made -------


async def test_read_retries_500_then_succeeds() -> None:
    transport, seen = scripted(httpx.Response(500, json={"errorMessages": ["oops"]}), httpx.Response(200, json={}))
    assert await client_for(transport).get("cid", "issue/ENG-1", "t") == {}
    assert len(seen) == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), httpx.WriteError("reset")],
    ids=["ReadTimeout", "RemoteProtocolError", "WriteError"],
)
async def test_write_that_may_have_reached_jira_says_to_check_before_retrying(failure: Exception) -> None:
    transport, seen = scripted(failure, httpx.Response(201, json={"key": "ENG-9"}))
    with pytest.raises(JiraOutcomeUnknown) as info:
        await client_for(transport).request("PUT", "cid", "issue/ENG-1", "t", json={"fields": {}})
    assert len(seen) == 1
    text = info.value.describe()
    assert info.value.code == "outcome_unknown"
    assert f"({type(failure).__name__})" in text
    assert "may have made it" in text
    assert "Check the issue in Jira" in text and "before retrying" in text


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_write_answered_5xx_may_have_happened_and_keeps_jiras_words(status: int) -> None:
    transport, seen = scripted(httpx.Response(status, json={"errorMessages": ["Internal server error"]}))
    with pytest.raises(JiraOutcomeUnknown) as info:
        await client_for(transport).request("POST", "cid", "issue", "t", json={"fields": {}})
    assert len(seen) == 1
    text = info.value.describe()
    assert f"HTTP {status} to this change, which it may have made" in text
    assert "Check the issue in Jira (for a new issue, search for it) before retrying" in text
    assert "try again shortly" not in text
    assert text.endswith("Jira said: Internal server error")


async def test_write_that_never_left_says_the_change_was_not_made() -> None:
    transport, seen = scripted(httpx.ConnectError("refused"), httpx.ConnectTimeout("t"), httpx.ConnectError("no"))
    with pytest.raises(JiraUnavailable) as info:
        await client_for(transport).request("POST", "cid", "issue", "t", json={})
    assert len(seen) == 3
    assert not isinstance(info.value, JiraOutcomeUnknown)
    assert info.value.describe() == "Jira is unreachable (ConnectError); the change was not made; try again shortly."


async def test_write_refused_by_the_rate_limiter_says_the_change_was_not_made() -> None:
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "60"}, json={}))
    with pytest.raises(JiraRateLimited) as info:
        await client_for(transport).request("POST", "cid", "issue/ENG-1/transitions", "t", json={})
    assert len(seen) == 1
    assert info.value.describe() == "Jira's rate limit was reached. The change was not made."


async def test_read_failures_keep_saying_try_again() -> None:
    transport, seen = scripted(httpx.ReadTimeout("a"), httpx.ReadTimeout("b"), httpx.ReadTimeout("c"))
    with pytest.raises(JiraUnavailable) as info:
        await client_for(transport).request("POST", "cid", "search/jql", "t", json={}, read_only=True)
    assert len(seen) == 3
    assert not isinstance(info.value, JiraOutcomeUnknown)
    assert info.value.describe() == "The connection to Jira failed (ReadTimeout); try again shortly."
