"""What `kessai trigger` reads back after making its objects: their events, how many
webhook deliveries those queued, and the settlement a payment ended up in."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.ledger_tables import balance_transactions
from kessai.store.tables import events, webhook_deliveries


async def events_about(
    conn: AsyncConnection, merchant_id: str, livemode: bool, object_ids: Sequence[str]
) -> list[RowMapping]:
    """The mode's events about these objects (`events.object_id`), oldest first."""
    if not object_ids:
        return []
    query = (
        sa.select(events.c.id, events.c.type, events.c.object_id, events.c.created_at)
        .where(
            events.c.object_id.in_(list(object_ids)),
            events.c.merchant_id == merchant_id,
            events.c.livemode == livemode,
        )
        .order_by(events.c.created_at)
    )
    return list((await conn.execute(query)).mappings().all())


async def events_by_id(conn: AsyncConnection, event_ids: Sequence[str]) -> list[RowMapping]:
    """These events (a `ping` is about no object), oldest first."""
    if not event_ids:
        return []
    query = (
        sa.select(events.c.id, events.c.type, events.c.object_id, events.c.created_at)
        .where(events.c.id.in_(list(event_ids)))
        .order_by(events.c.created_at)
    )
    return list((await conn.execute(query)).mappings().all())


async def deliveries_queued(conn: AsyncConnection, event_ids: Sequence[str]) -> int:
    """How many webhook deliveries these events have (one per event and endpoint)."""
    if not event_ids:
        return 0
    query = sa.select(sa.func.count()).where(webhook_deliveries.c.event_id.in_(list(event_ids)))
    return int(await conn.scalar(query) or 0)


async def settlement_of(conn: AsyncConnection, payment_id: str) -> str | None:
    """The settlement holding the payment's ledger lines, once one was made."""
    query = (
        sa.select(balance_transactions.c.settlement_id)
        .where(
            balance_transactions.c.payment_id == payment_id,
            balance_transactions.c.settlement_id.is_not(None),
        )
        .limit(1)
    )
    found = await conn.scalar(query)
    return str(found) if found is not None else None
