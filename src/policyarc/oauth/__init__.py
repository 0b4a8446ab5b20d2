"""The gateway as the OAuth authorization server of its MCP endpoint, federating sign-in to Atlassian.

Wiring (in the app's lifespan; everything is passed in):

    config = OAuthConfig.from_settings(settings, environment_id=env_id, scopes=[t.scope for t in JIRA_TOOLS])
    clock = SystemClock()
    resolver = TokenResolver(sessions=sessions, config=config, clock=clock)
    documents = MetadataDocumentFetcher(document_client(8), allow_loopback_http=config.loopback_issuer)  # own pool
    provider = GatewayAuthProvider(sessions=sessions, config=config, policy=policy, clock=clock,
                                   metadata_documents=documents, revocation_listeners=[resolver])
    cookies = CookieJar(secure=config.secure_cookies)
    routes = create_oauth_routes(
        provider=provider,
        federation=Federation(sessions=sessions, config=config, keyring=keyring, identity=identity, clock=clock,
                              cookies=cookies),
        consent=ConsentPages(sessions=sessions, provider=provider, policy=policy, clock=clock, cookies=cookies),
    )
    # McpEndpoint(resolver=resolver, resource_metadata_url=resource_metadata_url(config), ...)
"""

from policyarc.oauth.cimd import MetadataDocumentFetcher
from policyarc.oauth.config import Clock, OAuthConfig, SystemClock
from policyarc.oauth.consent import ConsentPages
from policyarc.oauth.federation import Federation
from policyarc.oauth.provider import GatewayAuthProvider
from policyarc.oauth.resolver import TokenResolver
from policyarc.oauth.routes import create_oauth_routes, resource_metadata_url
from policyarc.oauth.sessions import CookieJar

__all__ = [
    "Clock",
    "ConsentPages",
    "CookieJar",
    "Federation",
    "GatewayAuthProvider",
    "MetadataDocumentFetcher",
    "OAuthConfig",
    "SystemClock",
    "TokenResolver",
    "create_oauth_routes",
    "resource_metadata_url",
]
