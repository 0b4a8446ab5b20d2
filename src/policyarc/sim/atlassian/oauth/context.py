"""How the OAuth handlers reach the simulator's state from a request."""

from __future__ import annotations

from starlette.requests import Request

from policyarc.sim.atlassian.oauth.tokens import TokenStore
from policyarc.sim.atlassian.state import SimState


def sim_state(request: Request) -> SimState:
    state = request.app.state.sim
    if not isinstance(state, SimState):
        raise RuntimeError("the app has no SimState at app.state.sim")
    return state


def token_store(request: Request) -> TokenStore:
    tokens = sim_state(request).tokens
    if not isinstance(tokens, TokenStore):
        raise RuntimeError("SimState.tokens is not the OAuth server's TokenStore")
    return tokens
