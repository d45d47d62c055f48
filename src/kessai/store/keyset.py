"""Keyset pagination over (created_at, id), newest first: what the dashboard's lists use.

A page is found by walking an index on (merchant_id, livemode, created_at) from a row's
position, never by OFFSET: the 50,000th page costs what the first does. `before` names the
last row of the page shown (older rows follow it); `after` the first (newer rows precede it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_LIMIT = 100


@dataclass(frozen=True)
class Page:
    rows: list[RowMapping]
    older: str | None  # the id to ask `before=` for the next page, if there is one
    newer: str | None  # the id to ask `after=` for the previous page, if there is one


def _position(
    table: sa.Table, row_id: str, newer: bool, column: str = "created_at"
) -> sa.ColumnElement[bool]:
    time = table.c[column]
    at = sa.select(time).where(table.c.id == row_id).scalar_subquery()
    # The plain bound first (`time <= at`) lets the index seek to the position; the OR alone
    # would walk every row from the newest (or oldest) to it.
    if newer:
        return sa.and_(time >= at, sa.or_(time > at, sa.and_(time == at, table.c.id > row_id)))
    return sa.and_(time <= at, sa.or_(time < at, sa.and_(time == at, table.c.id < row_id)))


async def page(
    conn: AsyncConnection,
    table: sa.Table,
    where: Sequence[sa.ColumnElement[bool]],
    *,
    columns: Sequence[Any] | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int = 25,
    time: str = "created_at",
) -> Page:
    """One page of `table`'s rows matching `where`, newest first (`before`/`after` as above;
    an id of another merchant's row or none matches nothing, so it is as good as none).
    `time`: the column that orders them (`happened_at` for balance transactions)."""
    limit = max(1, min(limit, MAX_LIMIT))
    at = table.c[time]
    query = sa.select(*(columns or [table])).where(*where)
    if after is not None:
        query = query.where(_position(table, after, newer=True, column=time))
        query = query.order_by(at.asc(), table.c.id.asc())
    else:
        if before is not None:
            query = query.where(_position(table, before, newer=False, column=time))
        query = query.order_by(at.desc(), table.c.id.desc())
    rows = list((await conn.execute(query.limit(limit + 1))).mappings())
    more = len(rows) > limit
    rows = rows[:limit]
    if after is not None:
        rows.reverse()
        older = rows[-1]["id"] if rows else None
        newer = rows[0]["id"] if rows and more else None
    else:
        older = rows[-1]["id"] if rows and more else None
        newer = rows[0]["id"] if rows and before is not None else None
    return Page(rows, older, newer)
