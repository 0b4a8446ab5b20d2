"""Every search, project and user operation, made to answer each status it can give, checked against the spec.

Statuses produced per operation (what the spec documents, plus 401/429 that the gateway can give any call):
search/jql GET and POST, approximate-count: 200 400 401 429; project/search: 200 400 401 429;
project/{key}: 200 401 404 429; myself: 200 401 429; user/search: 200 400 401 429;
user/assignable/search: 200 400 401 404 429; the removed /search: 401 410.
Not produced: project/search's documented 404 "if no projects matching the search criteria are found" (Jira
answers 200 with no values, and so does the simulator); 403 is documented for none of these operations.
401 is produced twice: no token (`Unauthorized`) and a token without the scope (`scope does not match`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from policyarc.sim.atlassian import SimConfig, build_world, create_sim_app
from policyarc.sim.atlassian.seed import ACME_CLOUD_ID, ALICE, BOB, DEMO_CLIENT_ID
from policyarc.sim.atlassian.state import Clock
from tests.sim.atlassian.jira.spec import assert_conforms, operation

BASE = f"/api/ex/jira/{ACME_CLOUD_ID}"
ALL_SCOPES = ("read:jira-work", "read:jira-user", "write:jira-work")


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # the spec's path template
    url: str  # the concrete path under /rest/api/3
    status: int
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    auth: str = "full"  # "full", "wrong-scope" or "none"
    user: str = ALICE


def _calls_for(method: str, path: str, url: str, ok: dict[str, Any], scope_wrong: bool = True) -> list[Call]:
    """200, the two 401s and 429 for one operation; `ok` holds the params/json of a successful call."""
    calls = [Call(method, path, url, 200, **ok), Call(method, path, url, 401, **ok, auth="none")]
    if scope_wrong:
        calls.append(Call(method, path, url, 401, **ok, auth="wrong-scope"))
    calls.append(Call(method, path, url, 429, **ok))
    return calls


JQL = "/rest/api/3/search/jql"
COUNT = "/rest/api/3/search/approximate-count"
PROJECTS = "/rest/api/3/project/search"
PROJECT = "/rest/api/3/project/{projectIdOrKey}"
MYSELF = "/rest/api/3/myself"
USERS = "/rest/api/3/user/search"
ASSIGNABLE = "/rest/api/3/user/assignable/search"
REMOVED = "/rest/api/3/search"

CALLS: list[Call] = [
    *_calls_for("GET", JQL, "/search/jql", {"params": {"jql": "project = ENG", "fields": "*all", "expand": "names"}}),
    Call("GET", JQL, "/search/jql", 400, params={"jql": "project = ENG AND"}),
    Call("GET", JQL, "/search/jql", 400, params={"jql": "order by key"}),
    Call("GET", JQL, "/search/jql", 400, params={"jql": "project = ENG", "nextPageToken": "bogus"}),
    *_calls_for("POST", JQL, "/search/jql", {"json": {"jql": "project = OPS", "fields": ["summary", "assignee"]}}),
    Call("POST", JQL, "/search/jql", 400, json={"jql": "nosuchfield = 1"}),
    Call("POST", JQL, "/search/jql", 400, json=["not", "an", "object"]),
    *_calls_for("POST", COUNT, "/search/approximate-count", {"json": {"jql": "project = MKT"}}),
    Call("POST", COUNT, "/search/approximate-count", 400, json={"jql": "summary ~"}),
    *_calls_for("GET", PROJECTS, "/project/search", {"params": {"expand": "description,lead,issueTypes,insight"}}),
    Call("GET", PROJECTS, "/project/search", 400, params={"orderBy": "colour"}),
    Call("GET", PROJECTS, "/project/search", 400, params={"startAt": "first"}),
    *_calls_for("GET", PROJECT, "/project/ENG", {}),
    Call("GET", PROJECT, "/project/SEC", 404, user=BOB),
    Call("GET", PROJECT, "/project/NOPE", 404),
    *_calls_for("GET", MYSELF, "/myself", {"params": {"expand": "groups,applicationRoles"}}),
    *_calls_for("GET", USERS, "/user/search", {"params": {"query": "a"}}),
    Call("GET", USERS, "/user/search", 400),
    *_calls_for("GET", ASSIGNABLE, "/user/assignable/search", {"params": {"project": "ENG"}}),
    Call("GET", ASSIGNABLE, "/user/assignable/search", 400),
    Call("GET", ASSIGNABLE, "/user/assignable/search", 404, params={"project": "SEC"}, user=BOB),
    Call("GET", REMOVED, "/search", 410, params={"jql": "project = ENG"}),
    Call("POST", REMOVED, "/search", 410, json={"jql": "project = ENG"}),
    Call("GET", REMOVED, "/search", 401, auth="none"),
    Call("POST", REMOVED, "/search", 401, json={"jql": "project = ENG"}, auth="wrong-scope"),
]


class _StillClock(Clock):
    """Stands still, so the one-request-a-second burst bucket never refills during a test."""

    def time(self) -> float:
        return 1_795_000_000.0 + self.offset


def _app(rate_limited: bool) -> Any:
    # A limit of one request a second per endpoint: the second identical call is refused.
    config = SimConfig(get_post_per_second=1.0) if rate_limited else SimConfig(rate_limits_enabled=False)
    return create_sim_app(config, world=build_world(), clock=_StillClock())


def _token(app: Any, call: Call) -> str | None:
    if call.auth == "none":
        return None
    scopes = ALL_SCOPES if call.auth == "full" else ("read:me",)
    return str(app.state.sim.tokens.mint(call.user, DEMO_CLIENT_ID, scopes, [ACME_CLOUD_ID])["access_token"])


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.url} {c.status} {c.auth}")
async def test_operation_answers_within_the_spec(call: Call) -> None:
    app = _app(rate_limited=call.status == 429)
    token = _token(app, call)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        attempts = 2 if call.status == 429 else 1
        for _ in range(attempts):
            response = await client.request(
                call.method, f"{BASE}/rest/api/3{call.url}", params=call.params, json=call.json, headers=headers
            )
    assert response.status_code == call.status, response.text
    body = response.json() if response.content else None
    assert_conforms(call.method, call.path, response.status_code, body)
    if call.status == 429:
        assert int(response.headers["Retry-After"]) >= 1
    if call.status == 401:
        expected = "Unauthorized" if call.auth == "none" else "Unauthorized; scope does not match"
        assert body == {"code": 401, "message": expected}


def test_every_operation_is_swept() -> None:
    """Each operation in the sweep gives 200 (or 410, for the removed search) and a 401."""
    swept: dict[tuple[str, str], set[int]] = {}
    for c in CALLS:
        swept.setdefault((c.method, c.path), set()).add(c.status)
    assert len(swept) == 10
    for (method, path), statuses in swept.items():
        operation(method, path)  # the spec knows it
        assert 401 in statuses and (200 in statuses or 410 in statuses), (method, path)


def test_the_checker_rejects_what_jira_would_not_send() -> None:
    """The harness is strict: missing keys, wrong types, unknown keys and bad error shapes all fail."""
    good_user = {
        "self": "https://api.atlassian.com/ex/jira/x/rest/api/3/user?accountId=1",
        "accountId": "1",
        "accountType": "atlassian",
        "active": True,
        "displayName": "A",
        "avatarUrls": {k: "https://a.example/x.png" for k in ("16x16", "24x24", "32x32", "48x48")},
    }
    assert_conforms("GET", MYSELF, 200, good_user)
    for bad in (
        {k: v for k, v in good_user.items() if k != "accountId"},
        {**good_user, "active": "yes"},
        {**good_user, "surprise": 1},
        {**good_user, "self": "not a url"},
        {**good_user, "accountType": "robot"},
    ):
        with pytest.raises(AssertionError):
            assert_conforms("GET", MYSELF, 200, bad)
    with pytest.raises(AssertionError):
        assert_conforms("GET", PROJECT, 404, {"errorMessages": ["x"]})  # `errors` is always sent
    with pytest.raises(AssertionError):
        assert_conforms("GET", MYSELF, 401, {"errorMessages": ["x"], "errors": {}})  # 401 is the gateway's
    with pytest.raises(AssertionError):
        assert_conforms("GET", MYSELF, 404, {"errorMessages": ["x"], "errors": {}})  # not documented for myself
    with pytest.raises(AssertionError):
        assert_conforms("GET", JQL, 200, {"issues": [{"id": "1", "fields": {"created": "2026-03-01"}}], "isLast": True})
    assert_conforms(
        "GET",
        JQL,
        200,
        {"issues": [{"id": "1", "fields": {"created": "2026-03-01T10:00:00.000+0000"}}], "isLast": True},
    )
