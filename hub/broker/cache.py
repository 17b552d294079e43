"""Caches with single flight: however many requests arrive at once for the same key, one computation runs.

Entries and their expiry are ``cachetools``'; what is added here is the single flight and when an entry expires.

- :class:`CredentialCache`: credentials per person, role and session policy, reused until ``margin`` before they
  expire. The AWS SDKs refresh ``credential_process`` credentials 15 minutes before expiry (botocore's advisory
  refresh) and re-run the process on every call while less than that remains; serving credentials with at least
  15 minutes left means one STS call per person per (session length - 15 minutes), however many SDK clients refresh.
  For sessions shorter than twice the margin, credentials are reused for half their lifetime instead.
- :class:`TTLCache`: short-lived memo of what a token's owner may have (so a busy server does not make the hub
  decrypt auth_state on every call; whether the token is still valid is asked every time); entries live ``ttl``
  seconds. A removal from a group is noticed after at most ``ttl`` plus the hub's
  ``auth_refresh_age``.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable

import cachetools

from .minting import Credentials

# Past this many entries the least recently used go first (they are minted or asked again when needed).
MAX_ENTRIES = 10_000


class SingleFlight:
    """Run at most one ``compute()`` per key at a time; concurrent callers await the same result (or error)."""

    def __init__(self):
        self._inflight: dict[Hashable, asyncio.Future] = {}

    def running(self, key: Hashable) -> bool:
        return key in self._inflight

    async def run(self, key: Hashable, compute: Callable[[], Awaitable]):
        future = self._inflight.get(key)
        if future is not None:
            return await asyncio.shield(future)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await compute()
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._inflight[key]


class CredentialCache:
    def __init__(self, margin_seconds: float, clock: Callable[[], float] = time.time):
        self.margin_seconds = margin_seconds
        self._entries = cachetools.TLRUCache(MAX_ENTRIES, self._reusable_until, timer=clock)
        self._flight = SingleFlight()

    def _reusable_until(self, _key, credentials: Credentials, _now: float) -> float:
        margin = min(self.margin_seconds, credentials.lifetime_seconds / 2)
        return credentials.expiration.timestamp() - margin

    def cached(self, key: Hashable) -> Credentials | None:
        return self._entries.get(key)

    async def get(self, key: Hashable, mint: Callable[[], Awaitable[Credentials]]) -> tuple[Credentials, bool]:
        """``(credentials, from_cache)``; ``mint`` runs only when nothing reusable is cached or in flight."""
        credentials = self.cached(key)
        if credentials is not None:
            return credentials, True

        async def mint_and_store():
            fresh = await mint()
            self._entries[key] = fresh
            return fresh

        joined = self._flight.running(key)
        return await self._flight.run(key, mint_and_store), joined


class TTLCache:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._entries = cachetools.TTLCache(MAX_ENTRIES, ttl_seconds, timer=clock)
        self._flight = SingleFlight()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable]):
        try:
            return self._entries[key]
        except KeyError:
            pass

        async def compute_and_store():
            self._entries[key] = value = await compute()
            return value

        return await self._flight.run(key, compute_and_store)
