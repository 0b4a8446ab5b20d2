from __future__ import annotations

import httpx
import pytest

from policyarc.sim.atlassian.seed import ACME_CLOUD_ID, GLOBEX_CLOUD_ID


@pytest.mark.parametrize(
    ("site", "cloud_id"), [("acme", ACME_CLOUD_ID), ("globex", GLOBEX_CLOUD_ID), ("ACME", ACME_CLOUD_ID)]
)
async def test_tenant_info_needs_no_token(sim_client: httpx.AsyncClient, site: str, cloud_id: str) -> None:
    response = await sim_client.get(f"/site/{site}/_edge/tenant_info")
    assert response.status_code == 200
    assert response.json() == {"cloudId": cloud_id}


@pytest.mark.parametrize("site", ["acmee", "initech", "a" * 70])
async def test_unknown_site_is_404(sim_client: httpx.AsyncClient, site: str) -> None:
    response = await sim_client.get(f"/site/{site}/_edge/tenant_info")
    assert response.status_code == 404
    assert response.text == "Site not found"


async def test_tenant_info_is_read_only(sim_client: httpx.AsyncClient) -> None:
    response = await sim_client.post("/site/acme/_edge/tenant_info")
    assert response.status_code == 405
    assert response.json()["errorMessages"] == ["Method Not Allowed"]
