"""Point reads that arrive together go to the database together.

A `Coalescer` gathers the keys that requests ask for while the event loop is busy and
fetches them with one query (`fetch(keys)`), then hands each request its own row. With
nothing in flight a key is fetched on the loop's next turn; while a fetch is in flight,
new keys wait for it to finish and then go together in the next one. A read is never older
than the request that asked for it: a key joins only a fetch that has not started yet.

Under load this turns N single-row round trips (each a pool checkout, a statement and a
result) into one; at rest it costs one event-loop turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Fetch = Callable[[list[K]], Awaitable[Mapping[K, V]]]


class Coalescer(Generic[K, V]):
    def __init__(self, fetch: Fetch[K, V], *, max_batch: int = 500) -> None:
        self._fetch = fetch
        self._max_batch = max_batch
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        """The value for `key` as the database holds it now, or None if it has none."""
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._take()
                try:
                    found = await self._fetch(list(batch))
                except BaseException as exc:
                    for futures in batch.values():
                        for future in _pending(futures):
                            if isinstance(exc, Exception):
                                future.set_exception(exc)
                            else:  # cancelled (shutdown): nobody gets an answer
                                future.cancel()
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for key, futures in batch.items():
                    value = found.get(key)
                    for future in _pending(futures):
                        future.set_result(value)
        finally:
            self._task = None

    def _take(self) -> dict[K, list[asyncio.Future[V | None]]]:
        if len(self._waiting) <= self._max_batch:
            batch, self._waiting = self._waiting, {}
            return batch
        keys = list(self._waiting)[: self._max_batch]
        return {key: self._waiting.pop(key) for key in keys}


def _pending(futures: list[asyncio.Future[V | None]]) -> list[asyncio.Future[V | None]]:
    """Those still waiting: a request may have been cancelled meanwhile."""
    return [future for future in futures if not future.done()]
