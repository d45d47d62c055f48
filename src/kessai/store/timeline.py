"""What a payment's timeline is made of: its events, refunds, chargeback, ledger lines and
processor operations, each found by the payment's id (or its chargeback's) on an index.

Every query is scoped to the payment's merchant and mode where the table has them, so a
payment's page never shows another merchant's rows, even under a mistaken id.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.ledger_tables import balance_transactions as ledger
from kessai.store.ledger_tables import chargebacks
from kessai.store.tables import events, processor_operations, refund_requests, refunds

SCHEDULED = "scheduled"  # a test-mode chargeback not opened yet: not shown (store.chargebacks)


async def _all(conn: AsyncConnection, query: sa.Select[tuple[object, ...]]) -> list[RowMapping]:
    return list((await conn.execute(query)).mappings())


async def events_about(
    conn: AsyncConnection, merchant_id: str, livemode: bool, object_ids: Sequence[str]
) -> list[RowMapping]:
    """The events whose object is one of `object_ids` (`events.object_id`), oldest first."""
    c = events.c
    return await _all(
        conn,
        sa.select(c.id, c.type, c.reason, c.object_id, c.created_at)
        .where(c.object_id.in_(list(object_ids)), c.merchant_id == merchant_id)
        .where(c.livemode == livemode)
        .order_by(c.created_at, c.id),
    )


async def refunds_of(conn: AsyncConnection, payment_id: str) -> list[RowMapping]:
    return await _all(
        conn,
        sa.select(refunds)
        .where(refunds.c.payment_id == payment_id)
        .order_by(refunds.c.created_at, refunds.c.id),
    )


async def refund_requests_of(conn: AsyncConnection, payment_id: str) -> list[RowMapping]:
    c = refund_requests.c
    return await _all(
        conn,
        sa.select(c.id, c.amount, c.status, c.description, c.created_at)
        .where(c.payment_id == payment_id)
        .order_by(c.created_at, c.id),
    )


async def chargeback_of(
    conn: AsyncConnection, merchant_id: str, livemode: bool, payment_id: str
) -> RowMapping | None:
    """The payment's chargeback once it is opened (a planned one is not shown)."""
    c = chargebacks.c
    query = sa.select(
        c.id, c.status, c.outcome, c.amount, c.currency, c.reason_code, c.reason,
        c.due_date, c.timeline, c.created_at,
    ).where(
        c.payment_id == payment_id,
        c.merchant_id == merchant_id,
        c.livemode == livemode,
        c.status != SCHEDULED,
    )  # fmt: skip
    return (await conn.execute(query)).mappings().first()


async def ledger_lines(
    conn: AsyncConnection, merchant_id: str, livemode: bool, payment_id: str
) -> list[RowMapping]:
    """The payment's balance transactions (signed amounts), oldest first."""
    c = ledger.c
    return await _all(
        conn,
        sa.select(c.id, c.type, c.amount, c.currency, c.source_id, c.settlement_id, c.happened_at)
        .where(c.payment_id == payment_id, c.merchant_id == merchant_id)
        .where(c.livemode == livemode)
        .order_by(c.happened_at, c.amount.desc(), c.id),  # at one time: credits first
    )


async def operations_of(
    conn: AsyncConnection, merchant_id: str, livemode: bool, payment_id: str
) -> list[RowMapping]:
    """The processor operations on the payment (what was asked, and whether it finished)."""
    c = processor_operations.c
    return await _all(
        conn,
        sa.select(c.id, c.kind, c.status, c.amount, c.outcome, c.attempts, c.created_at)
        .where(c.payment_id == payment_id, c.merchant_id == merchant_id)
        .where(c.livemode == livemode)
        .order_by(c.created_at, c.id),
    )
