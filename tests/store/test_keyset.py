"""Keyset pages (`store.keyset.page`): a cursor is positioned only by a row the page's own
filter lets the caller see, so another merchant's id reveals nothing of when it was made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kessai.store import keyset, merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade
from kessai.store.tables import customers
from tests.conftest import fresh_database

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    with fresh_database(tmp_path) as url:
        await upgrade(url)
        database = Database.from_url(url, pool_size=4)
        try:
            yield database
        finally:
            await database.dispose()


async def _interleaved(db: Database) -> tuple[str, list[str], list[str]]:
    """Two merchants' customers made in turn, a minute apart: (A, A's ids, B's ids),
    each oldest first."""
    async with db.transaction() as conn:
        a, _ = await merchants.insert_merchant(conn, "A", NOW)
        b, _ = await merchants.insert_merchant(conn, "B", NOW)
        made: dict[str, list[str]] = {a: [], b: []}
        for i in range(8):
            owner = (a, b)[i % 2]
            row_id = f"cus{i:02d}{owner[-6:]}"
            at = NOW + timedelta(minutes=i)
            await conn.execute(
                customers.insert().values(
                    id=row_id,
                    merchant_id=owner,
                    livemode=False,
                    metadata={},
                    created_at=at,
                    updated_at=at,
                )
            )
            made[owner].append(row_id)
    return a, made[a], made[b]


def _ids(found: keyset.Page) -> list[str]:
    return [r["id"] for r in found.rows]


async def test_another_merchants_id_as_a_cursor_is_the_first_page(db: Database) -> None:
    a, mine, theirs = await _interleaved(db)
    where = [customers.c.merchant_id == a, customers.c.livemode.is_(False)]
    newest_first = list(reversed(mine))
    async with db.transaction(write=False) as conn:
        first = await keyset.page(conn, customers, where, limit=10)
        assert _ids(first) == newest_first and first.newer is None
        for other in theirs:  # each would have cut A's list at B's row's time
            for name in ("before", "after"):
                found = await keyset.page(conn, customers, where, limit=10, **{name: other})
                assert _ids(found) == newest_first, (name, other)
                assert (found.older, found.newer) == (None, None)
        # Live mode's filter hides A's test-mode rows, anchor included.
        live = [customers.c.merchant_id == a, customers.c.livemode.is_(True)]
        assert _ids(await keyset.page(conn, customers, live, before=mine[-1])) == []


async def test_pages_walk_the_merchants_rows_both_ways(db: Database) -> None:
    a, mine, _ = await _interleaved(db)
    where = [customers.c.merchant_id == a, customers.c.livemode.is_(False)]
    async with db.transaction(write=False) as conn:
        first = await keyset.page(conn, customers, where, limit=3)
        assert _ids(first) == [mine[3], mine[2], mine[1]] and first.older == mine[1]
        second = await keyset.page(conn, customers, where, limit=3, before=first.older)
        assert _ids(second) == [mine[0]] and second.older is None
        assert second.newer == mine[0]
        back = await keyset.page(conn, customers, where, limit=3, after=second.newer)
        assert _ids(back) == [mine[3], mine[2], mine[1]] and back.newer is None
        ordered = await keyset.page(
            conn, customers, where, limit=2, before=mine[2], time="updated_at"
        )
        assert _ids(ordered) == [mine[1], mine[0]]
