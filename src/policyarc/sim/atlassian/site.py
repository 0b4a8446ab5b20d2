"""The part of `https://{site}.atlassian.net` the gateway uses: `/_edge/tenant_info`, served at `/site/{site}/...`.

The real endpoint needs no authentication and answers `{"cloudId": "..."}`. For a site name nobody owns
the real host answers 404 with an HTML "site unavailable" page; the simulator answers 404 with the plain
text body `Site not found` (clients should only rely on the status).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.state import SimState


async def tenant_info(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    # Host names are case-insensitive, so is the site part of the URL.
    site = sim.world.sites.get(request.path_params["site"].lower())
    if site is None:
        return PlainTextResponse("Site not found", status_code=404)
    return JSONResponse({"cloudId": site.cloud_id})


def site_routes() -> list[BaseRoute]:
    """Routes standing for `https://{site}.atlassian.net`."""
    return [Route("/site/{site}/_edge/tenant_info", tenant_info, methods=["GET"])]
