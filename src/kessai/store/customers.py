"""Customer rows. A deleted customer keeps its row (for its payments) but loses its card."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store import rows
from kessai.store.tables import customers


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await rows.insert(conn, customers, values)


async def get(
    conn: AsyncConnection, customer_id: str, *, lock: bool = False, **scope: Any
) -> RowMapping | None:
    row = await rows.get(conn, customers, customer_id, lock=lock, **scope)
    return row if row is not None and row["deleted_at"] is None else None


async def update(conn: AsyncConnection, customer_id: str, values: dict[str, Any]) -> bool:
    return await rows.update_where(
        conn, customers, customer_id, [customers.c.deleted_at.is_(None)], values
    )
