"""Rate limits per client address and per API key, with the `limits` library.

Counts live in the store named by `KESSAI_RATE_LIMIT_STORAGE`:

- `memory://` (default): in each server process. With `kessai serve --workers N` each
  process enforces 1/N of every limit (at least 1), so all of them together never let
  through more than the limit; a client whose connections all land on one process is
  stopped at 1/N. Unknown keys are remembered per process (at most N lookups per key).
- `redis://HOST:PORT[/DB]`: one count shared by every process and host of the
  installation, and one negative cache, so an unknown key costs one lookup in all.
  Keys are prefixed with a digest of the database URL: the processes of one installation
  (one store) share counts, other installations on the same Redis do not.

The windows are sliding window counters: two counters per limit and client, weighted by
time, so memory stays constant however many requests a client makes (a moving window keeps
one timestamp per request). A store that fails (Redis down) lets requests through and logs
it: limits protect the server, and refusing every payment because the limiter is away
would be the worse outage. A store that does not answer (Redis black-holed) counts as
failed: every call to it is bounded by `STORE_TIMEOUT` seconds, so a request waits at most
that long per call, never for the TCP timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from kessai.edge.settings import EdgeSettings
from kessai.errors import TooManyRequests

log = logging.getLogger("kessai.edge")
T = TypeVar("T")
CLAIM_SECONDS = 10  # how long a process's claim to look a key up lasts
VERDICT_WAIT = 2.0  # how long another process waits for that lookup's verdict
STORE_TIMEOUT = 0.25  # seconds one call to the rate-limit store may take before it counts as failed
STORE_FAILED = (StorageError, TimeoutError)


def items(spec: str, share: int = 1) -> list[RateLimitItem]:
    """The limits in `spec`, each divided among `share` processes (never below 1)."""
    parsed = parse_many(spec)
    if share <= 1:
        return list(parsed)
    return [
        type(item)(max(1, item.amount // share), item.multiples, item.namespace) for item in parsed
    ]


def async_uri(uri: str) -> str:
    return uri if uri.startswith("async+") else f"async+{uri}"


class RateLimiter:
    """Every limit kessai applies; each check returns None (go on) or raises 429."""

    def __init__(self, settings: EdgeSettings, installation: str = "") -> None:
        digest = hashlib.sha256(installation.encode()).hexdigest()[:16]
        self.namespace = f"kessai/{digest}"
        self.enabled = settings.rate_limits
        self.shared = not settings.rate_limit_storage.startswith("memory")
        share = 1 if self.shared else settings.server_processes
        self.address_limits = items(settings.rate_limit_address, share)
        self.key_limits = items(settings.rate_limit_key, share)
        self.card_key_limits = items(settings.rate_limit_card_key, share)
        self.card_address_limits = items(settings.rate_limit_card_address, share)
        self.failed_auth_limits = items(settings.rate_limit_failed_auth, share)
        self.negative_seconds = settings.auth_negative_cache_seconds
        self.storage = cast(
            Storage,
            storage_from_string(async_uri(settings.rate_limit_storage), wrap_exceptions=True),
        )
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        self._last_warning = 0.0
        self._inflight: dict[str, asyncio.Future[object]] = {}

    async def _hit(self, limits: list[RateLimitItem], *ids: str) -> None:
        if not self.enabled:
            return
        try:
            for item in limits:
                if not await self._store(self.strategy.hit(item, self.namespace, *ids)):
                    raise TooManyRequests(
                        f"Too many requests: at most {item.amount} per "
                        f"{_period(item)} {_who(ids[0])}. Retry after the time in "
                        "Retry-After (seconds).",
                        retry_after=await self._retry_after(item, *ids),
                    )
        except STORE_FAILED as exc:
            self._storage_failed(exc)

    async def _retry_after(self, item: RateLimitItem, *ids: str) -> int:
        stats = await self._store(self.strategy.get_window_stats(item, self.namespace, *ids))
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def _store(self, call: Awaitable[T]) -> T:
        """One call to the store, bounded by `STORE_TIMEOUT` (TimeoutError past it) when the
        store is across a network; memory is in this process and needs no bound."""
        if not self.shared:
            return await call
        async with asyncio.timeout(STORE_TIMEOUT):
            return await call

    def _storage_failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 60:
            self._last_warning = now
            log.warning("rate-limit store unavailable, requests not limited: %s", exc)

    async def address(self, client: str) -> None:
        """Every request from one client address."""
        await self._hit(self.address_limits, "address", client)

    async def key(self, digest: str, *, card: bool, live: bool, client: str) -> None:
        """A request made with a known key; `card`: an endpoint that takes card numbers."""
        await self._hit(self.key_limits, "key", digest)
        if card:
            await self._card(live, client, "card-key", digest)

    async def checkout(self, merchant_id: str, *, live: bool, client: str) -> None:
        """A payment from the hosted checkout page, which takes card details without an API
        key: the card limits of `key(..., card=True)`, the per-key one counted per merchant
        and mode instead."""
        await self._card(live, client, "card-checkout", merchant_id, "live" if live else "test")

    async def _card(self, live: bool, client: str, *owner: str) -> None:
        await self._hit(self.card_key_limits, *owner)
        if live:  # card testing needs real cards, which only live mode charges
            await self._hit(self.card_address_limits, "card-address", client)

    async def refuse_if_failing(self, client: str) -> None:
        """429 once `client` has spent its failed-authentication budget (nothing counted)."""
        if not self.enabled:
            return
        try:
            for item in self.failed_auth_limits:
                if not await self._store(
                    self.strategy.test(item, self.namespace, "failed-auth", client)
                ):
                    raise TooManyRequests(
                        f"Too many failed authentications from this address: at most "
                        f"{item.amount} per {_period(item)}. Check the API key, then retry "
                        "after the time in Retry-After (seconds).",
                        retry_after=await self._retry_after(item, "failed-auth", client),
                    )
        except STORE_FAILED as exc:
            self._storage_failed(exc)

    async def failed_auth(self, client: str) -> None:
        """Count one failed authentication from `client` (a malformed header or a key found
        to be no one's)."""
        if not self.enabled:
            return
        try:
            for item in self.failed_auth_limits:
                await self._store(self.strategy.hit(item, self.namespace, "failed-auth", client))
        except STORE_FAILED as exc:
            self._storage_failed(exc)

    async def once(self, digest: str, fetch: Callable[[], Awaitable[T | None]]) -> T | None:
        """`fetch()` the owner of an unknown-to-this-process key, at most once at a time
        per key in this process, and (with a shared store) in the whole installation:
        the first process to claim the key looks it up; the others wait for its verdict
        (bounded), so a wrong key costs one lookup however its requests are spread."""
        if await self.known_unknown(digest):
            return None
        running = self._inflight.get(digest)
        if running is not None:
            return cast(T | None, await asyncio.shield(running))
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = future
        try:
            result = await self._claimed_fetch(digest, fetch)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody may be waiting
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._inflight[digest]

    async def _claimed_fetch(
        self, digest: str, fetch: Callable[[], Awaitable[T | None]]
    ) -> T | None:
        claim = f"{self.namespace}/lookup/{digest}"
        claimed = True
        if self.shared:
            try:
                claimed = await self._store(self.storage.incr(claim, CLAIM_SECONDS)) == 1
            except STORE_FAILED as exc:
                self._storage_failed(exc)
        if not claimed and await self._verdict_unknown(digest, claim):
            return None
        try:
            result = await fetch()
            if result is None:
                await self.remember_unknown(digest)
            return result
        finally:
            if claimed and self.shared:
                try:
                    await self._store(self.storage.clear(claim))
                except STORE_FAILED as exc:
                    self._storage_failed(exc)

    async def _verdict_unknown(self, digest: str, claim: str) -> bool:
        """Wait for the claiming process: True once it has found the key unknown; False
        when it found the key (its claim is gone) or took too long."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + VERDICT_WAIT
        try:
            while loop.time() < deadline:
                if await self.known_unknown(digest):
                    return True
                if await self._store(self.storage.get(claim)) == 0:
                    return await self.known_unknown(digest)
                await asyncio.sleep(0.01)  # polling the shared store, bounded by deadline
        except STORE_FAILED as exc:
            self._storage_failed(exc)
        return False

    async def known_unknown(self, digest: str) -> bool:
        """Whether this key digest was looked up recently and found to be no one's."""
        if self.negative_seconds <= 0:
            return False
        try:
            return await self._store(self.storage.get(self._negative(digest))) > 0
        except STORE_FAILED as exc:
            self._storage_failed(exc)
            return False

    async def remember_unknown(self, digest: str) -> None:
        if self.negative_seconds <= 0:
            return
        try:
            await self._store(self.storage.incr(self._negative(digest), self.negative_seconds))
        except STORE_FAILED as exc:
            self._storage_failed(exc)

    def _negative(self, digest: str) -> str:
        return f"{self.namespace}/unknown-key/{digest}"


def _period(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def _who(kind: str) -> str:
    return {
        "address": "from one address",
        "key": "with one API key",
        "card-key": "with one API key on endpoints that take card details",
        "card-checkout": "on one merchant's checkout pages",
        "card-address": "from one address on endpoints that take card details",
        "failed-auth": "from one address with API keys this server does not know",
    }.get(kind, "")
