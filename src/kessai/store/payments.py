"""Payment rows."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.tables import payments


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(payments.insert().values(**values))


async def get(
    conn: AsyncConnection,
    payment_id: str,
    *,
    merchant_id: str | None = None,
    livemode: bool | None = None,
    lock: bool = False,
) -> RowMapping | None:
    query = sa.select(payments).where(payments.c.id == payment_id)
    if merchant_id is not None:
        query = query.where(payments.c.merchant_id == merchant_id, payments.c.livemode == livemode)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


async def move(
    conn: AsyncConnection, payment_id: str, from_status: str, values: dict[str, Any]
) -> bool:
    """A conditional status change: True only if the payment was still `from_status`."""
    result = await conn.execute(
        payments.update()
        .where(payments.c.id == payment_id, payments.c.status == from_status)
        .values(**values)
    )
    return result.rowcount == 1
