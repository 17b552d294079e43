"""Credential reuse until the refresh margin, and single flight under concurrency."""

import asyncio
from datetime import UTC, datetime

import pytest

from hub.broker.cache import CredentialCache, SingleFlight, TTLCache
from hub.broker.minting import Credentials

pytestmark = pytest.mark.unit


def creds(issued, lifetime, key="A"):
    return Credentials(key, "s", "t", datetime.fromtimestamp(issued + lifetime, UTC), issued)


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_reused_until_fifteen_minutes_before_expiry():
    clock = Clock()
    cache = CredentialCache(900, clock=clock)
    minted = []

    async def mint():
        minted.append(clock.now)
        return creds(clock.now, 3600, key=f"K{len(minted)}")

    async def scenario():
        first, from_cache = await cache.get("ana", mint)
        assert (first.access_key_id, from_cache) == ("K1", False)
        clock.now += 2699  # 15 min + 1 s left
        assert (await cache.get("ana", mint))[1] is True
        clock.now += 1  # exactly 15 min left: botocore would refresh on every call; mint anew
        second, from_cache = await cache.get("ana", mint)
        assert (second.access_key_id, from_cache) == ("K2", False)

    asyncio.run(scenario())
    assert len(minted) == 2


def test_short_sessions_are_reused_for_half_their_lifetime():
    clock = Clock()
    cache = CredentialCache(900, clock=clock)
    short = creds(clock.now, 1000)

    async def mint():
        return short

    asyncio.run(cache.get("ana", mint))
    clock.now += 499
    assert cache.cached("ana") is short
    clock.now += 1
    assert cache.cached("ana") is None


def test_concurrent_requests_make_one_call_and_errors_are_not_cached():
    cache = CredentialCache(900, clock=Clock())
    calls = []

    async def slow_mint():
        calls.append(1)
        await asyncio.sleep(0.01)
        return creds(1_000_000.0, 3600)

    async def failing_mint():
        calls.append(1)
        await asyncio.sleep(0.01)
        raise RuntimeError("sts down")

    async def scenario():
        results = await asyncio.gather(*(cache.get("bob", failing_mint) for _ in range(20)), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results) and len(calls) == 1
        results = await asyncio.gather(*(cache.get("bob", slow_mint) for _ in range(100)))
        assert len(calls) == 2
        assert sorted(from_cache for _, from_cache in results) == [False] + [True] * 99

    asyncio.run(scenario())


def test_keys_are_separate():
    cache = CredentialCache(900, clock=Clock())

    async def scenario():
        a, _ = await cache.get(("ana", "r1"), lambda: asyncio.sleep(0, creds(1_000_000.0, 3600, "A")))
        b, _ = await cache.get(("ana", "r2"), lambda: asyncio.sleep(0, creds(1_000_000.0, 3600, "B")))
        return a.access_key_id, b.access_key_id

    assert asyncio.run(scenario()) == ("A", "B")


def test_ttl_cache_expires_and_single_flight_clears():
    clock = Clock(0)
    cache = TTLCache(30, clock=clock)
    computed = []

    async def compute():
        computed.append(1)
        return len(computed)

    async def scenario():
        assert await cache.get("t", compute) == 1
        clock.now = 29
        assert await cache.get("t", compute) == 1
        clock.now = 31
        assert await cache.get("t", compute) == 2

    asyncio.run(scenario())
    assert SingleFlight()._inflight == {}
