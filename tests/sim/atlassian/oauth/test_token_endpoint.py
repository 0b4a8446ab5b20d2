import pytest

from tests.sim.atlassian.oauth.oauth_sim import (
    DEMO_CALLBACK,
    DEMO_ID,
    DEMO_SECRET,
    OTHER_CALLBACK,
    OTHER_ID,
    OTHER_SECRET,
    Sim,
    SimFactory,
    bearer,
)

REFRESH_REJECTED = {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}


async def me_status(sim: Sim, access_token: str) -> int:
    return (await sim.client.get("/api/me", headers=bearer(access_token))).status_code


async def test_token_responses_are_not_cached(sim: Sim) -> None:
    response = await sim.exchange(await sim.code_for())
    assert response.headers["cache-control"] == "no-store"


async def test_wrong_secret_is_unauthorized_and_not_echoed(sim: Sim) -> None:
    code = await sim.code_for()
    response = await sim.exchange(code, client_secret="guess-me-wrong-secret")
    assert response.status_code == 401
    assert response.json() == {"error": "access_denied", "error_description": "Unauthorized"}
    assert "guess-me" not in response.text
    assert code not in response.text
    # The failed attempt did not burn the code.
    assert (await sim.exchange(code)).status_code == 200


async def test_unknown_client_is_unauthorized(sim: Sim) -> None:
    response = await sim.exchange(await sim.code_for(), client_id="no-such-app")
    assert response.status_code == 401
    assert response.json()["error"] == "access_denied"


async def test_non_ascii_secret_is_refused_not_crashed(sim: Sim) -> None:
    response = await sim.exchange(await sim.code_for(), client_secret="sécret")
    assert response.status_code == 401


async def test_code_of_another_client_is_invalid_grant(sim: Sim) -> None:
    code = await sim.code_for()
    response = await sim.exchange(code, client_id=OTHER_ID, client_secret=OTHER_SECRET, redirect_uri=OTHER_CALLBACK)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_grant"


async def test_code_is_single_use_and_a_replay_revokes_what_it_gave(sim: Sim) -> None:
    code = await sim.code_for()
    first = await sim.exchange(code)
    assert first.status_code == 200
    replay = await sim.exchange(code)
    assert replay.status_code == 403
    assert replay.json()["error"] == "invalid_grant"
    assert code not in replay.text
    assert await me_status(sim, first.json()["access_token"]) == 401
    assert (await sim.refresh(first.json()["refresh_token"])).status_code == 403


async def test_code_expires_after_ten_minutes(sim: Sim) -> None:
    code = await sim.code_for()
    sim.clock.advance(600)
    response = await sim.exchange(code)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_grant"


async def test_code_just_inside_ten_minutes_works(sim: Sim) -> None:
    code = await sim.code_for()
    sim.clock.advance(599)
    assert (await sim.exchange(code)).status_code == 200


async def test_redirect_uri_must_equal_the_one_used(sim: Sim) -> None:
    code = await sim.code_for()
    response = await sim.exchange(code, redirect_uri="http://127.0.0.1:8765/other")
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_grant"
    assert (await sim.exchange(code, redirect_uri=DEMO_CALLBACK)).status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"grant_type": "authorization_code",', "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"[" * 100000, "application/json"),
        (b'{"grant_type": "refresh_token", "client_id": 5}', "application/json"),
        (b"", "application/json"),
    ],
)
async def test_malformed_json_is_400(sim: Sim, content: bytes, content_type: str) -> None:
    response = await sim.client.post("/auth/oauth/token", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_other_content_types_are_415(sim: Sim) -> None:
    response = await sim.client.post(
        "/auth/oauth/token", content=b"grant_type=refresh_token", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["error"] == "invalid_request"


async def test_form_body_is_accepted(sim: Sim) -> None:
    code = await sim.code_for()
    form = {
        "grant_type": "authorization_code",
        "client_id": DEMO_ID,
        "client_secret": DEMO_SECRET,
        "code": code,
        "redirect_uri": DEMO_CALLBACK,
    }
    response = await sim.client.post("/auth/oauth/token", data=form)
    assert response.status_code == 200
    assert response.json()["access_token"]


@pytest.mark.parametrize("missing", ["grant_type", "client_id", "client_secret", "code", "redirect_uri"])
async def test_missing_parameters_are_invalid_request(sim: Sim, missing: str) -> None:
    body = {
        "grant_type": "authorization_code",
        "client_id": DEMO_ID,
        "client_secret": DEMO_SECRET,
        "code": "whatever",
        "redirect_uri": DEMO_CALLBACK,
    }
    del body[missing]
    response = await sim.client.post("/auth/oauth/token", json=body)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": f"Missing required parameter: {missing}",
    }
    assert DEMO_SECRET not in response.text


async def test_unsupported_grant_type(sim: Sim) -> None:
    body = {"grant_type": "password", "client_id": DEMO_ID, "client_secret": DEMO_SECRET}
    response = await sim.client.post("/auth/oauth/token", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_no_refresh_token_without_offline_access(sim: Sim) -> None:
    tokens = (await sim.exchange(await sim.code_for(scope="read:jira-work read:me"))).json()
    assert "refresh_token" not in tokens
    assert tokens["scope"] == "read:jira-work read:me"


async def test_refresh_rotates_to_a_new_pair_each_time(sim: Sim) -> None:
    first = (await sim.exchange(await sim.code_for())).json()
    second = (await sim.refresh(first["refresh_token"])).json()
    third = (await sim.refresh(second["refresh_token"])).json()
    tokens = {t[k] for t in (first, second, third) for k in ("access_token", "refresh_token")}
    assert len(tokens) == 6
    assert third["scope"] == first["scope"]
    assert third["expires_in"] == 3600
    for pair in (first, second, third):
        assert await me_status(sim, pair["access_token"]) == 200


async def test_rotated_refresh_token_works_within_the_leeway(sim: Sim) -> None:
    first = (await sim.exchange(await sim.code_for())).json()
    second = (await sim.refresh(first["refresh_token"])).json()
    sim.clock.advance(599)  # near the end of the 10-minute leeway: still accepted
    again = await sim.refresh(first["refresh_token"])
    assert again.status_code == 200
    assert again.json()["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    # The token rotated first is still the newest of its own line: it works too.
    assert (await sim.refresh(second["refresh_token"])).status_code == 200


async def test_reuse_after_the_leeway_revokes_the_whole_family(sim: Sim) -> None:
    first = (await sim.exchange(await sim.code_for())).json()
    second = (await sim.refresh(first["refresh_token"])).json()
    sim.clock.advance(601)
    third = (await sim.refresh(second["refresh_token"])).json()
    reuse = await sim.refresh(first["refresh_token"])
    assert reuse.status_code == 403
    assert reuse.json() == REFRESH_REJECTED
    assert first["refresh_token"] not in reuse.text
    for pair in (second, third):
        assert await me_status(sim, pair["access_token"]) == 401
        assert (await sim.refresh(pair["refresh_token"])).json() == REFRESH_REJECTED
    # Other consents of the same user are untouched.
    other = (await sim.exchange(await sim.code_for())).json()
    assert await me_status(sim, other["access_token"]) == 200


async def test_refresh_with_wrong_secret_or_other_client(sim: Sim) -> None:
    first = (await sim.exchange(await sim.code_for())).json()
    wrong = await sim.refresh(first["refresh_token"], client_secret="nope-secret")
    assert wrong.status_code == 401
    other = await sim.refresh(first["refresh_token"], client_id=OTHER_ID, client_secret=OTHER_SECRET)
    assert other.status_code == 403
    assert other.json() == REFRESH_REJECTED
    assert (await sim.refresh(first["refresh_token"])).status_code == 200


async def test_unknown_refresh_token(sim: Sim) -> None:
    response = await sim.refresh("not-a-token")
    assert response.status_code == 403
    assert response.json() == REFRESH_REJECTED


async def test_access_token_ttl_follows_config(make_sim: SimFactory) -> None:
    async with make_sim(token_ttl=60) as sim:
        tokens = (await sim.exchange(await sim.code_for())).json()
        assert tokens["expires_in"] == 60
        sim.clock.advance(59)
        assert await me_status(sim, tokens["access_token"]) == 200
        sim.clock.advance(1)
        assert await me_status(sim, tokens["access_token"]) == 401
        # The refresh token outlives its access token.
        assert (await sim.refresh(tokens["refresh_token"])).status_code == 200
