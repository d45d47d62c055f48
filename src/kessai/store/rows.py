"""Generic row access shared by every resource table: insert, scoped get, conditional update.

Every resource row carries `merchant_id` and `livemode`; a scoped read never sees another
merchant's or another mode's rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection


async def insert(conn: AsyncConnection, table: sa.Table, values: dict[str, Any]) -> None:
    # Values as parameters, not baked into the statement: the compiled INSERT is cached.
    await conn.execute(table.insert(), values)


async def get(
    conn: AsyncConnection,
    table: sa.Table,
    row_id: str,
    *,
    merchant_id: str | None = None,
    livemode: bool | None = None,
    lock: bool = False,
) -> RowMapping | None:
    """One row by id; scoped to a merchant and mode when given.

    `lock=True` takes a row lock (PostgreSQL) for the rest of the transaction; on SQLite the
    writing transaction already holds the database lock.
    """
    query = sa.select(table).where(table.c.id == row_id)
    if merchant_id is not None:
        query = query.where(table.c.merchant_id == merchant_id, table.c.livemode == livemode)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


async def update_where(
    conn: AsyncConnection, table: sa.Table, row_id: str, where: list[Any], values: dict[str, Any]
) -> bool:
    """A conditional update of one row: True only if the conditions still held."""
    result = await conn.execute(table.update().where(table.c.id == row_id, *where).values(**values))
    return result.rowcount == 1


async def page(
    conn: AsyncConnection,
    table: sa.Table,
    *,
    merchant_id: str,
    livemode: bool,
    filters: list[Any],
    page: int,
    per_page: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[int, list[RowMapping]]:
    """(total, rows) newest first, created between `start` and `end` (inclusive), read
    through the (merchant, mode, created_at) index."""
    where = [table.c.merchant_id == merchant_id, table.c.livemode == livemode, *filters]
    if start is not None:
        where.append(table.c.created_at >= start)
    if end is not None:
        where.append(table.c.created_at <= end)
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(table).where(*where))
    ).scalar_one()
    rows = (
        (
            await conn.execute(
                sa.select(table)
                .where(*where)
                .order_by(table.c.created_at.desc(), table.c.id.desc())
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
        )
        .mappings()
        .all()
    )
    return int(total), list(rows)


async def earliest_due(
    conn: AsyncConnection,
    table: sa.Table,
    merchant_id: str,
    after: datetime,
    statuses: tuple[str, ...],
) -> datetime | None:
    """The earliest `due_at` after `after` of the merchant's test-mode rows in `statuses`
    (what a test clock steps to next; see `kessai.services.due.DueWork`)."""
    found = await conn.scalar(
        sa.select(sa.func.min(table.c.due_at)).where(
            table.c.merchant_id == merchant_id,
            table.c.livemode.is_(False),
            table.c.status.in_(statuses),
            table.c.due_at > after,
        )
    )
    return found if isinstance(found, datetime) else None
