"""`GatewayAuthProvider`: the SDK's `OAuthAuthorizationServerProvider` over the gateway's store.

Every token, code and client secret is a random string stored only as its SHA-256 (`policyarc.secrets`). Codes
live five minutes and are single use: a second exchange revokes what the first one issued (RFC 6749 section
4.1.2). Each code starts a refresh *family*; refresh tokens rotate, and presenting a rotated one again revokes
the whole family (OAuth 2.1 section 4.3.1, refresh token reuse detection). Every token is bound to the MCP
resource of one environment (RFC 8707): the `resource` given at /authorize picks the environment (none: the
default one), and its code, tokens and consent carry that environment from then on; a refresh keeps it.

The user's part (sign-in at Atlassian, consent) happens between `authorize()` and the code: see federation.py and
consent.py, which finish with `issue_code()`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Any, Protocol, cast

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    RefreshToken,
    RegistrationError,
    TokenError,
    construct_redirect_uri,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from sqlalchemy import CursorResult, event, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policyarc.caller import Caller
from policyarc.environments import EnvironmentDirectory
from policyarc.mcp_endpoint import PolicyCheck
from policyarc.oauth import pending
from policyarc.oauth.bounds import code_challenge_problem, registration_problem
from policyarc.oauth.cimd import CimdError, MetadataDocumentFetcher, is_metadata_url, redirect_uri_allowed
from policyarc.oauth.config import Clock, OAuthConfig, utc
from policyarc.oauth.display import unsafe_characters
from policyarc.secrets import hash_token, new_token
from policyarc.store import models

__all__ = ["GatewayAuthProvider", "GatewayCode", "GatewayRefreshToken", "RevocationListener", "caller_for"]

logger = logging.getLogger(__name__)

_USE_PRECISION = timedelta(hours=1)  # how stale `last_used_at` may be; expiry is counted in days


class GatewayCode(AuthorizationCode):
    code_hash: str
    environment_id: str


class GatewayRefreshToken(RefreshToken):
    family: str
    environment_id: str


class RevocationListener(Protocol):
    def forget(self, token_hashes: Collection[str]) -> None:
        """Access tokens with these hashes were just revoked: drop any cached answer for them."""


class GatewayAuthProvider:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        config: OAuthConfig,
        policy: PolicyCheck,
        clock: Clock,
        metadata_documents: MetadataDocumentFetcher | None = None,
        revocation_listeners: Sequence[RevocationListener] = (),
        environments: EnvironmentDirectory | None = None,
    ) -> None:
        """`environments` defaults to the config's environment alone, served at `{issuer}/mcp`."""
        self._sessions = sessions
        self._config = config
        self._environments = environments or EnvironmentDirectory(
            None, public_url=config.issuer, known={"default": config.environment_id}
        )
        self._policy = policy
        self._clock = clock
        self._documents = metadata_documents
        self._listeners = list(revocation_listeners)

    @property
    def config(self) -> OAuthConfig:
        return self._config

    @property
    def environments(self) -> EnvironmentDirectory:
        return self._environments

    def add_revocation_listener(self, listener: RevocationListener) -> None:
        self._listeners.append(listener)

    # --- clients ---------------------------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        """A registered client, or a metadata-document client (fetched, cached for `cimd_ttl`). Never the secret."""
        if not client_id or len(client_id) > 2048:
            return None
        async with self._sessions() as db:
            row = await db.get(models.OAuthClient, client_id)
        if is_metadata_url(client_id):
            fresh = row is not None and row.kind == "cimd" and row.updated_at > utc(self._clock, -self._config.cimd_ttl)
            if not fresh:
                row = await self._fetch_document(client_id)
        if row is None:
            return None
        return self._client_info(row)

    async def client_secret_hash(self, client_id: str) -> str | None:
        async with self._sessions() as db:
            row = await db.get(models.OAuthClient, client_id)
        return row.client_secret_hash if row is not None and row.kind == "dcr" else None

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        if (too_big := registration_problem(client_info)) is not None:
            raise too_big
        uris = [str(uri) for uri in client_info.redirect_uris or []]
        if not uris or not all(redirect_uri_allowed(uri) for uri in uris):
            raise RegistrationError(
                "invalid_redirect_uri", "redirect URIs must be https, http on loopback, or a native app scheme"
            )
        hidden = unsafe_characters(client_info.client_name or "")
        if hidden:  # shown on the consent page; display.py explains how such characters deceive
            raise RegistrationError(
                "invalid_client_metadata",
                f"client_name contains control or bidirectional formatting characters ({', '.join(hidden)}); "
                "send it as plain text",
            )
        metadata = client_info.model_dump(mode="json", exclude={"client_secret"}, exclude_none=True)
        secret = client_info.client_secret
        now = utc(self._clock)
        async with self._sessions() as db, db.begin():
            db.add(
                models.OAuthClient(
                    client_id=client_info.client_id,
                    client_secret_hash=hash_token(secret) if secret else None,
                    client_metadata=metadata,
                    kind="dcr",
                    created_at=now,
                    updated_at=now,
                )
            )

    async def _fetch_document(self, client_id: str) -> models.OAuthClient | None:
        if self._documents is None:
            return None
        try:
            document = await self._documents.fetch(client_id)
        except CimdError as exc:
            logger.warning("client metadata document refused: %s", exc)
            return None
        now = utc(self._clock)
        try:
            async with self._sessions() as db, db.begin():
                row = await db.get(models.OAuthClient, client_id)
                if row is None:
                    row = models.OAuthClient(client_id=client_id, kind="cimd", created_at=now)
                    db.add(row)
                elif row.kind != "cimd":
                    return None  # a registered client's id is never a URL; refuse rather than overwrite
                row.client_metadata = document.as_metadata()
                row.client_secret_hash = None
                row.updated_at = now
        except IntegrityError:
            pass  # another request or instance cached it at the same moment: theirs is as good as ours
        async with self._sessions() as db:
            return await db.get(models.OAuthClient, client_id)

    def _client_info(self, row: models.OAuthClient) -> OAuthClientInformationFull:
        # The registry, not the registration, is the ceiling for `scope`: a client registered with the default
        # scope can still step up after a 403 insufficient_scope; policy and consent decide what it gets.
        data = {**row.client_metadata, "client_id": row.client_id, "scope": " ".join(self._config.scopes)}
        data.pop("client_secret", None)
        return OAuthClientInformationFull.model_validate(data)

    # --- authorization ---------------------------------------------------------------------------------------

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams, *, browser_hash: str | None = None
    ) -> str:
        """Store the request pending sign-in and consent, bound to `browser_hash` (see browser_binding.py)."""
        resource, environment_id = self._config.resource_url, self._config.environment_id
        if params.resource:
            environment = await self._environments.find_resource(params.resource)
            if environment is None:
                raise AuthorizeError(
                    "invalid_target",
                    f"this server has no MCP endpoint at {params.resource[:200]}; its default one is "
                    f"{self._config.resource_url}",
                )
            resource, environment_id = environment.resource, environment.id
        if (malformed := code_challenge_problem(params.code_challenge)) is not None:
            raise AuthorizeError("invalid_request", malformed)
        async with self._sessions() as db, db.begin():
            scopes = params.scopes or await self._registered_scopes(db, client.client_id)
            request_id = await pending.save_pending(
                db,
                pending.PendingAuthorization(
                    client_id=client.client_id,
                    redirect_uri=str(params.redirect_uri),
                    redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
                    code_challenge=params.code_challenge,
                    scopes=tuple(dict.fromkeys(scopes)),
                    state=params.state,
                    resource=resource,
                    browser_hash=browser_hash,
                    environment_id=environment_id,
                ),
                expires_at=utc(self._clock, self._config.pending_ttl),
            )
        return construct_redirect_uri(f"{self._config.issuer}/oauth/login", request=request_id)

    async def _registered_scopes(self, db: AsyncSession, client_id: str) -> list[str]:
        row = await db.get(models.OAuthClient, client_id)
        registered = str(row.client_metadata.get("scope") or "").split() if row else []
        known = [s for s in registered if s in self._config.scopes]
        return known or list(self._config.default_scopes)

    async def issue_code(
        self, db: AsyncSession, request: pending.PendingAuthorization, *, user_id: str, scopes: Sequence[str]
    ) -> str:
        """After consent: store a code for the granted scopes; returns the client redirect carrying it."""
        code = new_token("pa_ac_")
        await self._mark_used(db, request.client_id)
        db.add(
            models.AuthorizationCode(
                code_hash=hash_token(code),
                client_id=request.client_id,
                user_id=user_id,
                environment_id=request.environment_id or self._config.environment_id,
                redirect_uri=request.redirect_uri,
                redirect_uri_provided_explicitly=request.redirect_uri_provided_explicitly,
                code_challenge=request.code_challenge,
                scopes=" ".join(scopes),
                resource=request.resource,
                expires_at=utc(self._clock, self._config.code_ttl),
            )
        )
        return construct_redirect_uri(request.redirect_uri, code=code, state=request.state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> GatewayCode | None:
        code_hash = hash_token(authorization_code)
        async with self._sessions() as db, db.begin():
            row = await db.get(models.AuthorizationCode, code_hash)
            if row is None or row.client_id != client.client_id:
                return None
            if row.consumed_at is not None:
                # RFC 6749 section 4.1.2: a replayed code may mean it was stolen; what it issued is revoked.
                await self._revoke_family(db, _family_of(code_hash))
                return None
            if row.expires_at <= utc(self._clock):
                return None
            return GatewayCode(
                code=authorization_code,
                code_hash=code_hash,
                environment_id=row.environment_id,
                scopes=row.scopes.split(),
                expires_at=row.expires_at.timestamp(),
                client_id=row.client_id,
                code_challenge=row.code_challenge,
                redirect_uri=row.redirect_uri,
                redirect_uri_provided_explicitly=row.redirect_uri_provided_explicitly,
                resource=row.resource,
                subject=row.user_id,
            )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: GatewayCode
    ) -> OAuthToken:
        async with self._sessions() as db, db.begin():
            consumed = await db.execute(
                update(models.AuthorizationCode)
                .where(
                    models.AuthorizationCode.code_hash == authorization_code.code_hash,
                    models.AuthorizationCode.consumed_at.is_(None),
                )
                .values(consumed_at=utc(self._clock))
            )
            if cast(CursorResult[Any], consumed).rowcount == 1:
                return await self._issue(
                    db,
                    client_id=client.client_id,
                    user_id=str(authorization_code.subject),
                    scopes=authorization_code.scopes,
                    resource=authorization_code.resource or self._config.resource_url,
                    environment_id=authorization_code.environment_id,
                    family=_family_of(authorization_code.code_hash),
                )
        # Lost a race with another exchange of the same code: treat it as the replay it is. The revocation is
        # committed on its own before the error is raised; raised inside a transaction, it would be rolled back.
        await self._revoke_family_now(_family_of(authorization_code.code_hash))
        raise TokenError("invalid_grant", "authorization code was already used")

    # --- refresh ---------------------------------------------------------------------------------------------

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> GatewayRefreshToken | None:
        async with self._sessions() as db, db.begin():
            row = await db.get(models.RefreshToken, hash_token(refresh_token))
            if row is None or row.client_id != client.client_id or row.revoked_at is not None:
                return None
            if row.rotated_at is not None:
                logger.warning("rotated refresh token presented again: revoking its family")
                await self._revoke_family(db, row.family)
                return None
            if row.expires_at <= utc(self._clock):
                return None
            return GatewayRefreshToken(
                token=refresh_token,
                family=row.family,
                environment_id=row.environment_id,
                client_id=row.client_id,
                scopes=row.scopes.split(),
                expires_at=int(row.expires_at.timestamp()),
                resource=row.resource,
                subject=row.user_id,
            )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: GatewayRefreshToken, scopes: list[str]
    ) -> OAuthToken:
        async with self._sessions() as db, db.begin():
            token_hash = hash_token(refresh_token.token)
            rotated = await db.execute(
                update(models.RefreshToken)
                .where(
                    models.RefreshToken.token_hash == token_hash,
                    models.RefreshToken.rotated_at.is_(None),
                    models.RefreshToken.revoked_at.is_(None),
                )
                .values(rotated_at=utc(self._clock))
            )
            if cast(CursorResult[Any], rotated).rowcount == 1:
                user_id = str(refresh_token.subject)
                granted = await self._still_granted(db, client, user_id, scopes, refresh_token.environment_id)
                if not granted:  # raised inside: the rotation is rolled back, the token still works
                    raise TokenError("invalid_scope", "policy no longer grants any of these scopes; sign in again")
                return await self._issue(
                    db,
                    client_id=client.client_id,
                    user_id=user_id,
                    scopes=granted,
                    resource=refresh_token.resource or self._config.resource_url,
                    environment_id=refresh_token.environment_id,
                    family=refresh_token.family,
                )
        # Lost a race with another use of the same refresh token (OAuth 2.1 section 4.3.1): as for codes, the
        # family's revocation is committed before the refusal.
        await self._revoke_family_now(refresh_token.family)
        raise TokenError("invalid_grant", "refresh token was already used")

    async def _still_granted(
        self,
        db: AsyncSession,
        client: OAuthClientInformationFull,
        user_id: str,
        scopes: Sequence[str],
        environment_id: str,
    ) -> list[str]:
        user = await db.get(models.User, user_id)
        if user is None:
            return []
        caller = caller_for(user, client, environment_id, scopes)
        return [scope for scope in scopes if self._policy.allowed(caller, scope)]

    # --- access tokens and revocation ------------------------------------------------------------------------

    async def load_access_token(self, token: str) -> AccessToken | None:
        async with self._sessions() as db:
            row = await db.get(models.AccessToken, hash_token(token))
        if row is None or row.revoked_at is not None or row.expires_at <= utc(self._clock):
            return None
        return AccessToken(
            token=token,
            client_id=row.client_id,
            scopes=row.scopes.split(),
            expires_at=int(row.expires_at.timestamp()),
            resource=row.resource,
            subject=row.user_id,
        )

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        """Revoke the token and everything issued in its family (RFC 7009 section 2.1 allows it, we want it)."""
        token_hash = hash_token(token.token)
        async with self._sessions() as db, db.begin():
            family: str | None = None
            access = await db.get(models.AccessToken, token_hash)
            if access is not None:
                family = access.refresh_family
                if family is None:
                    access.revoked_at = access.revoked_at or utc(self._clock)
                    self._notify_after_commit(db, [token_hash])
            refresh = await db.get(models.RefreshToken, token_hash) if access is None else None
            if refresh is not None:
                family = refresh.family
            if family is not None:
                await self._revoke_family(db, family)

    async def _revoke_family_now(self, family: str) -> None:
        async with self._sessions() as db, db.begin():
            await self._revoke_family(db, family)

    async def _revoke_family(self, db: AsyncSession, family: str) -> None:
        now = utc(self._clock)
        hashes = list(
            await db.scalars(
                select(models.AccessToken.token_hash).where(
                    models.AccessToken.refresh_family == family, models.AccessToken.revoked_at.is_(None)
                )
            )
        )
        await db.execute(
            update(models.AccessToken)
            .where(models.AccessToken.refresh_family == family, models.AccessToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await db.execute(
            update(models.RefreshToken)
            .where(models.RefreshToken.family == family, models.RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        self._notify_after_commit(db, hashes)

    def _notify_after_commit(self, db: AsyncSession, hashes: Collection[str]) -> None:
        """Listeners hear of the revocation once it is committed, not before: a cache (here or on another instance,
        through notify.py) that dropped the token and re-read it before the commit would keep it alive. A rolled-back
        revocation is not announced."""
        if hashes:
            event.listen(db.sync_session, "after_commit", lambda _session: self._notify(hashes), once=True)

    def _notify(self, hashes: Collection[str]) -> None:
        for listener in self._listeners:
            listener.forget(hashes)

    async def _issue(
        self,
        db: AsyncSession,
        *,
        client_id: str,
        user_id: str,
        scopes: Sequence[str],
        resource: str,
        environment_id: str,
        family: str,
    ) -> OAuthToken:
        access, refresh = new_token("pa_at_"), new_token("pa_rt_")
        now = utc(self._clock)
        await self._mark_used(db, client_id)
        scope_text = " ".join(scopes)
        common: dict[str, Any] = {
            "client_id": client_id,
            "user_id": user_id,
            "environment_id": environment_id,
            "scopes": scope_text,
            "resource": resource,
            "created_at": now,
        }
        db.add(
            models.AccessToken(
                token_hash=hash_token(access),
                expires_at=utc(self._clock, self._config.access_token_ttl),
                refresh_family=family,
                **common,
            )
        )
        db.add(
            models.RefreshToken(
                token_hash=hash_token(refresh),
                family=family,
                expires_at=utc(self._clock, self._config.refresh_token_ttl),
                **common,
            )
        )
        return OAuthToken(
            access_token=access, expires_in=self._config.access_token_ttl, scope=scope_text, refresh_token=refresh
        )

    async def _mark_used(self, db: AsyncSession, client_id: str) -> None:
        """Date the client's last use for the janitor's expiry, writing at most once an hour per client."""
        now = utc(self._clock)
        await db.execute(
            update(models.OAuthClient)
            .where(
                models.OAuthClient.client_id == client_id,
                or_(models.OAuthClient.last_used_at.is_(None), models.OAuthClient.last_used_at < now - _USE_PRECISION),
            )
            # updated_at dates a cached metadata document (cimd_ttl): a use must not make it look fresh.
            .values(last_used_at=now, updated_at=models.OAuthClient.updated_at)
        )


def caller_for(
    user: models.User, client: OAuthClientInformationFull, environment_id: str, scopes: Sequence[str]
) -> Caller:
    """The caller a token for `scopes` would stand for: what policy is asked about before issuing it."""
    return Caller(
        user_id=user.id,
        email=user.email or "",
        account_id=user.idp_subject,
        client_id=client.client_id,
        client_name=client.client_name or "",
        environment_id=environment_id,
        scopes=frozenset(scopes),
        expires_at=0.0,
    )


def _family_of(code_hash: str) -> str:
    """The refresh family a code starts, derived from it, so a replayed code finds what it issued."""
    return hashlib.sha256(b"family\x00" + code_hash.encode()).hexdigest()[:32]
