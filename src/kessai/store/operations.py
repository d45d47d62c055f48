"""Processor operations: written open before the call, closed with the outcome after it.

Every change is a conditional update, so of two processes finishing the same operation
(a request and the reconciler, say) exactly one applies its outcome.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store import rows
from kessai.store.tables import idempotency_keys as keys
from kessai.store.tables import processor_operations as table

OPEN = "open"
DONE = "done"


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await rows.insert(conn, table, values)


async def get(conn: AsyncConnection, operation_id: str) -> RowMapping | None:
    return await rows.get(conn, table, operation_id)


_CLOSE = (
    table.update()
    .where(table.c.id == sa.bindparam("operation_id"), table.c.status == OPEN)
    .values(status=DONE, outcome=sa.bindparam("outcome"), updated_at=sa.bindparam("now"))
    .returning(*table.c)
)


async def close(
    conn: AsyncConnection, operation_id: str, outcome: dict[str, Any], now: datetime
) -> RowMapping | None:
    """open → done with its outcome: the closed row, only for the one caller that closed it."""
    result = await conn.execute(
        _CLOSE, {"operation_id": operation_id, "outcome": outcome, "now": now}
    )
    return result.mappings().first()


async def defer(
    conn: AsyncConnection,
    operation_id: str,
    *,
    resume: Any,
    now: datetime,
    next_attempt_at: datetime,
) -> None:
    """The outcome stayed unknown: keep it open, free to be resumed from `next_attempt_at`."""
    values: dict[str, Any] = {
        "attempts": table.c.attempts + 1,
        "lease_until": now,
        "next_attempt_at": next_attempt_at,
        "updated_at": now,
    }
    if resume is not None:
        values["resume"] = resume
    await rows.update_where(conn, table, operation_id, [table.c.status == OPEN], values)


async def take(
    conn: AsyncConnection, operation_id: str, now: datetime, lease: timedelta
) -> RowMapping | None:
    """Lease an open operation whose lease has run out; None if someone else holds it
    or it is closed."""
    taken = await rows.update_where(
        conn,
        table,
        operation_id,
        [table.c.status == OPEN, table.c.lease_until <= now],
        {"lease_until": now + lease, "updated_at": now},
    )
    return await get(conn, operation_id) if taken else None


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[str]:
    """Open operations whose lease ran out and whose next attempt is due, oldest first."""
    query = (
        sa.select(table.c.id)
        .where(
            table.c.status == OPEN,
            table.c.next_attempt_at <= now,
            table.c.lease_until <= now,
        )
        .order_by(table.c.next_attempt_at)
        .limit(limit)
    )
    return [row[0] for row in await conn.execute(query)]


async def count_open(
    conn: AsyncConnection, *, merchant_id: str | None = None, livemode: bool | None = None
) -> int:
    """Open operations (of one merchant's mode, when given)."""
    query = sa.select(sa.func.count()).select_from(table).where(table.c.status == OPEN)
    if merchant_id is not None:
        query = query.where(table.c.merchant_id == merchant_id, table.c.livemode == livemode)
    return int((await conn.execute(query)).scalar_one())


async def remember(conn: AsyncConnection, key_id: int, operation_id: str) -> None:
    """Make `operation_id` the idempotency key's recovery point."""
    await conn.execute(keys.update().where(keys.c.id == key_id).values(operation_id=operation_id))
