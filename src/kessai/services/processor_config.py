"""Each merchant's processors, as `kessai processor set` chose them.

`StoreDirectory` is the server's `Directory`: it reads a merchant's `processor_configs`
row, builds the processor through `kessai.processors.registry`, and keeps it. A kept
processor is used without a query for `ttl` seconds (2 by default); then the row is read
again, and a processor is built anew only when the row changed (its `updated_at`). So a
`kessai processor set` reaches every running server and worker within `ttl` seconds, with
no restart, and the hot path is one dict lookup.

A replaced processor is closed (`aclose()`, when it has one: its HTTP client) only after
its own call timeout and a margin have passed, so calls already under way finish.

Defaults: test mode with no row is one shared `SimulatedProcessor`; live mode with no row
has none (`ProcessorUnavailable`, 503). A row kessai cannot build a processor from (a
package removed, a config edited by hand) is also `ProcessorUnavailable`, logged once each
time the row changes.

The server gives the directory a database of its own (`of_url`: one or two connections),
because a row may be read while the request asking holds a transaction and a row lock:
reading through the request pool could wait for a connection that only requests waiting
on that lock hold. `set_processor` and `show` are what `kessai processor set|show` call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kessai.errors import ProcessorUnavailable
from kessai.processors import registry
from kessai.processors.base import Processor
from kessai.processors.directory import NO_LIVE_PROCESSOR, Directory
from kessai.processors.simulated import SimulatedProcessor
from kessai.store import operations
from kessai.store import processors as store
from kessai.store.db import Database, create_engine
from kessai.store.merchants import key_hint

log = logging.getLogger("kessai.processors")

DEFAULT_TTL = 2.0  # seconds a merchant's processor is used before its row is read again
CLOSE_MARGIN = 5.0  # seconds past a replaced processor's timeout before it is closed
NONE = "none"  # `kessai processor set --mode live none`: no live processor

Key = tuple[str, bool]


@dataclass
class _Entry:
    expires: float  # by the directory's monotonic clock
    stamp: tuple[str, datetime] | None  # the row's (name, updated_at); None: no row
    processor: Processor | None
    error: str | None = None


class StoreDirectory:
    """A `Directory` backed by the `processor_configs` table (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl: float = DEFAULT_TTL,
        simulated: Processor | None = None,
        close_after: Callable[[Processor], float] | None = None,
        owns_db: bool = False,
    ) -> None:
        self.db = db
        self.owns_db = owns_db
        self.clock = clock
        self.ttl = ttl
        self.simulated: Processor = simulated or SimulatedProcessor()
        self._close_after = close_after or (lambda p: p.timeout + CLOSE_MARGIN)
        self._entries: dict[Key, _Entry] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        self._retiring: dict[asyncio.Task[None], Callable[[], Awaitable[Any]]] = {}

    @classmethod
    def of_url(cls, url: str, **options: Any) -> StoreDirectory:
        """A directory reading through a small pool of its own (see the module docstring)."""
        return cls(Database(create_engine(url, pool_size=2)), owns_db=True, **options)

    async def get(self, merchant_id: str, livemode: bool) -> Processor:
        entry = self._entries.get((merchant_id, livemode))
        if entry is None or entry.expires <= self.clock():
            entry = await self._refresh((merchant_id, livemode))
        if entry.processor is None:
            raise ProcessorUnavailable(entry.error or NO_LIVE_PROCESSOR)
        return entry.processor

    async def _refresh(self, key: Key) -> _Entry:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            old = self._entries.get(key)
            if old is not None and old.expires > self.clock():
                return old  # another request read the row while this one waited
            merchant_id, livemode = key
            async with self.db.transaction(write=False) as conn:
                row = await store.get_config(conn, merchant_id, livemode)
            expires = self.clock() + self.ttl
            stamp = (row.name, row.updated_at) if row is not None else None
            if old is not None and old.stamp == stamp:
                old.expires = expires
                return old
            entry = self._build(key, row, expires, stamp)
            self._entries[key] = entry
            if old is not None and old.processor not in (None, entry.processor):
                self._retire(old.processor)
            return entry

    def _build(
        self,
        key: Key,
        row: store.ProcessorConfig | None,
        expires: float,
        stamp: tuple[str, datetime] | None,
    ) -> _Entry:
        merchant_id, livemode = key
        if row is None:
            return _Entry(expires, None, None if livemode else self.simulated, NO_LIVE_PROCESSOR)
        if row.name == "simulated" and not row.config:
            return _Entry(expires, stamp, self.simulated)
        mode = "live" if livemode else "test"
        try:
            return _Entry(expires, stamp, registry.build(row.name, row.config))
        except Exception as exc:
            # The config holds secrets: only kessai's own messages (which never quote
            # a value) are logged whole; of anything else, its type.
            ours = isinstance(exc, registry.ConfigError | registry.UnknownProcessor)
            log.error(
                "cannot build the %s processor %r of merchant %s: %s",
                mode,
                row.name,
                merchant_id,
                exc if ours else type(exc).__name__,
            )
            message = (
                f"The {mode}-mode processor configured for this merchant ({row.name}) cannot "
                "be used; the server log says why. Check it with `kessai processor show`."
            )
            return _Entry(expires, stamp, None, message)

    def _retire(self, processor: Processor | None) -> None:
        close = getattr(processor, "aclose", None)
        if processor is None or processor is self.simulated or close is None:
            return
        delay = self._close_after(processor)

        async def later() -> None:
            await asyncio.sleep(delay)
            self._retiring.pop(task, None)
            await _quietly(close)

        task = asyncio.get_running_loop().create_task(later())
        self._retiring[task] = close

    async def aclose(self) -> None:
        """Close every processor this directory built, replaced ones included, at once."""
        closers = list(self._retiring.values())
        for task in self._retiring:
            task.cancel()
        self._retiring.clear()
        for entry in self._entries.values():
            close = getattr(entry.processor, "aclose", None)
            if close is not None and entry.processor is not self.simulated:
                closers.append(close)
        self._entries.clear()
        for close in closers:
            await _quietly(close)
        if self.owns_db:
            await self.db.dispose()


async def _quietly(close: Callable[[], Awaitable[Any]]) -> None:
    try:
        await close()
    except Exception:  # closing is best effort; a failure to close harms nothing else
        log.warning("closing a processor failed", exc_info=True)


async def close_directory(directory: Directory) -> None:
    """`aclose()` the directory if it has one (a `StoreDirectory`), on shutdown."""
    close = getattr(directory, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


# ------------------------------------------------------------------ the CLI's side


class Refused(ValueError):
    """A `processor set` that kessai will not do; the message says why and what instead."""


async def set_processor(
    conn: Any,
    merchant_id: str,
    livemode: bool,
    name: str,
    config: Mapping[str, Any],
    now: datetime,
    *,
    allow_simulated_live: bool = False,
) -> None:
    """Route the merchant's mode to processor `name` with `config`, validated first by the
    registry (`registry.ConfigError`, `registry.UnknownProcessor`) or `Refused`.

    `simulated` in test mode, and `none` in live mode, remove the row: the default.
    `simulated` in live mode would approve payments no one pays: it needs
    `allow_simulated_live` (demos only). While the mode has processor operations whose
    answer was lost, moving it to another processor is `Refused`: only the processor that
    was called can resolve them (new settings for the same one, a rolled key, are fine).
    """
    current = (await store.get_configs(conn, merchant_id)).get(livemode)
    current_name = current.name if current is not None else ("none" if livemode else "simulated")
    waiting = await operations.count_open(conn, merchant_id=merchant_id, livemode=livemode)
    if waiting and name != current_name:  # a new key for the same processor is fine
        raise Refused(
            f"{waiting} processor operation(s) of this mode are still waiting for their "
            "outcome; only the processor they were sent to can resolve them. Try again once "
            "the reconciler has resolved them (`kessai worker` or a running server does it)"
        )
    if name == NONE:
        if not livemode:
            raise Refused("test mode always has a processor; `simulated` restores the default one")
        await store.delete_config(conn, merchant_id, livemode)
        return
    checked = await registry.check(name, config)
    if name == "simulated" and not livemode:
        await store.delete_config(conn, merchant_id, livemode)
        return
    if name == "simulated" and not allow_simulated_live:
        raise Refused(
            "the simulated processor approves payments that no one pays; it is for test "
            "mode. For a live-mode demo, add --allow-simulated-live"
        )
    await store.set_config(conn, merchant_id, livemode, name, checked, now)


def redact(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config as `show` prints it: a secret key as a hint (`sk_live_…ab12`), any other
    secret only as "set" (or None)."""
    out: dict[str, Any] = {}
    for field, value in config.items():
        if field.endswith("secret_key") and isinstance(value, str):
            out[field] = key_hint(value)
        elif "secret" in field or "password" in field or "token" in field:
            out[field] = "set" if value else None
        else:
            out[field] = value
    return out


async def show(conn: Any, merchant_id: str) -> dict[str, Any]:
    """`{"merchant": id, "test": {...}, "live": {...} | None}`, secrets never in full."""
    rows = await store.get_configs(conn, merchant_id)
    test, live = rows.get(False), rows.get(True)
    return {
        "merchant": merchant_id,
        "test": {"name": test.name, **redact(test.config)} if test else {"name": "simulated"},
        "live": {"name": live.name, **redact(live.config)} if live else None,
    }
