"""What the services need at run time, built once per process and passed in."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from kessai.merchant_clock import clock_offset
from kessai.processors.base import Processor
from kessai.processors.directory import Directory
from kessai.settings import Settings
from kessai.store.coalesce import Coalescer
from kessai.store.db import Database

if TYPE_CHECKING:
    from kessai.edge.ratelimit import RateLimiter

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def utcnow() -> datetime:
    """Now, to the millisecond: what is stored is exactly what the API shows."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Caller:
    """The merchant and mode an API key speaks for."""

    merchant_id: str
    merchant_name: str
    livemode: bool
    kind: str  # secret | publishable


class KeyCache:
    """Recently authenticated API keys (by digest), so most requests skip the lookup.

    Only known keys are kept, for `ttl` seconds, at most `size` of them.
    """

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, digest: str) -> Any | None:
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, digest: str, owner: Any) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.ttl, owner)

    def forget(self, digests: Iterable[str]) -> None:
        """Drop revoked keys: this process refuses them at once (others when they expire)."""
        for digest in digests:
            self._entries.pop(digest, None)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    secret: bytes  # server secret: card fingerprints, CSRF tokens
    processors: Directory
    clock: Callable[[], datetime] = field(default=utcnow)
    keys: KeyCache = field(default_factory=lambda: KeyCache(30.0))
    # Rate limits and the negative cache of unknown keys (the HTTP server's; None elsewhere).
    limiter: RateLimiter | None = None
    # Test clocks' offsets this process has read: merchant id -> (valid until, offset ms).
    clock_offsets: dict[str, tuple[float, int]] = field(default_factory=dict, repr=False)
    _coalescers: dict[Any, Coalescer[Any, Any]] = field(default_factory=dict, repr=False)

    def batched(
        self, fetch: Callable[[Runtime, list[K]], Awaitable[Mapping[K, V]]]
    ) -> Coalescer[K, V]:
        """The process's one `Coalescer` for `fetch`: point reads made together share
        one query (see `kessai.store.coalesce`)."""
        coalescer = self._coalescers.get(fetch)
        if coalescer is None:
            coalescer = self._coalescers[fetch] = Coalescer(partial(fetch, self))
        return coalescer

    def now(self) -> datetime:
        """The time of the merchant and mode this work is for: what objects' timestamps,
        deadlines and expiry are measured on. In test mode it is the merchant's test clock
        (the real time plus its offset, see `kessai.services.clocks`); `clock()` stays the
        real time, for what the machine schedules (webhook attempts, leases, idempotency)."""
        return self.clock() + clock_offset()

    async def processor(self, merchant_id: str, livemode: bool) -> Processor:
        """The processor of this merchant's mode (`ProcessorUnavailable` if none)."""
        return await self.processors.get(merchant_id, livemode)
