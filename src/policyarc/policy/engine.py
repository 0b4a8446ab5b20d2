"""Decisions: may this user, through this client, hold this scope? One `PolicyEngine` per policy version.

The engine parses and validates its policy text once, at construction, and keeps a bounded LRU of decisions.
The cache belongs to the engine, and an engine never changes its text: installing a new version builds a new
engine with an empty cache, so a decision made under an old version cannot answer for a new one. A cache hit
is one dict look-up; a miss asks Cedar (tens of microseconds with the parsed policy set).

Decisions fail closed: a scope outside the registry, or a request Cedar cannot evaluate, is refused.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

import cedarpy

from policyarc.policy.errors import PolicyError
from policyarc.policy.schema import (
    ClientInfo,
    Principal,
    entities_for,
    normalize_scopes,
    request_for,
    schema_for,
)

if TYPE_CHECKING:
    from policyarc.caller import Caller

logger = logging.getLogger(__name__)

# Everything a policy can see about a request, so equal keys always mean equal decisions.
_Key = tuple[str, str, str, str, str]  # user id, email, client id, client name, scope


def validate_policy(text: str, scopes: Iterable[str]) -> list[str]:
    """Cedar's messages for everything wrong with `text` against the schema for `scopes`; empty when valid.

    Catches parse errors, unknown entity types, attributes and scopes, type errors, and templates (a template
    grants nothing until linked, and PolicyArc never links one).
    """
    schema = schema_for(scopes)
    try:
        result = cedarpy.validate_policies(text, schema)
    except ValueError as exc:
        return [str(exc)]
    errors = [str(error) for error in result.errors]
    if not errors and cedarpy.PolicySet.from_str(text).templates():
        errors.append("templates (policies with ?principal or ?resource) are not supported: name the entities")
    if not result.validation_passed and not errors:
        errors.append("the policy does not validate against the schema")
    return errors


class PolicyEngine:
    """A parsed, validated policy at one version, with its decision cache.

    Raises `PolicyError` (Cedar's messages in `.errors`) when `text` does not parse or validate.
    `scopes` is the scope registry: every scope any connector offers.
    """

    def __init__(self, text: str, version: int, scopes: Iterable[str], *, cache_size: int = 50_000) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self.text = text
        self.version = version
        self.scopes = frozenset(normalize_scopes(scopes))
        errors = validate_policy(text, self.scopes)
        if errors:
            raise PolicyError(errors)
        self._policies = cedarpy.PolicySet.from_str(text)
        self._cache: OrderedDict[_Key, bool] = OrderedDict()
        self._cache_size = cache_size
        self.evaluations = 0  # decisions Cedar actually made (cache misses), for tests and metrics

    def __repr__(self) -> str:
        return f"PolicyEngine(version={self.version!r}, policies={len(self._policies)})"

    @property
    def cached_decisions(self) -> int:
        return len(self._cache)

    def allowed(self, principal: Principal, client: ClientInfo, scope: str) -> bool:
        """Whether the policy grants `scope` to this user on this client."""
        decision = self._hit((principal.user_id, principal.email, client.client_id, client.name, scope))
        if decision is None:
            return self._decide(principal, client, (scope,))[scope]
        return decision

    def caller_allowed(self, caller: Caller, scope: str) -> bool:
        """`allowed` for a gateway token's caller; a cache hit builds no objects (the tool-call hot path)."""
        decision = self._hit((caller.user_id, caller.email, caller.client_id, caller.client_name, scope))
        if decision is None:
            return self._decide(Principal.of(caller), ClientInfo.of(caller), (scope,))[scope]
        return decision

    def _hit(self, key: _Key) -> bool | None:
        decision = self._cache.get(key)
        if decision is not None:
            # A plain try is cheaper than contextlib.suppress on this, the hottest path of the gateway.
            try:  # noqa: SIM105
                self._cache.move_to_end(key)
            except KeyError:  # evicted by another thread meanwhile; the decision still stands
                pass
        return decision

    def allowed_scopes(self, principal: Principal, client: ClientInfo, requested: Iterable[str]) -> frozenset[str]:
        """The subset of `requested` the policy grants to this user on this client."""
        granted: set[str] = set()
        missing: list[str] = []
        prefix = (principal.user_id, principal.email, client.client_id, client.name)
        for scope in dict.fromkeys(requested):
            decision = self._cache.get((*prefix, scope))
            if decision is None:
                missing.append(scope)
            elif decision:
                granted.add(scope)
        if missing:
            granted.update(scope for scope, ok in self._decide(principal, client, missing).items() if ok)
        return frozenset(granted)

    def _decide(self, principal: Principal, client: ClientInfo, scopes: Iterable[str]) -> dict[str, bool]:
        decisions = dict.fromkeys(scopes, False)
        known = [scope for scope in decisions if scope in self.scopes]
        if not known:
            return decisions
        requests = [request_for(principal.user_id, client.client_id, scope) for scope in known]
        try:
            entities = json.dumps(entities_for(principal, client))
            results = cedarpy.is_authorized_batch(requests, self._policies, entities)
        except Exception as exc:  # fail closed, and do not cache: the next call may be well-formed
            self._refused(principal, client, type(exc).__name__)
            return decisions
        self.evaluations += len(known)
        prefix = (principal.user_id, principal.email, client.client_id, client.name)
        for scope, result in zip(known, results, strict=True):
            if result.decision is cedarpy.Decision.NoDecision:  # the request itself was malformed
                self._refused(principal, client, "no decision")
                continue
            decisions[scope] = result.allowed
            self._remember((*prefix, scope), result.allowed)
        return decisions

    def _refused(self, principal: Principal, client: ClientInfo, why: str) -> None:
        # Cedar's own message would quote the entities (emails): say only what kind of failure it was.
        logger.warning(
            "policy decision refused: Cedar could not evaluate it (%s)",
            why,
            extra={"user_id": principal.user_id, "client_id": client.client_id, "policy_version": self.version},
        )

    def _remember(self, key: _Key, decision: bool) -> None:
        self._cache[key] = decision
        while len(self._cache) > self._cache_size:
            try:
                self._cache.popitem(last=False)
            except KeyError:
                break
