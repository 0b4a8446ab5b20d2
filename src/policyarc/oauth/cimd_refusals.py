"""Recently refused Client ID Metadata Document URLs and hosts, so that a refusal is not fetched again at will.

Without it anyone can make the gateway send a GET to any URL as often as they open `/authorize`. A refused URL
is remembered for `ttl` seconds; so is its whole host when the connection to it failed (every URL there would
fail alike), or once `host_strikes` different URLs on it were refused within `ttl` (a stranger varying the path or
the query to get round the per-URL memory). Memory is bounded: at most `max_entries` URLs and as many hosts, the
oldest forgotten first.
"""

from __future__ import annotations

from dataclasses import dataclass

from policyarc.oauth.config import Clock

__all__ = ["Refusals"]


@dataclass(frozen=True, slots=True)
class _Refusal:
    reason: str
    at: float


class _ExpiringMap:
    """Insertion-ordered, so with one `ttl` for all the oldest entry is also the first to expire."""

    def __init__(self, *, ttl: float, max_entries: int) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, _Refusal] = {}

    def get(self, key: str, now: float) -> _Refusal | None:
        self._expire(now)
        return self._entries.get(key)

    def put(self, key: str, refusal: _Refusal) -> None:
        self._entries.pop(key, None)  # re-inserted at the end: its expiry moved
        self._entries[key] = refusal
        while len(self._entries) > self._max:
            del self._entries[next(iter(self._entries))]

    def _expire(self, now: float) -> None:
        while self._entries:
            key = next(iter(self._entries))
            if self._entries[key].at + self._ttl > now:
                return
            del self._entries[key]


class Refusals:
    def __init__(self, *, clock: Clock, ttl: float, max_entries: int, host_strikes: int) -> None:
        self._clock = clock
        self._ttl = ttl
        self._host_strikes = host_strikes
        self._max_entries = max_entries
        self._urls = _ExpiringMap(ttl=ttl, max_entries=max_entries)
        self._hosts = _ExpiringMap(ttl=ttl, max_entries=max_entries)
        self._strikes: dict[str, list[float]] = {}  # host -> when its URLs were refused, within ttl

    def reason(self, url: str, host: str) -> str | None:
        """Why `url` is refused without fetching it, or None when it may be fetched."""
        now = self._clock.time()
        refusal = self._hosts.get(host, now) or self._urls.get(url, now)
        if refusal is None:
            return None
        wait = max(1, round(refusal.at + self._ttl - now))
        return f"{refusal.reason} (remembered; the gateway fetches it again in {wait} s, once it is fixed)"

    def refuse_url(self, url: str, host: str, reason: str) -> None:
        now = self._clock.time()
        self._urls.put(url, _Refusal(reason, now))
        strikes = [at for at in self._strikes.pop(host, []) if at + self._ttl > now] + [now]
        if len(strikes) >= self._host_strikes:
            self.refuse_host(host, f"{len(strikes)} client_id URLs on {host} were refused in the last {self._ttl:g} s")
            return
        self._strikes[host] = strikes
        while len(self._strikes) > self._max_entries:
            del self._strikes[next(iter(self._strikes))]

    def refuse_host(self, host: str, reason: str) -> None:
        self._hosts.put(host, _Refusal(reason, self._clock.time()))
