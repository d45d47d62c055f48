"""What `kessai events tail` polls: recent events and webhook delivery attempts.

Neither table can be read with a strict cursor. An event's `created_at` is its merchant's
clock time (a test clock may run days ahead, and work running on a clock read a moment
earlier commits after later work), so events are read in a window of their creation time
per merchant mode (`events_in`); attempts have an integer id, but PostgreSQL hands out
sequence values before commit, so ids commit out of order (`attempts_after`). The caller
keeps the ids it has seen (`kessai.commands.events_tail`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.tables import events, webhook_attempts, webhook_deliveries, webhook_endpoints

EVENT_COLUMNS = (
    events.c.id,
    events.c.type,
    events.c.merchant_id,
    events.c.livemode,
    events.c.created_at,
)


async def events_in(
    conn: AsyncConnection,
    *,
    merchant_id: str | None,
    after: datetime,
    moved_after: Mapping[str, datetime],
) -> list[RowMapping]:
    """Events created at or after `after`, except the test-mode events of the merchants in
    `moved_after` (their clocks run ahead), which count from their own time; only
    `merchant_id`'s when given (through the (merchant, mode, created_at) index)."""
    c = events.c
    if merchant_id is not None:
        test_after = moved_after.get(merchant_id, after)
        where: sa.ColumnElement[bool] = sa.and_(
            c.merchant_id == merchant_id,
            sa.or_(
                sa.and_(c.livemode.is_(True), c.created_at >= after),
                sa.and_(c.livemode.is_(False), c.created_at >= test_after),
            ),
        )
    else:
        moved = list(moved_after)
        unmoved = sa.or_(c.livemode.is_(True), c.merchant_id.not_in(moved)) if moved else sa.true()
        where = sa.or_(
            sa.and_(c.created_at >= after, unmoved),
            *(
                sa.and_(c.merchant_id == m, c.livemode.is_(False), c.created_at >= bound)
                for m, bound in moved_after.items()
            ),
        )
    query = sa.select(*EVENT_COLUMNS).where(where).order_by(c.created_at, c.id)
    return list((await conn.execute(query)).mappings().all())


async def last_attempt_id(conn: AsyncConnection) -> int:
    return int(await conn.scalar(sa.select(sa.func.max(webhook_attempts.c.id))) or 0)


async def first_attempt_since(conn: AsyncConnection, since: datetime) -> int | None:
    """The smallest id of the attempts started at or after `since` (the real time)."""
    found = await conn.scalar(
        sa.select(sa.func.min(webhook_attempts.c.id)).where(webhook_attempts.c.started_at >= since)
    )
    return int(found) if found is not None else None


async def attempts_after(
    conn: AsyncConnection, after_id: int, *, merchant_id: str | None, limit: int = 1000
) -> list[RowMapping]:
    """Delivery attempts with an id above `after_id`, lowest first, each with its event
    (id, type, merchant, mode) and endpoint URL. Every one above `after_id` is returned,
    the merchant's or not, so the caller sees which ids exist (`is_theirs` says which are
    `merchant_id`'s)."""
    a, d, e, w = webhook_attempts, webhook_deliveries, events, webhook_endpoints
    theirs = (e.c.merchant_id == merchant_id) if merchant_id is not None else sa.true()
    query = (
        sa.select(
            a.c.id,
            a.c.attempt,
            a.c.started_at,
            a.c.latency_ms,
            a.c.status_code,
            a.c.error,
            d.c.status.label("delivery_status"),
            d.c.attempts.label("rounds"),
            d.c.next_attempt_at,
            e.c.id.label("event_id"),
            e.c.type,
            e.c.merchant_id,
            e.c.livemode,
            w.c.url,
            theirs.label("is_theirs"),
        )
        .join(d, d.c.id == a.c.delivery_id)
        .join(e, e.c.id == d.c.event_id)
        .join(w, w.c.id == d.c.endpoint_id)
        .where(a.c.id > after_id)
        .order_by(a.c.id)
        .limit(limit)
    )
    return list((await conn.execute(query)).mappings().all())
