"""A simulator of Atlassian Cloud (OAuth 2.0 3LO, the Jira REST v3 API, site look-up) for the demo, the tests
and the benchmarks: `create_sim_app()` gives the ASGI app, `policyarc sim` serves it."""

from policyarc.sim.atlassian.app import create_sim_app
from policyarc.sim.atlassian.seed import build_world
from policyarc.sim.atlassian.state import SimConfig

__all__ = ["SimConfig", "build_world", "create_sim_app"]
