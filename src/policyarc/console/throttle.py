"""Throttling failed console sign-ins, per email and per client address.

After `free` failures inside `window` seconds, each further attempt for that key must wait, doubling from `base`
seconds up to `ceiling`; a success clears the email's count. Both keys count, so guessing many passwords for one
admin from many addresses, or many admins from one address, is slowed alike. In-process and bounded: the oldest
keys are dropped past `max_keys` (several instances each keep their own counts; a shared store is issue 10's
rate-limit work).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SignInThrottle"]


@dataclass
class _Failures:
    count: int
    first: float
    last: float


class SignInThrottle:
    def __init__(
        self,
        *,
        free: int = 5,
        window: float = 900.0,
        base: float = 2.0,
        ceiling: float = 300.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._free = free
        self._window = window
        self._base = base
        self._ceiling = ceiling
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def wait_for(self, email: str, address: str) -> float:
        """Seconds before another attempt for this email from this address is considered; 0 when allowed."""
        now = self._clock()
        return max(self._wait(f"email:{email.strip().lower()}", now), self._wait(f"addr:{address}", now))

    def failed(self, email: str, address: str) -> None:
        now = self._clock()
        for key in (f"email:{email.strip().lower()}", f"addr:{address}"):
            entry = self._failures.get(key)
            if entry is None or now - entry.first > self._window:
                entry = _Failures(count=0, first=now, last=now)
            entry.count += 1
            entry.last = now
            self._failures[key] = entry
            self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, email: str) -> None:
        self._failures.pop(f"email:{email.strip().lower()}", None)

    def _wait(self, key: str, now: float) -> float:
        entry = self._failures.get(key)
        if entry is None or now - entry.first > self._window or entry.count < self._free:
            return 0.0
        delay = min(self._ceiling, self._base * 2.0 ** (entry.count - self._free))
        return max(0.0, entry.last + delay - now)
