"""Chargeback rows, and the conditional updates that move each one exactly once.

Every move names the status it expects (`move`), so of two runners (or requests) doing
the same thing exactly one moves the row. A payment's disputed amount is set and cleared
the same way (`dispute`, `undispute`): the opening is refused while a refund of the
payment is in flight, and a refund is refused while the payment is disputed
(`payments.reserve_refund` counts `amount_disputed`).

A defense's document is kept in a table of its own (`chargeback_documents`), written with
the defense and read only when the document itself is asked for (`document`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store import rows
from kessai.store.tables import chargeback_documents as documents
from kessai.store.tables import chargebacks as table
from kessai.store.tables import payments

SCHEDULED = "scheduled"  # planned in test mode, not opened yet: never shown
PENDING = "pending"
DEFENDED = "defended"
DUE = (SCHEDULED, PENDING, DEFENDED)  # the statuses the clock moves at `due_at`


def _select() -> sa.Select[Any]:
    return sa.select(table)


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Insert a chargeback; False (nothing written) if its payment has one already."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    result = await conn.execute(
        insert.values(**values).on_conflict_do_nothing(index_elements=[table.c.payment_id])
    )
    return result.rowcount == 1


async def get(
    conn: AsyncConnection,
    chargeback_id: str,
    *,
    merchant_id: str | None = None,
    livemode: bool | None = None,
    shown: bool = False,
) -> RowMapping | None:
    """One chargeback; scoped to a merchant and mode when given; `shown`: not a planned one."""
    query = _select().where(table.c.id == chargeback_id)
    if merchant_id is not None:
        query = query.where(table.c.merchant_id == merchant_id, table.c.livemode == livemode)
    if shown:
        query = query.where(table.c.status != SCHEDULED)
    return (await conn.execute(query)).mappings().first()


async def of_payment(conn: AsyncConnection, payment_id: str) -> RowMapping | None:
    query = _select().where(table.c.payment_id == payment_id)
    return (await conn.execute(query)).mappings().first()


async def move(
    conn: AsyncConnection, chargeback_id: str, status: str, values: dict[str, Any]
) -> bool:
    """Move a chargeback that is still `status`; True only if this call moved it."""
    return await rows.update_where(conn, table, chargeback_id, [table.c.status == status], values)


async def drop(conn: AsyncConnection, chargeback_id: str) -> bool:
    """Forget a planned chargeback that has nothing left to dispute."""
    result = await conn.execute(
        table.delete().where(table.c.id == chargeback_id, table.c.status == SCHEDULED)
    )
    return result.rowcount == 1


async def defend(
    conn: AsyncConnection,
    chargeback_id: str,
    values: dict[str, Any],
    shown: dict[str, Any],
    content: bytes,
) -> bool:
    """Record the one defense of a pending chargeback, with its document (the bytes)."""
    if not await move(conn, chargeback_id, PENDING, {**values, "defense": shown}):
        return False
    await conn.execute(
        documents.insert().values(
            chargeback_id=chargeback_id, content=content, created_at=values["updated_at"]
        )
    )
    return True


async def document(conn: AsyncConnection, chargeback_id: str) -> bytes | None:
    """The defense's document (None without a defense)."""
    found = await conn.scalar(
        sa.select(documents.c.content).where(documents.c.chargeback_id == chargeback_id)
    )
    return bytes(found) if found is not None else None


async def dispute(
    conn: AsyncConnection, payment_id: str, amount: int, refunded: int, now: datetime
) -> bool:
    """Mark `amount` of a captured payment disputed: only if nothing is disputed yet, no
    refund is in flight and its refunds are still `refunded` (what `amount` was worked
    out from)."""
    c = payments.c
    return await rows.update_where(
        conn,
        payments,
        payment_id,
        [
            c.status == "captured",
            c.amount_disputed == 0,
            c.refund_reserved == 0,
            c.amount_refunded == refunded,
        ],
        {"amount_disputed": amount, "updated_at": now},
    )


async def undispute(conn: AsyncConnection, payment_id: str, amount: int, now: datetime) -> bool:
    """The dispute was won: the payment may be refunded again."""
    c = payments.c
    return await rows.update_where(
        conn,
        payments,
        payment_id,
        [c.amount_disputed == amount],
        {"amount_disputed": 0, "updated_at": now},
    )


def _due_where(where: sa.ColumnElement[bool], now: datetime) -> list[sa.ColumnElement[bool]]:
    return [where, table.c.status.in_(DUE), table.c.due_at <= now]


async def due(
    conn: AsyncConnection,
    where: sa.ColumnElement[bool],
    now: datetime,
    limit: int,
    *,
    skip: Sequence[str] = (),
) -> list[RowMapping]:
    """Chargebacks in scope that the clock moves at `now`, soonest first (but `skip`)."""
    query = _select().where(*_due_where(where, now)).order_by(table.c.due_at).limit(limit)
    if skip:
        query = query.where(table.c.id.not_in(list(skip)))
    return list((await conn.execute(query)).mappings().all())


async def next_due(conn: AsyncConnection, merchant_id: str, after: datetime) -> datetime | None:
    """The earliest move of the merchant's test-mode chargebacks after `after`."""
    return await rows.earliest_due(conn, table, merchant_id, after, DUE)


async def page(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    livemode: bool,
    page: int,
    per_page: int,
    start: datetime | None = None,
    end: datetime | None = None,
    status: str | None = None,
    payment_id: str | None = None,
    due_start: datetime | None = None,
    due_end: datetime | None = None,
) -> tuple[int, list[RowMapping]]:
    """(total, chargebacks): pending ones first, then the rest, newest first in each."""
    c = table.c
    where = [c.merchant_id == merchant_id, c.livemode == livemode, c.status != SCHEDULED]
    for column, bound, op in (
        (c.created_at, start, "ge"),
        (c.created_at, end, "le"),
        (c.due_date, due_start, "ge"),
        (c.due_date, due_end, "le"),
    ):
        if bound is not None:
            where.append(column >= bound if op == "ge" else column <= bound)
    if status is not None:
        where.append(c.status == status)
    if payment_id is not None:
        where.append(c.payment_id == payment_id)
    total = await conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where))
    pending_first = sa.case((c.status == PENDING, 0), else_=1)
    found = await conn.execute(
        _select()
        .where(*where)
        .order_by(pending_first, c.created_at.desc(), c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return int(total or 0), list(found.mappings())
