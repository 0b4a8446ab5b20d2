"""The current `PolicyEngine` of each environment, held in memory.

Persistence lives elsewhere (the `policies` table); whoever loads a row calls `install`, and the hot path
calls `get`. An install builds and validates the new engine first, then swaps one dict entry, so a reader
sees the old engine or the new one, never a half-built one, and a bad policy never replaces a good one.
Versions only move forward: a slow reload that finishes after a newer one cannot roll the policy back
(a rollback in the console is written as a new version).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from policyarc.policy.engine import PolicyEngine, validate_policy
from policyarc.policy.schema import ClientInfo, Principal, normalize_scopes

if TYPE_CHECKING:
    from policyarc.caller import Caller

logger = logging.getLogger(__name__)


class PolicyRegistry:
    """Engines by environment id, for one scope registry (every scope the gateway's connectors offer)."""

    def __init__(self, scopes: Iterable[str], *, cache_size: int = 50_000) -> None:
        self.scopes = normalize_scopes(scopes)
        self._cache_size = cache_size
        self._engines: dict[str, PolicyEngine] = {}
        self._lock = threading.Lock()

    def get(self, environment_id: str) -> PolicyEngine:
        """The environment's engine. Raises KeyError when none is installed (callers refuse the request)."""
        try:
            return self._engines[environment_id]
        except KeyError:
            raise KeyError(f"no policy installed for environment {environment_id!r}") from None

    def allowed(self, caller: Caller, scope: str) -> bool:
        """Does the caller's environment's current policy grant `scope` to this user on this client?

        Refuses (False) when the environment has no policy installed. Fits `mcp_endpoint.PolicyCheck`.
        """
        engine = self._engines.get(caller.environment_id)
        if engine is None:
            logger.warning("policy check refused: no policy installed", extra={"environment_id": caller.environment_id})
            return False
        return engine.caller_allowed(caller, scope)

    def allowed_scopes(self, caller: Caller, requested: Iterable[str]) -> frozenset[str]:
        """The subset of `requested` the caller's environment grants (empty when no policy is installed)."""
        engine = self._engines.get(caller.environment_id)
        if engine is None:
            return frozenset()
        return engine.allowed_scopes(Principal.of(caller), ClientInfo.of(caller), requested)

    def version(self, environment_id: str) -> int | None:
        """The installed version, or None: compare with the stored version to decide whether to reload."""
        engine = self._engines.get(environment_id)
        return None if engine is None else engine.version

    def install(self, environment_id: str, text: str, version: int) -> PolicyEngine:
        """Make `text` at `version` the environment's policy, and return the engine now in force.

        Raises `PolicyError` (and keeps the current engine) when the text is invalid. Installing the
        version already in force with the same text keeps its warm cache; an older version is ignored.
        """
        current = self._engines.get(environment_id)
        if current is not None and (current.version > version or (current.version, current.text) == (version, text)):
            return current
        engine = PolicyEngine(text, version, self.scopes, cache_size=self._cache_size)
        with self._lock:
            current = self._engines.get(environment_id)
            if current is not None and current.version > version:
                return current
            self._engines[environment_id] = engine
        return engine

    def remove(self, environment_id: str) -> None:
        """Forget the environment (deleted): later `get`s raise KeyError."""
        with self._lock:
            self._engines.pop(environment_id, None)

    def validate(self, text: str) -> list[str]:
        """Cedar's messages for `text` against this registry's schema; empty when it would install."""
        return validate_policy(text, self.scopes)
