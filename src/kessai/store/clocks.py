"""Merchants' test clocks: an offset from the real time that only ever grows."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.tables import clocks


async def offset_of(conn: AsyncConnection, merchant_id: str) -> int:
    """The merchant's offset in milliseconds (0: the real time)."""
    found = await conn.scalar(
        sa.select(clocks.c.offset_ms).where(clocks.c.merchant_id == merchant_id)
    )
    return int(found or 0)


async def moved(conn: AsyncConnection) -> dict[str, int]:
    """Every merchant whose test clock is not the real time, with its offset."""
    rows = await conn.execute(
        sa.select(clocks.c.merchant_id, clocks.c.offset_ms).where(clocks.c.offset_ms > 0)
    )
    return {row.merchant_id: int(row.offset_ms) for row in rows}


async def move(conn: AsyncConnection, merchant_id: str, offset_ms: int, now: datetime) -> int:
    """Raise the merchant's offset to `offset_ms` unless it is already there or beyond
    (two advances racing never move a clock back); the offset it has now."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(clocks)
    statement = insert.values(merchant_id=merchant_id, offset_ms=offset_ms, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[clocks.c.merchant_id],
        set_={
            "offset_ms": statement.excluded.offset_ms,
            "updated_at": statement.excluded.updated_at,
        },
        where=clocks.c.offset_ms < statement.excluded.offset_ms,
    )
    await conn.execute(statement)
    return await offset_of(conn, merchant_id)
