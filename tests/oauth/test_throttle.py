"""The per-address token bucket: its arithmetic, its memory bound, and what counts as one address."""

from __future__ import annotations

import pytest

from policyarc.oauth import OAuthConfig
from policyarc.oauth.throttle import OAuthLimiters, TokenBucket, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


async def test_bursts_to_the_rate_then_refills_at_it() -> None:
    clock = Clock()
    bucket = TokenBucket(6, clock=clock)  # one every 10 s
    assert [await bucket.hit("a") for _ in range(6)] == [None] * 6
    assert await bucket.hit("a") == pytest.approx(10.0)
    clock.now += 4.0
    assert await bucket.hit("a") == pytest.approx(6.0)  # a refused request takes nothing
    clock.now += 6.0
    assert await bucket.hit("a") is None
    assert await bucket.hit("b") is None  # keys are independent


async def test_idle_keys_are_dropped_once_their_bucket_is_full_again() -> None:
    clock = Clock()
    bucket = TokenBucket(6, clock=clock)
    for n in range(500):
        await bucket.hit(f"10.0.{n // 256}.{n % 256}")
    assert len(bucket) == 500
    clock.now += 59.0
    await bucket.hit("late")
    assert len(bucket) == 501  # not yet full: forgetting them would hand out fresh bursts
    clock.now += 1.0
    await bucket.hit("later")
    assert len(bucket) == 2  # everyone from the first burst is full again: forgotten without loss


async def test_memory_is_bounded_under_a_spread_out_flood() -> None:
    clock = Clock()
    bucket = TokenBucket(6, clock=clock, max_keys=100)
    for n in range(10_000):
        await bucket.hit(f"key-{n}")
    assert len(bucket) == 100


async def test_evicted_busy_keys_are_the_least_recent() -> None:
    clock = Clock()
    bucket = TokenBucket(1, clock=clock, max_keys=2)
    await bucket.hit("a")
    await bucket.hit("b")
    await bucket.hit("a")  # refused, and now the most recent
    await bucket.hit("c")  # pushes out b
    assert await bucket.hit("a") is not None
    assert await bucket.hit("b") is None


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        TokenBucket(0)


@pytest.mark.parametrize(
    ("client", "key"),
    [
        (("203.0.113.9", 5000), "203.0.113.9"),
        (("2001:db8:a:b:c:d:e:f", 5000), "2001:db8:a:b::/64"),
        (("::ffff:203.0.113.9", 5000), "203.0.113.9"),
        (("testclient", 50000), "testclient"),
        (None, "unknown"),
    ],
)
def test_client_key(client: tuple[str, int] | None, key: str) -> None:
    assert client_key({"type": "http", "client": client}) == key


def test_zero_turns_a_limit_off() -> None:
    config = OAuthConfig(
        issuer="https://gw.example.com",
        environment_id="e",
        scopes=("jira:issues:read",),
        register_per_minute=0,
        authorize_per_minute=5,
        login_per_minute=0,
    )
    limiters = OAuthLimiters.in_process(config)
    assert limiters.register is None and limiters.login is None
    assert isinstance(limiters.authorize, TokenBucket)
