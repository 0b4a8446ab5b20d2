"""Fixtures for the OAuth server tests; the world and helpers they use live in oauth_sim.py."""

from tests.sim.atlassian.oauth.oauth_sim import make_sim, sim

__all__ = ["make_sim", "sim"]
