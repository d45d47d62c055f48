"""`on_commit`: what a unit of work asks to run after it commits runs only then (durably
committed), and never when the unit is rolled back. Metrics and audit lines rely on it:
a move that was undone must not be counted or written to the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kessai.store.db import Database, on_commit
from tests.conftest import fresh_database


class Boom(Exception):
    pass


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    with fresh_database(tmp_path) as url:
        database = Database.from_url(url, pool_size=5)
        try:
            async with database.transaction() as conn:
                await conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            yield database
        finally:
            await database.dispose()


async def count_rows(db: Database) -> int:
    async with db.transaction(write=False) as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar_one())


async def test_runs_after_commit_and_sees_committed_work(db: Database) -> None:
    seen: list[int] = []
    async with db.transaction() as conn:
        await conn.execute(sa.text("INSERT INTO t (id) VALUES (1)"))
        on_commit(lambda: seen.append(-1))
        assert seen == []  # not before the commit
    assert seen == [-1]
    assert await count_rows(db) == 1


async def test_never_runs_when_rolled_back(db: Database) -> None:
    seen: list[str] = []
    with pytest.raises(Boom):
        async with db.transaction() as conn:
            await conn.execute(sa.text("INSERT INTO t (id) VALUES (2)"))
            on_commit(lambda: seen.append("undone"))
            raise Boom
    assert seen == []
    assert await count_rows(db) == 0


async def test_concurrent_units_keep_their_own_callbacks(db: Database) -> None:
    """On SQLite these units share one group commit; one raising loses only its own."""
    seen: list[int] = []

    async def unit(i: int) -> None:
        async with db.transaction() as conn:
            await conn.execute(sa.text(f"INSERT INTO t (id) VALUES ({100 + i})"))
            on_commit(lambda: seen.append(i))
            if i % 3 == 0:
                raise Boom

    results = await asyncio.gather(*(unit(i) for i in range(12)), return_exceptions=True)
    failed = {i for i, r in enumerate(results) if isinstance(r, Boom)}
    assert failed == {0, 3, 6, 9}
    assert sorted(seen) == [i for i in range(12) if i not in failed]
    assert await count_rows(db) == 8


async def test_outside_a_transaction_runs_at_once_and_a_failing_callback_is_contained(
    db: Database,
) -> None:
    seen: list[str] = []
    on_commit(lambda: seen.append("now"))
    assert seen == ["now"]

    def broken() -> None:
        raise RuntimeError("a metric backend fails")

    async with db.transaction() as conn:
        await conn.execute(sa.text("INSERT INTO t (id) VALUES (3)"))
        on_commit(broken)
        on_commit(lambda: seen.append("still"))
    assert seen == ["now", "still"]  # the commit stands; later callbacks still run
    assert await count_rows(db) == 1
