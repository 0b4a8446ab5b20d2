"""Wires the OAuth server's endpoints, at the paths that stand for auth.atlassian.com and api.atlassian.com."""

from __future__ import annotations

from starlette.routing import Route

from policyarc.sim.atlassian.oauth.authorize import authorize_get, authorize_post
from policyarc.sim.atlassian.oauth.identity import accessible_resources, me
from policyarc.sim.atlassian.oauth.sim_tokens import mint_tokens, revoke_tokens
from policyarc.sim.atlassian.oauth.token_endpoint import token


def oauth_routes() -> list[Route]:
    """The routes to mount at the simulator's root."""
    return [
        Route("/auth/authorize", authorize_get, methods=["GET"]),
        Route("/auth/authorize", authorize_post, methods=["POST"]),
        Route("/auth/oauth/token", token, methods=["POST"]),
        Route("/api/oauth/token/accessible-resources", accessible_resources, methods=["GET"]),
        Route("/api/me", me, methods=["GET"]),
        Route("/_sim/tokens", mint_tokens, methods=["POST"]),
        Route("/_sim/tokens/revoke", revoke_tokens, methods=["POST"]),
    ]
