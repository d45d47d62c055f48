"""Database.transaction() on a real store: SQLite (through the group commit) by default,
PostgreSQL when KESSAI_DATABASE_URL names a server.

Every unit of work is durable and visible when its `async with` returns, a raising unit
is undone alone, and concurrent units never lose each other's updates. The SQLite-only
tests check the group commit itself: groups form, a failed COMMIT fails its whole group,
a cancelled unit does not stall the group, and waiting for the file lock never blocks
the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kessai.store.db import Database, create_engine, create_sqlite_writer
from tests.conftest import _postgres_url, fresh_database

sqlite_only = pytest.mark.skipif(
    _postgres_url() is not None, reason="the group commit is SQLite's alone"
)

TABLES = [
    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
    "INSERT INTO counter (id, n) VALUES (1, 0)",
]


class Boom(Exception):
    def __init__(self, i: int) -> None:
        super().__init__(f"unit {i} fails")
        self.i = i


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    with fresh_database(tmp_path) as database_url:
        yield database_url


@pytest.fixture
async def db(url: str) -> AsyncIterator[Database]:
    database = Database.from_url(url, pool_size=5)
    try:
        async with database.transaction() as conn:
            for ddl in TABLES:
                await conn.execute(sa.text(ddl))
        before = asyncio.all_tasks()
        yield database
        await cancel_leftovers(before)
    finally:
        await database.dispose()


async def cancel_leftovers(before: set[asyncio.Task[Any]]) -> None:
    """Units a failed test left waiting: end them before the store goes away."""
    leftovers = [
        task
        for task in asyncio.all_tasks() - before
        if task is not asyncio.current_task() and not task.done()
    ]
    for task in leftovers:
        task.cancel()
    await asyncio.wait_for(asyncio.gather(*leftovers, return_exceptions=True), 10)


def sqlite_path(url: str) -> str:
    assert url.startswith("sqlite:///"), url
    return url.removeprefix("sqlite:///")


async def insert(conn: Any, i: int) -> None:
    await conn.execute(sa.text("INSERT INTO t (id, v) VALUES (:id, :v)"), {"id": i, "v": f"r{i}"})


async def committed_ids(db: Database) -> set[int]:
    async with db.transaction(write=False) as conn:
        return set((await conn.execute(sa.text("SELECT id FROM t"))).scalars())


def ids_on_disk(url: str) -> set[int]:
    """Rows committed to the SQLite file, as a separate connection sees them."""
    with sqlite3.connect(sqlite_path(url)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM t")}


async def hold_turn(db: Database, i: int, inside: asyncio.Event, release: asyncio.Event) -> None:
    """A unit that inserts row `i` and keeps the writer's turn until `release`."""
    async with db.transaction() as conn:
        await insert(conn, i)
        inside.set()
        await release.wait()


async def queued(db: Database, units: int) -> None:
    """Wait (bounded) until `units` units wait for the SQLite group commit's turn (white-box:
    its queue counter); on PostgreSQL, where units do not queue, just let tasks start."""
    group = db._group
    if group is None:
        await asyncio.sleep(0)
        return
    async with asyncio.timeout(5):
        while group._queued < units:
            await asyncio.sleep(0)


# --- both stores -----------------------------------------------------------------------


async def test_raising_units_are_undone_alone(db: Database) -> None:
    async def unit(i: int) -> None:
        async with db.transaction() as conn:
            await insert(conn, i)
            if i % 5 == 0:
                raise Boom(i)

    results = await asyncio.wait_for(
        asyncio.gather(*(unit(i) for i in range(40)), return_exceptions=True), 20
    )

    for i, result in enumerate(results):
        if i % 5 == 0:
            assert isinstance(result, Boom) and result.i == i, (i, result)
        else:
            assert result is None, (i, result)
    assert await committed_ids(db) == {i for i in range(40) if i % 5 != 0}


async def test_unit_is_visible_to_a_separate_read_when_it_returns(db: Database) -> None:
    missing: list[int] = []

    async def unit(i: int) -> None:
        async with db.transaction() as conn:
            await insert(conn, i)
        async with db.transaction(write=False) as read:
            found = (
                await read.execute(sa.text("SELECT v FROM t WHERE id = :id"), {"id": i})
            ).scalar_one_or_none()
        if found != f"r{i}":
            missing.append(i)

    await asyncio.wait_for(asyncio.gather(*(unit(i) for i in range(30))), 20)

    assert missing == []
    assert await committed_ids(db) == set(range(30))


async def test_unit_returns_committed_while_a_later_unit_is_still_running(db: Database) -> None:
    """On SQLite the first unit's group stays open while the second runs in it: the first
    must not return until that group has committed."""
    seen: dict[int, bool] = {}
    inside = {1: asyncio.Event(), 2: asyncio.Event()}
    release = {1: asyncio.Event(), 2: asyncio.Event()}

    async def unit(i: int) -> None:
        await hold_turn(db, i, inside[i], release[i])
        seen[i] = i in await committed_ids(db)

    first = asyncio.create_task(unit(1))
    await asyncio.wait_for(inside[1].wait(), 5)
    second = asyncio.create_task(unit(2))
    await queued(db, 1)
    release[1].set()
    await asyncio.wait_for(inside[2].wait(), 5)  # the second now runs (on SQLite: the group)
    # Not a wait for an event: a window in which a wrong early return would show.
    await asyncio.sleep(0.1)
    if db.sqlite:
        assert not first.done(), "returned while its group was still open"
    release[2].set()

    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert seen == {1: True, 2: True}


async def test_read_does_not_see_uncommitted_work(db: Database) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def unit() -> None:
        async with db.transaction() as conn:
            await insert(conn, 1)
            inside.set()
            await release.wait()

    task = asyncio.create_task(unit())
    try:
        await asyncio.wait_for(inside.wait(), 5)
        assert await committed_ids(db) == set()
    finally:
        release.set()
        await asyncio.wait_for(task, 5)
    assert await committed_ids(db) == {1}


async def test_concurrent_read_modify_write_loses_no_update(db: Database) -> None:
    lock = "" if db.sqlite else " FOR UPDATE"

    async def increment() -> None:
        async with db.transaction() as conn:
            n = (
                await conn.execute(sa.text(f"SELECT n FROM counter WHERE id = 1{lock}"))
            ).scalar_one()
            await asyncio.sleep(0)  # let every other unit run between the read and the write
            await conn.execute(sa.text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})

    await asyncio.wait_for(asyncio.gather(*(increment() for _ in range(50))), 30)

    async with db.transaction(write=False) as conn:
        assert (
            await conn.execute(sa.text("SELECT n FROM counter WHERE id = 1"))
        ).scalar_one() == 50


async def test_concurrent_increments_in_sql_lose_no_update(db: Database) -> None:
    async def increment() -> None:
        async with db.transaction() as conn:
            await conn.execute(sa.text("UPDATE counter SET n = n + 1 WHERE id = 1"))

    await asyncio.wait_for(asyncio.gather(*(increment() for _ in range(50))), 30)

    async with db.transaction(write=False) as conn:
        assert (
            await conn.execute(sa.text("SELECT n FROM counter WHERE id = 1"))
        ).scalar_one() == 50


# --- SQLite's group commit -------------------------------------------------------------


def count_commits(db: Database) -> list[int]:
    assert db.writer is not None
    commits: list[int] = []
    sa.event.listen(db.writer.sync_engine, "commit", lambda _conn: commits.append(1))
    return commits


@sqlite_only
async def test_groups_form_under_concurrency(url: str, db: Database) -> None:
    commits = count_commits(db)

    async def unit(i: int) -> None:
        async with db.transaction() as conn:
            await insert(conn, i)

    await asyncio.wait_for(asyncio.gather(*(unit(i) for i in range(64))), 20)

    assert 1 <= len(commits) < 64 / 2, len(commits)
    assert await committed_ids(db) == set(range(64))
    assert ids_on_disk(url) == set(range(64))


@sqlite_only
async def test_group_size_bounds_a_group(url: str) -> None:
    db = Database(create_engine(url, pool_size=2), create_sqlite_writer(url), group_size=4)
    try:
        async with db.transaction() as conn:
            await conn.execute(sa.text(TABLES[0]))
        commits = count_commits(db)

        async def unit(i: int) -> None:
            async with db.transaction() as conn:
                await insert(conn, i)

        await asyncio.wait_for(asyncio.gather(*(unit(i) for i in range(20))), 20)

        assert len(commits) >= 20 // 4, len(commits)
        assert await committed_ids(db) == set(range(20))
    finally:
        await db.dispose()


@sqlite_only
async def test_raising_unit_raises_only_after_its_group_committed(url: str, db: Database) -> None:
    inside, release = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(hold_turn(db, 1, inside, release))
    await asyncio.wait_for(inside.wait(), 5)

    async def failing() -> None:
        async with db.transaction() as conn:
            await insert(conn, 2)
            raise Boom(2)

    async def good() -> None:
        async with db.transaction() as conn:
            await insert(conn, 3)

    # Queued in this order behind the first unit, so all three share one group.
    failed = asyncio.create_task(failing())
    await queued(db, 1)
    later = asyncio.create_task(good())
    await queued(db, 2)
    release.set()

    with pytest.raises(Boom):
        await asyncio.wait_for(failed, 5)
    # By the time the failure is reported, the whole group (which ran a unit queued after
    # the failing one) is committed.
    assert ids_on_disk(url) == {1, 3}
    await asyncio.wait_for(asyncio.gather(first, later), 5)
    assert await committed_ids(db) == {1, 3}


async def make_deferred_fk_tables(db: Database) -> None:
    """`child.parent_id` is checked at COMMIT (SQLite checks deferred foreign keys then)."""
    async with db.transaction() as conn:
        await conn.execute(sa.text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        await conn.execute(
            sa.text(
                "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL"
                " REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
        await conn.execute(sa.text("INSERT INTO parent (id) VALUES (1)"))


async def insert_child(conn: Any, i: int, parent_id: int) -> None:
    await conn.execute(
        sa.text("INSERT INTO child (id, parent_id) VALUES (:id, :parent)"),
        {"id": i, "parent": parent_id},
    )


def children_on_disk(url: str) -> set[int]:
    with sqlite3.connect(sqlite_path(url)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM child")}


@sqlite_only
async def test_failed_commit_fails_every_unit_of_the_group(url: str, db: Database) -> None:
    await make_deferred_fk_tables(db)
    commits = count_commits(db)

    inside, release = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(hold_turn(db, 100, inside, release))
    await asyncio.wait_for(inside.wait(), 5)

    async def good(i: int) -> None:
        async with db.transaction() as conn:
            await insert(conn, i)
            await insert_child(conn, i, 1)

    async def violating() -> None:
        async with db.transaction() as conn:
            await insert_child(conn, 999, 999)  # accepted now, refused by the COMMIT

    others = [asyncio.create_task(good(i)) for i in (101, 102)]
    others.append(asyncio.create_task(violating()))
    others += [asyncio.create_task(good(i)) for i in (103, 104)]
    await queued(db, len(others))  # all queued behind the first unit: one group
    release.set()

    results = await asyncio.wait_for(asyncio.gather(first, *others, return_exceptions=True), 10)

    assert len(commits) == 1, "the group should have tried exactly one COMMIT"
    for result in results:
        assert isinstance(result, sa.exc.IntegrityError), result
        assert "FOREIGN KEY" in str(result)
    assert ids_on_disk(url) == set()
    assert children_on_disk(url) == set()


@sqlite_only
async def test_store_works_right_after_a_failed_commit(url: str, db: Database) -> None:
    await make_deferred_fk_tables(db)

    with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"):
        async with asyncio.timeout(5), db.transaction() as conn:
            await insert_child(conn, 999, 999)

    # The failed group must not keep the file's write lock: another process can write.
    other = sqlite3.connect(sqlite_path(url), timeout=0.5, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()

    # And the very next unit of this process commits.
    async with asyncio.timeout(5), db.transaction() as conn:
        await insert(conn, 200)
        await insert_child(conn, 200, 1)
    assert ids_on_disk(url) == {200}
    assert children_on_disk(url) == {200}


async def queue_behind_a_held_unit(
    db: Database,
) -> tuple[asyncio.Task[None], asyncio.Task[None], asyncio.Event]:
    """Unit 1 holds the turn until `release` is set; unit 2 (inserting row 2) is queued."""
    inside, release = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(hold_turn(db, 1, inside, release))
    await asyncio.wait_for(inside.wait(), 5)

    async def queued_unit() -> None:
        async with db.transaction() as conn:
            await insert(conn, 2)

    second = asyncio.create_task(queued_unit())
    await queued(db, 1)
    assert not second.done()
    return first, second, release


@sqlite_only
async def test_cancelled_queued_unit_does_not_hang_the_group(url: str, db: Database) -> None:
    first, second, release = await queue_behind_a_held_unit(db)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    release.set()

    await asyncio.wait_for(first, 5)
    assert ids_on_disk(url) == {1}


@sqlite_only
async def test_unit_cancelled_as_its_turn_comes_does_not_hang_the_group(
    url: str, db: Database
) -> None:
    """The first unit ends while the second is queued, so it leaves the group open for it;
    the second is then cancelled before it takes its turn. Someone must commit the group."""
    first, second, release = await queue_behind_a_held_unit(db)

    # Wait for the first unit to hand over the turn (white-box: the group commit's lock),
    # then cancel the second before it runs.
    turn = db._group._turn  # type: ignore[union-attr]
    release.set()
    async with asyncio.timeout(5):
        while turn.locked():
            await asyncio.sleep(0)
    assert not second.done()
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second

    await asyncio.wait_for(first, 5)
    assert ids_on_disk(url) == {1}

    # And the writer still serves the next unit.
    async with asyncio.timeout(5), db.transaction() as conn:
        await insert(conn, 3)
    assert ids_on_disk(url) == {1, 3}


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
conn.close()
"""


@sqlite_only
async def test_waiting_for_another_process_lock_does_not_block_the_loop(
    url: str, db: Database
) -> None:
    hold = 1.0
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_LOCK, sqlite_path(url), str(hold), stdout=asyncio.subprocess.PIPE
    )
    assert other.stdout is not None
    try:
        assert await asyncio.wait_for(other.stdout.readline(), 10) == b"locked\n"
        locked_at = time.monotonic()

        async def unit() -> float:
            async with db.transaction() as conn:
                await insert(conn, 1)
            return time.monotonic()

        ticks: list[float] = []
        task = asyncio.create_task(unit())
        async with asyncio.timeout(10):
            while not task.done():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.05)
        done_at = await asyncio.wait_for(task, 10)
    finally:
        await asyncio.wait_for(other.wait(), 10)

    assert other.returncode == 0
    assert done_at - locked_at >= hold * 0.8, "the unit did not wait for the other lock"
    assert len(ticks) >= 5, ticks
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert max(gaps) < 0.3, f"the event loop stalled for {max(gaps):.2f}s"
    assert ids_on_disk(url) == {1}
