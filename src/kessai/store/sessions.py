"""Session rows: insert, read, and the conditional updates that move their status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store import rows
from kessai.store.tables import merchants, sessions

_WITH_MERCHANT = sa.select(sessions, merchants.c.name.label("merchant_name")).join(
    merchants, merchants.c.id == sessions.c.merchant_id
)


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await rows.insert(conn, sessions, values)


async def get(
    conn: AsyncConnection,
    session_id: str,
    *,
    merchant_id: str | None = None,
    livemode: bool | None = None,
    lock: bool = False,
) -> RowMapping | None:
    """The session with its merchant's name; scoped to a merchant and mode when given.

    `lock=True` takes a row lock (PostgreSQL) for the rest of the transaction; on SQLite the
    writing transaction already holds the database lock.
    """
    query = _WITH_MERCHANT.where(sessions.c.id == session_id)
    if merchant_id is not None:
        query = query.where(sessions.c.merchant_id == merchant_id, sessions.c.livemode == livemode)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=sessions)
    return (await conn.execute(query)).mappings().first()


async def get_many(conn: AsyncConnection, session_ids: list[str]) -> dict[str, RowMapping]:
    """Sessions (with their merchant's name) by id, in one query; unknown ids are absent."""
    result = await conn.execute(_WITH_MERCHANT.where(sessions.c.id.in_(session_ids)))
    return {row["id"]: row for row in result.mappings()}


async def complete(
    conn: AsyncConnection, session_id: str, payment_id: str | None, now: datetime
) -> bool:
    """pending → completed; True only for the one caller that moved it."""
    result = await conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id, sessions.c.status == "pending")
        .values(status="completed", completed_at=now, payment_id=payment_id)
    )
    return result.rowcount == 1


async def cancel(conn: AsyncConnection, session_id: str, now: datetime) -> bool:
    """pending → cancelled, unless a payment attempt is with the processor right now."""
    result = await conn.execute(
        sessions.update()
        .where(
            sessions.c.id == session_id,
            sessions.c.status == "pending",
            sessions.c.operation_id.is_(None),
        )
        .values(status="cancelled", cancelled_at=now)
    )
    return result.rowcount == 1


async def hold(conn: AsyncConnection, session_id: str, operation_id: str) -> bool:
    """Make `operation_id` the session's one payment attempt with the processor; False if
    the session is not pending or another attempt holds it."""
    return await rows.update_where(
        conn,
        sessions,
        session_id,
        [sessions.c.status == "pending", sessions.c.operation_id.is_(None)],
        {"operation_id": operation_id},
    )


async def settle(
    conn: AsyncConnection,
    session_id: str,
    operation_id: str | None,
    payment_id: str | None,
    now: datetime,
) -> None:
    """After a payment attempt, in one statement: release the session from
    `operation_id` (if it holds it) and, with `payment_id`, complete it (if pending)."""
    c = sessions.c
    values: dict[str, Any] = {}
    if operation_id is not None:
        values["operation_id"] = sa.case(
            (c.operation_id == operation_id, None), else_=c.operation_id
        )
    where = [c.id == session_id]
    if payment_id is not None:
        values.update(
            status=sa.case((c.status == "pending", "completed"), else_=c.status),
            completed_at=sa.case((c.status == "pending", now), else_=c.completed_at),
            payment_id=sa.case((c.status == "pending", payment_id), else_=c.payment_id),
        )
    if values:
        await conn.execute(sessions.update().where(*where).values(**values))
