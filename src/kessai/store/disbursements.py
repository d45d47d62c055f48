"""Disbursement rows, and the conditional update that moves each exactly once.

A disbursement leaves `pending` once: to `paid` or `failed` (the clock, when it falls due)
or to `cancelled` (the merchant). Each move is an update conditional on the status still
being `pending`, so of a cancel and a payout racing, exactly one moves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store import rows
from kessai.store.tables import disbursements as table

PENDING = "pending"


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await rows.insert(conn, table, values)


async def get(
    conn: AsyncConnection, disbursement_id: str, *, lock: bool = False, **scope: Any
) -> RowMapping | None:
    return await rows.get(conn, table, disbursement_id, lock=lock, **scope)


async def move(
    conn: AsyncConnection, disbursement_id: str, status: str, values: dict[str, Any]
) -> RowMapping | None:
    """Move a pending disbursement to `status`: the row as it is now, or None if it was
    no longer pending (someone else moved it first)."""
    moved = await rows.update_where(
        conn,
        table,
        disbursement_id,
        [table.c.status == PENDING],
        {**values, "status": status, "due_at": None},
    )
    return await get(conn, disbursement_id) if moved else None


def _where(
    merchant_id: str,
    livemode: bool,
    currency: str | None,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[Any]:
    where = [table.c.merchant_id == merchant_id, table.c.livemode == livemode]
    if currency is not None:
        where.append(table.c.currency == currency)
    if status is not None:
        where.append(table.c.status == status)
    if start is not None:
        where.append(table.c.created_at >= start)
    if end is not None:
        where.append(table.c.created_at <= end)
    return where


async def page(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    livemode: bool,
    currency: str | None,
    **params: Any,
) -> tuple[int, list[RowMapping]]:
    """(total, rows) newest first."""
    filters = [] if currency is None else [table.c.currency == currency]
    return await rows.page(
        conn, table, merchant_id=merchant_id, livemode=livemode, filters=filters, **params
    )


async def report(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    livemode: bool,
    currency: str | None,
    status: str | None,
    start: datetime | None,
    end: datetime | None,
) -> list[RowMapping]:
    """Every disbursement matching, oldest first."""
    query = (
        sa.select(table)
        .where(*_where(merchant_id, livemode, currency, status, start, end))
        .order_by(table.c.created_at, table.c.id)
    )
    return list((await conn.execute(query)).mappings().all())


async def due(
    conn: AsyncConnection, where: sa.ColumnElement[bool], now: datetime, limit: int
) -> Sequence[RowMapping]:
    """Pending disbursements in scope due at `now`, soonest first (each is then moved by
    a conditional update: several runners finding the same one move it once)."""
    query = (
        sa.select(table)
        .where(where, table.c.status == PENDING, table.c.due_at <= now)
        .order_by(table.c.due_at, table.c.id)
        .limit(limit)
    )
    return (await conn.execute(query)).mappings().all()


async def next_due(conn: AsyncConnection, merchant_id: str, after: datetime) -> datetime | None:
    """When the merchant's next test-mode disbursement falls due after `after`."""
    return await rows.earliest_due(conn, table, merchant_id, after, (PENDING,))
