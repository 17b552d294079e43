"""Caches with single flight: however many requests arrive at once for the same key, one computation runs.

- :class:`CredentialCache`: credentials per person, role and session policy, reused until ``margin`` before they
  expire. The AWS SDKs refresh ``credential_process`` credentials 15 minutes before expiry (botocore's advisory
  refresh) and re-run the process on every call while less than that remains; serving credentials with at least
  15 minutes left means one STS call per person per (session length - 15 minutes), however many SDK clients refresh.
  For sessions shorter than twice the margin, credentials are reused for half their lifetime instead.
- :class:`TTLCache`: short-lived memo of who a token belongs to (so a busy server does not ask the hub on every
  call); entries live ``ttl`` seconds. A removal from a group is noticed after at most ``ttl`` plus the hub's
  ``auth_refresh_age``.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable

from .minting import Credentials

DEFAULT_MARGIN_SECONDS = 15 * 60
_PURGE_ABOVE = 10_000


class SingleFlight:
    """Run at most one ``compute()`` per key at a time; concurrent callers await the same result (or error)."""

    def __init__(self):
        self._inflight: dict[Hashable, asyncio.Future] = {}

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
    def __init__(
        self,
        margin_seconds: float = DEFAULT_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
        enabled: bool = True,
    ):
        self.margin_seconds = margin_seconds
        self.clock = clock
        self.enabled = enabled  # False only for the benchmark's uncached figures
        self._entries: dict[Hashable, Credentials] = {}
        self._flight = SingleFlight()

    def reusable(self, credentials: Credentials, now: float) -> bool:
        margin = min(self.margin_seconds, credentials.lifetime_seconds / 2)
        return credentials.expiration.timestamp() - now > margin

    def cached(self, key: Hashable) -> Credentials | None:
        credentials = self._entries.get(key)
        if credentials is not None and self.reusable(credentials, self.clock()):
            return credentials
        return None

    async def get(self, key: Hashable, mint: Callable[[], Awaitable[Credentials]]) -> tuple[Credentials, bool]:
        """``(credentials, from_cache)``; ``mint`` runs only when nothing reusable is cached or in flight."""
        if not self.enabled:
            return await mint(), False
        credentials = self.cached(key)
        if credentials is not None:
            return credentials, True

        async def mint_and_store():
            fresh = await mint()
            self._store(key, fresh)
            return fresh

        flight_started = key in self._flight._inflight
        credentials = await self._flight.run(key, mint_and_store)
        return credentials, flight_started

    def _store(self, key, credentials: Credentials) -> None:
        if len(self._entries) > _PURGE_ABOVE:
            now = self.clock()
            self._entries = {k: v for k, v in self._entries.items() if self.reusable(v, now)}
        self._entries[key] = credentials

    def forget(self, predicate: Callable[[Hashable], bool]) -> int:
        """Drop entries whose key matches (revocation); returns how many."""
        keys = [k for k in self._entries if predicate(k)]
        for k in keys:
            del self._entries[k]
        return len(keys)


class TTLCache:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, object]] = {}
        self._flight = SingleFlight()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable]):
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]

        async def compute_and_store():
            value = await compute()
            if self.ttl_seconds > 0:
                if len(self._entries) > _PURGE_ABOVE:
                    self._entries = {k: v for k, v in self._entries.items() if v[0] > self.clock()}
                self._entries[key] = (self.clock() + self.ttl_seconds, value)
            return value

        return await self._flight.run(key, compute_and_store)
