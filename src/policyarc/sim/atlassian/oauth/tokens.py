"""The token store: authorization codes, access tokens and rotating refresh-token families.

Atlassian's 3LO tokens, as the simulator models them:

- an authorization code is single use, lives 10 minutes and is bound to the client, the redirect URI, the
  user, the scopes and the sites granted at consent;
- an access token lives `config.token_ttl` seconds;
- with `offline_access`, a refresh token comes along. Each refresh returns a new pair; a rotated refresh token
  keeps working for `config.refresh_leeway` seconds (each use returning yet another pair), and using it after
  that revokes the whole family, every access and refresh token descended from that consent;
- a refresh token unused for 90 days expires, and a family ends 365 days after consent.

Tokens are opaque random strings kept in dicts: `lookup_access` runs on every REST request.
All times come from the injected `Clock`, so tests move time instead of sleeping.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from policyarc.sim.atlassian.state import AccessGrant

if TYPE_CHECKING:
    from policyarc.sim.atlassian.model import World
    from policyarc.sim.atlassian.state import Clock, SimConfig

CODE_TTL = 600.0  # seconds an authorization code may wait to be exchanged
REFRESH_INACTIVITY = 90 * 86400.0  # a refresh token unused this long expires
FAMILY_LIFETIME = 365 * 86400.0  # consent is good for a year, however often it is refreshed
OFFLINE_ACCESS = "offline_access"

REFRESH_REJECTED = "Unknown or invalid refresh token."
INVALID_CODE = "Invalid authorization code"


class InvalidGrantError(Exception):
    """A code or refresh token that cannot be exchanged (rendered as 403 `invalid_grant`)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    account_id: str
    scopes: tuple[str, ...]
    cloud_ids: frozenset[str]
    expires_at: float
    # Set once the code has been exchanged; a second exchange revokes what the first one issued.
    family_id: str | None = None


@dataclass
class _Family:
    """Everything issued from one consent (one code exchange or one `mint`)."""

    id: str
    account_id: str
    client_id: str
    scopes: tuple[str, ...]
    cloud_ids: frozenset[str]
    consented_at: float
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)


@dataclass
class _RefreshToken:
    family_id: str
    issued_at: float
    rotated_at: float | None = None  # when it was first exchanged for a new pair


@dataclass
class _AccessToken:
    grant: AccessGrant
    family_id: str


class TokenStore:
    """Issues, resolves and revokes the simulator's OAuth tokens (implements `AccessTokenLookup`)."""

    def __init__(self, config: SimConfig, clock: Clock, world: World) -> None:
        self._config = config
        self._clock = clock
        self._world = world
        self._codes: dict[str, AuthorizationCode] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._families: dict[str, _Family] = {}
        self._families_by_user: dict[str, set[str]] = {}

    # -- authorization codes ------------------------------------------------------------------------------

    def issue_code(
        self,
        client_id: str,
        redirect_uri: str,
        account_id: str,
        scopes: Iterable[str],
        cloud_ids: Iterable[str],
    ) -> str:
        """A fresh single-use authorization code for a consent just given."""
        now = self._clock.time()
        self._drop_expired_codes(now)
        code = secrets.token_urlsafe(24)
        self._codes[code] = AuthorizationCode(
            client_id=client_id,
            redirect_uri=redirect_uri,
            account_id=account_id,
            scopes=_unique(scopes),
            cloud_ids=frozenset(cloud_ids),
            expires_at=now + CODE_TTL,
        )
        return code

    def redeem_code(self, code: str, client_id: str, redirect_uri: str) -> dict[str, Any]:
        """Exchange a code for a token response; raises `InvalidGrantError`."""
        record = self._codes.get(code)
        if record is None or record.client_id != client_id:
            raise InvalidGrantError(INVALID_CODE)
        if record.family_id is not None:
            # RFC 6749 4.1.2: a replayed code should revoke the tokens it already produced.
            self._revoke_family(record.family_id)
            raise InvalidGrantError(INVALID_CODE)
        if self._clock.time() >= record.expires_at:
            del self._codes[code]
            raise InvalidGrantError(INVALID_CODE)
        if record.redirect_uri != redirect_uri:
            raise InvalidGrantError("Invalid redirect URI.")
        family = self._new_family(record.account_id, record.client_id, record.scopes, record.cloud_ids)
        record.family_id = family.id
        return self._issue_pair(family)

    # -- access and refresh tokens ------------------------------------------------------------------------

    def mint(self, account_id: str, client_id: str, scopes: Iterable[str], cloud_ids: Iterable[str]) -> dict[str, Any]:
        """A token response as if the user had just consented (tests and benchmarks skip the browser)."""
        family = self._new_family(account_id, client_id, _unique(scopes), frozenset(cloud_ids))
        return self._issue_pair(family)

    def lookup_access(self, token: str) -> AccessGrant | None:
        """The grant for a live access token; None when unknown, expired or revoked."""
        record = self._access.get(token)
        if record is None:
            return None
        if self._clock.time() >= record.grant.expires_at:
            # Expired tokens are forgotten lazily, here; their family keeps its other tokens.
            del self._access[token]
            family = self._families.get(record.family_id)
            if family is not None:
                family.access_tokens.discard(token)
            return None
        return record.grant

    def refresh(self, refresh_token: str, client_id: str) -> dict[str, Any]:
        """Rotate a refresh token into a new pair; raises `InvalidGrantError`."""
        record = self._refresh.get(refresh_token)
        if record is None:
            raise InvalidGrantError(REFRESH_REJECTED)
        family = self._families[record.family_id]
        if family.client_id != client_id:
            raise InvalidGrantError(REFRESH_REJECTED)
        now = self._clock.time()
        if now >= family.consented_at + FAMILY_LIFETIME:
            self._revoke_family(family.id)
            raise InvalidGrantError(REFRESH_REJECTED)
        if record.rotated_at is None:
            if now >= record.issued_at + REFRESH_INACTIVITY:
                self._revoke_family(family.id)
                raise InvalidGrantError(REFRESH_REJECTED)
            record.rotated_at = now
        elif now > record.rotated_at + self._config.refresh_leeway:
            # Reuse after the leeway looks like a stolen token: end everything from this consent.
            self._revoke_family(family.id)
            raise InvalidGrantError(REFRESH_REJECTED)
        return self._issue_pair(family)

    # -- revocation ---------------------------------------------------------------------------------------

    def revoke_family_of(self, token: str) -> bool:
        """Revoke the family an access or refresh token belongs to; False if the token is unknown."""
        access = self._access.get(token)
        refresh = self._refresh.get(token)
        family_id = access.family_id if access else refresh.family_id if refresh else None
        if family_id is None:
            return False
        self._revoke_family(family_id)
        return True

    def revoke_user(self, account_id: str, client_id: str | None = None) -> int:
        """Revoke every family of a user (for one app, or all): the user removed the app's access."""
        family_ids = [
            family_id
            for family_id in self._families_by_user.get(account_id, set())
            if client_id is None or self._families[family_id].client_id == client_id
        ]
        for family_id in family_ids:
            self._revoke_family(family_id)
        return len(family_ids)

    # -- internals ----------------------------------------------------------------------------------------

    def _new_family(
        self, account_id: str, client_id: str, scopes: tuple[str, ...], cloud_ids: frozenset[str]
    ) -> _Family:
        family = _Family(
            id=secrets.token_hex(8),
            account_id=account_id,
            client_id=client_id,
            scopes=scopes,
            cloud_ids=cloud_ids,
            consented_at=self._clock.time(),
        )
        self._families[family.id] = family
        self._families_by_user.setdefault(account_id, set()).add(family.id)
        return family

    def _issue_pair(self, family: _Family) -> dict[str, Any]:
        now = self._clock.time()
        ttl = self._config.token_ttl
        access_token = secrets.token_urlsafe(32)
        grant = AccessGrant(
            account_id=family.account_id,
            client_id=family.client_id,
            scopes=frozenset(family.scopes),
            cloud_ids=family.cloud_ids,
            expires_at=now + ttl,
        )
        self._access[access_token] = _AccessToken(grant=grant, family_id=family.id)
        # A long-lived family refreshed many times would otherwise keep every access token it ever had.
        expired = [token for token in family.access_tokens if self._access[token].grant.expires_at <= now]
        for token in expired:
            family.access_tokens.discard(token)
            del self._access[token]
        family.access_tokens.add(access_token)
        response: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": ttl,
            "token_type": "Bearer",
            "scope": " ".join(family.scopes),
        }
        if OFFLINE_ACCESS in family.scopes:
            refresh_token = secrets.token_urlsafe(32)
            self._refresh[refresh_token] = _RefreshToken(family_id=family.id, issued_at=now)
            family.refresh_tokens.add(refresh_token)
            response["refresh_token"] = refresh_token
        return response

    def _revoke_family(self, family_id: str) -> None:
        family = self._families.pop(family_id, None)
        if family is None:
            return
        for token in family.access_tokens:
            self._access.pop(token, None)
        for token in family.refresh_tokens:
            self._refresh.pop(token, None)
        user_families = self._families_by_user.get(family.account_id)
        if user_families is not None:
            user_families.discard(family_id)
            if not user_families:
                del self._families_by_user[family.account_id]

    def _drop_expired_codes(self, now: float) -> None:
        # Codes are few and short-lived; sweeping when one is issued keeps abandoned ones from piling up.
        # A redeemed code stays until it expires so that a replay is recognised (and punished).
        expired = [code for code, record in self._codes.items() if now >= record.expires_at]
        for code in expired:
            del self._codes[code]


def _unique(scopes: Iterable[str]) -> tuple[str, ...]:
    """Scopes in first-seen order without repeats (the order the client asked them in)."""
    return tuple(dict.fromkeys(scopes))
