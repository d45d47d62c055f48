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


@dataclass(frozen=True)
class Cursor:
    """A pager position from the query: `before` or `after` an id (or neither)."""

    before: str | None = None
    after: str | None = None


async def _anchor(
    conn: AsyncConnection,
    table: sa.Table,
    where: Sequence[sa.ColumnElement[bool]],
    row_id: str,
    time: sa.ColumnElement[Any],
) -> tuple[Any, str] | None:
    """The (sort value, id) of the row named by a cursor, if it is one `where` lets this
    caller see: another merchant's row (or mode's) is as good as none, so its time is
    never used to bound (and so reveal) anything."""
    found = (
        await conn.execute(sa.select(time, table.c.id).where(*where, table.c.id == row_id))
    ).first()
    return None if found is None else (found[0], str(found[1]))


def _position(
    table: sa.Table, time: sa.ColumnElement[Any], anchor: tuple[Any, str], newer: bool
) -> sa.ColumnElement[bool]:
    at, row_id = anchor
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
    an id `where` does not match, such as another merchant's row, is as good as none: the
    first page). `time`: the column that orders them (`happened_at` for balance
    transactions)."""
    limit = max(1, min(limit, MAX_LIMIT))
    at = table.c[time]
    query = sa.select(*(columns or [table])).where(*where)
    # The anchor is read with the page's own filter, in one query, before the page.
    named = after if after is not None else before
    anchor = None if named is None else await _anchor(conn, table, where, named, at)
    if anchor is None:
        before = after = None  # unknown, or not this caller's to see: the first page
    if after is not None and anchor is not None:
        query = query.where(_position(table, at, anchor, newer=True))
        query = query.order_by(at.asc(), table.c.id.asc())
    else:
        if anchor is not None:
            query = query.where(_position(table, at, anchor, newer=False))
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
