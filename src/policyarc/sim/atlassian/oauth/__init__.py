"""The simulator's OAuth 2.0 (3LO) server: auth.atlassian.com and the identity half of api.atlassian.com."""

from policyarc.sim.atlassian.oauth.routes import oauth_routes
from policyarc.sim.atlassian.oauth.tokens import InvalidGrantError, TokenStore

__all__ = ["InvalidGrantError", "TokenStore", "oauth_routes"]
