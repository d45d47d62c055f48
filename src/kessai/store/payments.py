"""Payment rows and what hangs off them (refunds, refund requests)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store import rows
from kessai.store.tables import payments, refund_requests, refunds


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await rows.insert(conn, payments, values)


async def get(conn: AsyncConnection, payment_id: str, **scope: Any) -> RowMapping | None:
    return await rows.get(conn, payments, payment_id, **scope)


async def get_many(conn: AsyncConnection, payment_ids: list[str]) -> dict[str, RowMapping]:
    """Payments by id, in one query; unknown ids are absent."""
    if not payment_ids:
        return {}
    result = await conn.execute(sa.select(payments).where(payments.c.id.in_(payment_ids)))
    return {row["id"]: row for row in result.mappings()}


async def move(
    conn: AsyncConnection, payment_id: str, from_status: str, values: dict[str, Any]
) -> bool:
    """A conditional status change: True only if the payment was still `from_status` and
    no processor operation holds it."""
    return await rows.update_where(
        conn,
        payments,
        payment_id,
        [payments.c.status == from_status, payments.c.operation_id.is_(None)],
        values,
    )


async def children(
    conn: AsyncConnection, payment_ids: list[str]
) -> tuple[dict[str, list[RowMapping]], dict[str, list[RowMapping]]]:
    """Refunds and refund requests of these payments, oldest first, by payment id."""
    found_refunds: dict[str, list[RowMapping]] = {pid: [] for pid in payment_ids}
    found_requests: dict[str, list[RowMapping]] = {pid: [] for pid in payment_ids}
    if not payment_ids:
        return found_refunds, found_requests
    for table, found in ((refunds, found_refunds), (refund_requests, found_requests)):
        result = await conn.execute(
            sa.select(table)
            .where(table.c.payment_id.in_(payment_ids))
            .order_by(table.c.created_at, table.c.id)
        )
        for row in result.mappings():
            found[row["payment_id"]].append(row)
    return found_refunds, found_requests


async def hold(
    conn: AsyncConnection, payment_id: str, statuses: tuple[str, ...], operation_id: str
) -> bool:
    """Make `operation_id` the payment's one open state-changing operation; False if the
    payment is not in `statuses` or another operation holds it."""
    return await rows.update_where(
        conn,
        payments,
        payment_id,
        [payments.c.status.in_(statuses), payments.c.operation_id.is_(None)],
        {"operation_id": operation_id},
    )


async def reserve_refund(conn: AsyncConnection, payment_id: str, amount: int) -> bool:
    """Set `amount` aside for a refund being asked of the processor; False if it, with
    what is refunded, reserved and disputed already, would exceed what was captured (tax
    included): a payment under an open or lost chargeback cannot be refunded as well."""
    c = payments.c
    return await rows.update_where(
        conn,
        payments,
        payment_id,
        [
            c.status == "captured",
            c.amount_refunded + c.refund_reserved + c.amount_disputed + amount
            <= c.amount_captured + c.tax,
        ],
        {"refund_reserved": c.refund_reserved + amount},
    )


async def settle_refund(
    conn: AsyncConnection, payment_id: str, amount: int, approved: bool, now: Any
) -> bool:
    """Release a reserved refund: counted as refunded when `approved` (the payment becomes
    `refunded` when nothing is left), given back otherwise."""
    c = payments.c
    values: dict[str, Any] = {"refund_reserved": c.refund_reserved - amount}
    if approved:
        values.update(
            amount_refunded=c.amount_refunded + amount,
            status=sa.case(
                (c.amount_refunded + amount >= c.amount_captured + c.tax, "refunded"),
                else_=c.status,
            ),
            updated_at=now,
        )
    return await rows.update_where(
        conn, payments, payment_id, [c.refund_reserved >= amount], values
    )
