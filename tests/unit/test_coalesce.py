"""kessai.store.coalesce.Coalescer: point reads asked for together share one fetch, and a
read never starts before the request that asked for it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from kessai.store.coalesce import Coalescer


class Boom(Exception):
    pass


class FakeTable:
    """A `fetch` over a dict that records the keys of every call.

    The values are read when a fetch starts (as a query would), then, if `hold` is set,
    the fetch waits for it before answering.
    """

    def __init__(self, rows: dict[str, int]) -> None:
        self.rows = rows
        self.calls: list[list[str]] = []
        self.started = asyncio.Event()
        self.hold: asyncio.Event | None = None
        self.fail: list[BaseException | None] = []  # per call, in order; None: answer

    async def fetch(self, keys: list[str]) -> Mapping[str, int]:
        self.calls.append(list(keys))
        snapshot = {key: self.rows[key] for key in keys if key in self.rows}
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.fail:
            exc = self.fail.pop(0)
            if exc is not None:
                raise exc
        return snapshot


async def test_concurrent_gets_share_one_fetch() -> None:
    table = FakeTable({"a": 1, "b": 2, "c": 3})
    coalescer = Coalescer(table.fetch)

    got = await asyncio.gather(coalescer.get("a"), coalescer.get("b"), coalescer.get("c"))

    assert got == [1, 2, 3]
    assert len(table.calls) == 1
    assert sorted(table.calls[0]) == ["a", "b", "c"]


async def test_duplicate_keys_in_one_batch_are_fetched_once_and_all_answered() -> None:
    table = FakeTable({"a": 1, "b": 2})
    coalescer = Coalescer(table.fetch)

    got = await asyncio.gather(
        coalescer.get("a"), coalescer.get("b"), coalescer.get("a"), coalescer.get("a")
    )

    assert got == [1, 2, 1, 1]
    assert len(table.calls) == 1
    assert sorted(table.calls[0]) == ["a", "b"]


async def test_missing_key_gives_none() -> None:
    table = FakeTable({"a": 1})
    coalescer = Coalescer(table.fetch)

    got = await asyncio.gather(coalescer.get("a"), coalescer.get("nope"))

    assert got == [1, None]
    assert len(table.calls) == 1


async def test_gets_at_rest_each_fetch_on_their_own() -> None:
    table = FakeTable({"a": 1, "b": 2})
    coalescer = Coalescer(table.fetch)

    assert await coalescer.get("a") == 1
    table.rows["a"] = 10
    assert await coalescer.get("a") == 10
    assert await coalescer.get("b") == 2

    assert table.calls == [["a"], ["a"], ["b"]]


async def test_get_during_a_fetch_in_flight_waits_for_the_next_fetch() -> None:
    table = FakeTable({"a": 1, "b": 2})
    table.hold = asyncio.Event()
    coalescer = Coalescer(table.fetch)

    first = asyncio.create_task(coalescer.get("a"))
    await asyncio.wait_for(table.started.wait(), 2)
    assert table.calls == [["a"]]

    # Asked for while the first fetch is in flight, and after "a" changed: the first
    # fetch read "a" before these requests, so it must not answer them.
    table.rows["a"] = 100
    later_a = asyncio.create_task(coalescer.get("a"))
    later_b = asyncio.create_task(coalescer.get("b"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(table.calls) == 1, "a second fetch started while the first was in flight"
    assert not later_a.done() and not later_b.done()

    table.hold.set()
    got = await asyncio.wait_for(asyncio.gather(first, later_a, later_b), 2)

    assert got == [1, 100, 2]
    assert len(table.calls) == 2
    assert table.calls[0] == ["a"]
    assert sorted(table.calls[1]) == ["a", "b"]


async def test_fetch_error_reaches_every_waiter_of_its_batch_and_the_next_batch_works() -> None:
    table = FakeTable({"a": 1, "b": 2})
    error = Boom("database gone")
    table.fail = [error]
    coalescer = Coalescer(table.fetch)

    got = await asyncio.gather(
        coalescer.get("a"), coalescer.get("b"), coalescer.get("a"), return_exceptions=True
    )

    assert got == [error, error, error]
    assert all(result is error for result in got)
    assert len(table.calls) == 1

    assert await asyncio.gather(coalescer.get("a"), coalescer.get("b")) == [1, 2]
    assert len(table.calls) == 2


async def test_fetch_error_spares_the_batch_queued_behind_it() -> None:
    table = FakeTable({"a": 1, "b": 2})
    table.hold = asyncio.Event()
    error = Boom("first batch only")
    table.fail = [error, None]
    coalescer = Coalescer(table.fetch)

    first = asyncio.create_task(coalescer.get("a"))
    await asyncio.wait_for(table.started.wait(), 2)
    second = asyncio.create_task(coalescer.get("b"))
    await asyncio.sleep(0)
    table.hold.set()

    with pytest.raises(Boom) as raised:
        await asyncio.wait_for(first, 2)
    assert raised.value is error
    assert await asyncio.wait_for(second, 2) == 2
    assert table.calls == [["a"], ["b"]]


async def test_cancelled_waiter_before_the_fetch_does_not_break_the_others() -> None:
    table = FakeTable({"a": 1, "b": 2})
    coalescer = Coalescer(table.fetch)

    doomed = asyncio.create_task(coalescer.get("a"))
    same_key = asyncio.create_task(coalescer.get("a"))
    other_key = asyncio.create_task(coalescer.get("b"))
    await asyncio.sleep(0)  # all three are waiting; the fetch has not run yet
    doomed.cancel()

    assert await asyncio.wait_for(same_key, 2) == 1
    assert await asyncio.wait_for(other_key, 2) == 2
    assert doomed.cancelled()
    assert len(table.calls) == 1


async def test_cancelled_waiter_during_the_fetch_does_not_break_the_others() -> None:
    table = FakeTable({"a": 1, "b": 2})
    table.hold = asyncio.Event()
    coalescer = Coalescer(table.fetch)

    doomed = asyncio.create_task(coalescer.get("a"))
    same_key = asyncio.create_task(coalescer.get("a"))
    other_key = asyncio.create_task(coalescer.get("b"))
    await asyncio.wait_for(table.started.wait(), 2)
    doomed.cancel()
    await asyncio.sleep(0)
    table.hold.set()

    assert await asyncio.wait_for(same_key, 2) == 1
    assert await asyncio.wait_for(other_key, 2) == 2
    assert doomed.cancelled()

    # The coalescer is still in working order afterwards.
    assert await asyncio.wait_for(coalescer.get("b"), 2) == 2
    assert len(table.calls) == 2


async def test_cancelled_waiter_of_a_failing_fetch_does_not_break_the_others() -> None:
    table = FakeTable({"a": 1})
    table.hold = asyncio.Event()
    error = Boom("fails")
    table.fail = [error]
    coalescer = Coalescer(table.fetch)

    doomed = asyncio.create_task(coalescer.get("a"))
    survivor = asyncio.create_task(coalescer.get("a"))
    await asyncio.wait_for(table.started.wait(), 2)
    doomed.cancel()
    await asyncio.sleep(0)
    table.hold.set()

    with pytest.raises(Boom):
        await asyncio.wait_for(survivor, 2)
    assert doomed.cancelled()
    assert await asyncio.wait_for(coalescer.get("a"), 2) == 1


async def test_max_batch_splits_a_big_batch() -> None:
    rows = {f"k{i}": i for i in range(7)}
    table = FakeTable(rows)
    coalescer = Coalescer(table.fetch, max_batch=3)

    got = await asyncio.gather(*(coalescer.get(key) for key in rows))

    assert got == list(range(7))
    assert [len(keys) for keys in table.calls] == [3, 3, 1]
    fetched = [key for keys in table.calls for key in keys]
    assert sorted(fetched) == sorted(rows)
    assert len(set(fetched)) == len(fetched), "a key was fetched twice"


async def test_max_batch_counts_distinct_keys() -> None:
    table = FakeTable({"a": 1, "b": 2})
    coalescer = Coalescer(table.fetch, max_batch=2)

    got = await asyncio.gather(*(coalescer.get(key) for key in "ababab"))

    assert got == [1, 2, 1, 2, 1, 2]
    assert len(table.calls) == 1
