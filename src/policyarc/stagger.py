"""Cache lifetimes staggered per key, so entries filled together do not expire together.

A gateway that many users reach at once (a start, a deploy, a benchmark's warm-up) fills its per-token and
per-user caches within one second; with one fixed lifetime they all expire within one second too, and the calls
arriving then queue behind a burst of database reads. Each key keeps a fixed share of the configured lifetime,
between half and all of it, taken from a cheap hash of the key: deterministic, spread evenly over keys, and never
longer than the bound the configuration promises.
"""

from __future__ import annotations

import zlib

__all__ = ["staggered"]


def staggered(seconds: float, key: str) -> float:
    """`seconds` scaled by this key's share in [0.5, 1.0)."""
    return seconds * (0.5 + zlib.crc32(key.encode()) / 2**33)
