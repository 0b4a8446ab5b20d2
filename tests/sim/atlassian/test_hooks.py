from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from policyarc.sim.atlassian.hooks import ConnectionDropped, RequestLog, mask
from policyarc.sim.atlassian.state import Clock

TENANT_INFO = "/site/acme/_edge/tenant_info"
Mint = Callable[..., str]


async def _fault(client: httpx.AsyncClient, **rule: Any) -> dict[str, Any]:
    response = await client.post("/_sim/faults", json=rule)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- faults ------------------------------------------------------------------------------------------------


async def test_error_fault(sim_client: httpx.AsyncClient) -> None:
    rule = await _fault(sim_client, path="/site/acme/*", kind="error")
    response = await sim_client.get(TENANT_INFO)
    assert response.status_code == 503
    assert response.json() == {"errorMessages": [f"Simulated fault {rule['id']}."], "errors": {}}
    await _fault(sim_client, path="^/site/globex/", kind="error", status=500)
    assert (await sim_client.get("/site/globex/_edge/tenant_info")).status_code == 500


async def test_fault_matches_method_and_path(sim_client: httpx.AsyncClient) -> None:
    await _fault(sim_client, path=TENANT_INFO, method="post", kind="error")
    await _fault(sim_client, path="/site/globex/*", kind="error")
    assert (await sim_client.get(TENANT_INFO)).status_code == 200
    assert (await sim_client.post(TENANT_INFO)).status_code == 503


async def test_rate_limit_fault(sim_client: httpx.AsyncClient) -> None:
    await _fault(sim_client, path="/site/**", kind="rate_limit", retry_after=7, reason="jira-quota-tenant-based")
    response = await sim_client.get(TENANT_INFO)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["RateLimit-Reason"] == "jira-quota-tenant-based"
    assert response.json()["errorMessages"] == ["Rate limit exceeded."]


async def test_latency_fault(sim_client: httpx.AsyncClient) -> None:
    await _fault(sim_client, path=TENANT_INFO, kind="latency", latency_ms=60)
    started = time.perf_counter()
    response = await sim_client.get(TENANT_INFO)
    assert time.perf_counter() - started >= 0.06
    assert response.status_code == 200


async def test_drop_fault(sim_client: httpx.AsyncClient) -> None:
    await _fault(sim_client, path=TENANT_INFO, kind="drop", count=1)
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        await sim_client.get(TENANT_INFO)
    assert isinstance(caught.value, ConnectionDropped)
    assert (await sim_client.get(TENANT_INFO)).status_code == 200
    logged = (await sim_client.get("/_sim/requests")).json()["requests"]
    assert [(e["status"], e["error"]) for e in logged] == [(None, "connection dropped"), (200, None)]


async def test_fault_expires_after_count(sim_client: httpx.AsyncClient) -> None:
    await _fault(sim_client, path=TENANT_INFO, kind="error", count=2)
    statuses = [(await sim_client.get(TENANT_INFO)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert (await sim_client.get("/_sim/faults")).json() == {"faults": []}


async def test_fault_expires_after_seconds_of_clock_time(sim_client: httpx.AsyncClient) -> None:
    await _fault(sim_client, path=TENANT_INFO, kind="error", seconds=30)
    assert (await sim_client.get(TENANT_INFO)).status_code == 503
    await sim_client.post("/_sim/clock", json={"advance": 29})
    assert (await sim_client.get(TENANT_INFO)).status_code == 503
    await sim_client.post("/_sim/clock", json={"advance": 2})
    assert (await sim_client.get(TENANT_INFO)).status_code == 200


async def test_list_and_delete_faults(sim_client: httpx.AsyncClient) -> None:
    first = await _fault(sim_client, path="/a", kind="error")
    second = await _fault(sim_client, path="/b", kind="drop", count=3)
    listed = (await sim_client.get("/_sim/faults")).json()["faults"]
    assert [(r["id"], r["path"], r["kind"], r["remaining"]) for r in listed] == [
        (first["id"], "/a", "error", None),
        (second["id"], "/b", "drop", 3),
    ]
    assert (await sim_client.delete(f"/_sim/faults/{first['id']}")).status_code == 204
    assert (await sim_client.delete(f"/_sim/faults/{first['id']}")).status_code == 404
    assert [r["id"] for r in (await sim_client.get("/_sim/faults")).json()["faults"]] == [second["id"]]
    assert (await sim_client.delete("/_sim/faults")).status_code == 204
    assert (await sim_client.get("/_sim/faults")).json() == {"faults": []}


async def test_hooks_are_never_faulted(sim_client: httpx.AsyncClient) -> None:
    await _fault(sim_client, path="*", kind="drop")
    assert (await sim_client.get("/_sim/faults")).status_code == 200
    assert (await sim_client.delete("/_sim/faults")).status_code == 204
    assert (await sim_client.get(TENANT_INFO)).status_code == 200


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"path": "/a", "kind": "explode"}, "kind:"),
        ({"kind": "error"}, "path: Field required"),
        ({"path": "^(", "kind": "error"}, "not a valid regular expression"),
        ({"path": "/a", "kind": "error", "status": 200}, "status:"),
        ({"path": "/a", "kind": "error", "count": 0}, "count:"),
        ({"path": "/a", "kind": "error", "colour": "red"}, "colour: Extra inputs"),
        ([], "body must be a JSON object"),
    ],
)
async def test_bad_fault_rule(sim_client: httpx.AsyncClient, rule: Any, problem: str) -> None:
    response = await sim_client.post("/_sim/faults", json=rule)
    assert response.status_code == 400
    assert problem in response.json()["error"]


# --- request log -------------------------------------------------------------------------------------------


async def test_request_log_records_and_filters(sim_client: httpx.AsyncClient) -> None:
    await sim_client.get(TENANT_INFO, params={"x": "1"})
    await sim_client.get("/site/globex/_edge/tenant_info")
    await sim_client.post("/api/nothing", json={"a": [1, {"b": None}]})
    everything = (await sim_client.get("/_sim/requests")).json()
    entries = everything["requests"]
    assert [(e["seq"], e["method"], e["path"], e["status"]) for e in entries] == [
        (1, "GET", TENANT_INFO, 200),
        (2, "GET", "/site/globex/_edge/tenant_info", 200),
        (3, "POST", "/api/nothing", 404),
    ]
    assert everything["last_seq"] == 3
    assert entries[0]["query"] == "x=1"
    assert entries[0]["body"] is None
    assert entries[2]["body"] == {"a": [1, {"b": None}]}
    assert entries[2]["headers"]["content-type"] == "application/json"

    async def paths(**params: str) -> list[str]:
        return [e["path"] for e in (await sim_client.get("/_sim/requests", params=params)).json()["requests"]]

    assert await paths(path="/site/") == [TENANT_INFO, "/site/globex/_edge/tenant_info"]
    assert await paths(path="/site/*/_edge/*") == [TENANT_INFO, "/site/globex/_edge/tenant_info"]
    assert await paths(since="2") == ["/api/nothing"]
    assert await paths(method="post") == ["/api/nothing"]
    assert (await sim_client.get("/_sim/requests", params={"since": "x"})).status_code == 400
    assert (await sim_client.delete("/_sim/requests")).status_code == 204
    assert await paths() == []
    await sim_client.get(TENANT_INFO)
    assert (await sim_client.get("/_sim/requests")).json()["requests"][0]["seq"] == 4


def test_request_log_is_bounded() -> None:
    log = RequestLog(Clock(), maxlen=3)
    for n in range(5):
        log.record({"method": "GET", "path": f"/{n}", "query_string": b"", "headers": []})
    assert [e["path"] for e in log.entries()] == ["/2", "/3", "/4"]
    assert log.last_seq == 5


def test_mask() -> None:
    assert mask("abcdefghijklmnopqrstuvwxyz") == "****wxyz"
    assert mask("short-secret") == "****"


async def test_secrets_never_appear_in_the_log(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    secrets = {
        "token": token,
        "client_secret": "client-secret-AAAA-1111-zzzz",
        "code": "authorization-code-BBBB-2222",
        "refresh_token": "refresh-token-CCCC-3333-yyyy",
        "password": "hunter2-password-DDDD",
        "access_token": "access-token-EEEE-4444-xxxx",
    }
    await sim_client.get("/api/me", headers={"Authorization": f"Bearer {token}", "Cookie": "session=cookie-FFFF-5555"})
    await sim_client.post(
        "/auth/oauth/token",
        json={
            "grant_type": "authorization_code",
            "client_id": "policyarc-demo",
            "client_secret": secrets["client_secret"],
            "code": secrets["code"],
            "nested": [{"refreshToken": secrets["refresh_token"]}],
        },
    )
    await sim_client.post(
        "/auth/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": secrets["refresh_token"],
            "password": secrets["password"],
        },
    )
    await sim_client.post(
        "/api/anything",
        content=f'oops {{"Access-Token": "{secrets["access_token"]}"',
        headers={"content-type": "text/plain"},
    )
    await sim_client.get("/callback", params={"code": secrets["code"], "state": "st"})
    await sim_client.get("/callback", headers={"Authorization": f"Basic {secrets['password']}"})
    logged = await sim_client.get("/_sim/requests")
    for secret in [*secrets.values(), "cookie-FFFF-5555"]:
        assert secret not in logged.text
    entries = logged.json()["requests"]
    assert entries[0]["headers"]["authorization"] == f"Bearer ****{token[-4:]}"
    assert entries[0]["headers"]["cookie"] == "****5555"
    assert entries[1]["body"]["client_secret"] == "****zzzz"
    assert entries[1]["body"]["grant_type"] == "authorization_code"
    assert entries[2]["body"] == {"grant_type": "refresh_token", "refresh_token": "****yyyy", "password": "****DDDD"}
    assert entries[4]["query"] == "code=****2222&state=st"
    assert entries[5]["headers"]["authorization"] == "Basic ****DDDD"


# --- clock and reset ---------------------------------------------------------------------------------------


async def test_clock(sim_client: httpx.AsyncClient, sim_app: Starlette) -> None:
    before = (await sim_client.get("/_sim/clock")).json()
    assert before["offset"] == 0
    after = (await sim_client.post("/_sim/clock", json={"advance": 3600})).json()
    assert after["offset"] == 3600
    assert after["time"] - before["time"] >= 3600
    assert sim_app.state.sim.clock.offset == 3600
    for bad in ({"advance": -1}, {"advance": "soon"}, {"advance": True}, {}):
        assert (await sim_client.post("/_sim/clock", json=bad)).status_code == 400


async def test_reset(sim_client: httpx.AsyncClient, sim_app: Starlette, mint: Mint) -> None:
    sim = sim_app.state.sim
    token = mint("alice@example.com")
    assert sim.tokens.lookup_access(token) is not None
    del sim.world.sites["acme"].issues["ENG-1"]
    await _fault(sim_client, path="/nothing", kind="error")
    await sim_client.get(TENANT_INFO)
    await sim_client.post("/_sim/clock", json={"advance": 60})

    response = await sim_client.post("/_sim/reset")
    assert response.status_code == 200
    assert "ENG-1" in sim.world.sites["acme"].issues
    assert sim.tokens.lookup_access(token) is None
    assert (await sim_client.get("/_sim/faults")).json() == {"faults": []}
    assert (await sim_client.get("/_sim/requests")).json()["requests"] == []
    assert sim.clock.offset == 0
