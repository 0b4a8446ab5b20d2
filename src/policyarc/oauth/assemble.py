"""The OAuth parts of the gateway wired together once, for the app and for tests that need them alone."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import BaseRoute

from policyarc.environments import EnvironmentDirectory
from policyarc.identity.atlassian import AtlassianIdentity
from policyarc.mcp_endpoint import PolicyCheck
from policyarc.oauth.cimd import MetadataDocumentFetcher
from policyarc.oauth.config import Clock, OAuthConfig
from policyarc.oauth.consent import ConsentPages
from policyarc.oauth.federation import CALLBACK_PATH, Federation, LinkStore
from policyarc.oauth.idp_test import IdpTest
from policyarc.oauth.provider import GatewayAuthProvider
from policyarc.oauth.resolver import Pushes, TokenResolver
from policyarc.oauth.routes import create_oauth_routes
from policyarc.oauth.sessions import CookieJar
from policyarc.oauth.throttle import OAuthLimiters
from policyarc.secrets import KeyRing


@dataclass(frozen=True)
class OAuthParts:
    provider: GatewayAuthProvider
    resolver: TokenResolver  # the bearer-token check of /mcp; the provider clears its cache on revocation
    routes: list[BaseRoute]
    idp_test: IdpTest  # the console's test sign-in, through the same callback


def build_oauth(
    *,
    sessions: async_sessionmaker[AsyncSession],
    config: OAuthConfig,
    keyring: KeyRing,
    identity: AtlassianIdentity,
    policy: PolicyCheck,
    clock: Clock,
    links: LinkStore,
    documents: MetadataDocumentFetcher,
    limiters: OAuthLimiters | None = None,
    environments: EnvironmentDirectory | None = None,
    pushes: Pushes | None = None,
) -> OAuthParts:
    """`limiters` defaults to in-process token buckets at the rates in `config`; `environments` to the config's
    environment alone."""
    resolver = TokenResolver(sessions=sessions, config=config, clock=clock, pushes=pushes)
    provider = GatewayAuthProvider(
        sessions=sessions,
        config=config,
        policy=policy,
        clock=clock,
        metadata_documents=documents,
        revocation_listeners=[resolver],
        environments=environments,
    )
    cookies = CookieJar(secure=config.secure_cookies)
    idp_test = IdpTest(
        sessions=sessions, keyring=keyring, identity=identity, callback_url=f"{config.issuer}{CALLBACK_PATH}"
    )
    federation = Federation(
        sessions=sessions,
        config=config,
        keyring=keyring,
        identity=identity,
        clock=clock,
        cookies=cookies,
        links=links,
        test=idp_test,
    )
    consent = ConsentPages(sessions=sessions, provider=provider, policy=policy, clock=clock, cookies=cookies)
    routes = create_oauth_routes(provider=provider, federation=federation, consent=consent, limiters=limiters)
    return OAuthParts(provider, resolver, routes, idp_test)
