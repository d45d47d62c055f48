"""What the services need at run time, built once per process and passed in."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kessai.errors import ProcessorUnavailable
from kessai.processors.base import Processor
from kessai.settings import Settings
from kessai.store.db import Database


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


@dataclass
class Runtime:
    settings: Settings
    db: Database
    secret: bytes  # server secret: card fingerprints, CSRF tokens
    test_processor: Processor
    live_processor: Processor | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
    keys: KeyCache = field(default_factory=lambda: KeyCache(30.0))

    def processor(self, livemode: bool) -> Processor:
        if not livemode:
            return self.test_processor
        if self.live_processor is None:
            raise ProcessorUnavailable(
                "No live processor is configured on this kessai server; live-mode keys "
                "cannot move money. Use test-mode keys, or configure a live processor."
            )
        return self.live_processor
