"""Webhook endpoints, deliveries (one per event and endpoint) and delivery attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.merchant_clock import clock_offset
from kessai.store.tables import events, webhook_attempts, webhook_deliveries, webhook_endpoints

D = webhook_deliveries
E = webhook_endpoints


async def insert_endpoint(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(E.insert().values(**values))


async def endpoints(conn: AsyncConnection, merchant_id: str, livemode: bool) -> list[RowMapping]:
    query = (
        sa.select(E)
        .where(E.c.merchant_id == merchant_id, E.c.livemode == livemode, E.c.deleted_at.is_(None))
        .order_by(E.c.created_at, E.c.id)
    )
    return list((await conn.execute(query)).mappings().all())


async def remove_endpoint(
    conn: AsyncConnection, endpoint_id: str, merchant_id: str, livemode: bool, now: datetime
) -> bool:
    result = await conn.execute(
        E.update()
        .where(
            E.c.id == endpoint_id,
            E.c.merchant_id == merchant_id,
            E.c.livemode == livemode,
            E.c.deleted_at.is_(None),
        )
        .values(deleted_at=now)
    )
    if result.rowcount != 1:
        return False
    # What was queued for it stops here (a worker mid-attempt records a failure too).
    await conn.execute(
        D.update()
        .where(D.c.endpoint_id == endpoint_id, D.c.status == "pending")
        .values(status="failed")
    )
    return True


async def any_due(conn: AsyncConnection, now: datetime) -> bool:
    query = sa.select(D.c.id).where(D.c.status == "pending", D.c.next_attempt_at <= now).limit(1)
    return (await conn.execute(query)).first() is not None


async def claim(
    conn: AsyncConnection, *, now: datetime, lease_until: datetime, limit: int
) -> list[RowMapping]:
    """Take up to `limit` due deliveries for one attempt round each.

    The claim bumps `attempts` (the round) and pushes `next_attempt_at` to the end of the
    lease, so no other worker takes the row until the lease ends; if this worker dies, the
    row comes due again then. PostgreSQL skips rows another worker is claiming.
    """
    due = (
        sa.select(D.c.id)
        .where(D.c.status == "pending", D.c.next_attempt_at <= now)
        .order_by(D.c.next_attempt_at, D.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = (
        await conn.execute(
            D.update()
            .where(D.c.id.in_(due.scalar_subquery()))
            .values(attempts=D.c.attempts + 1, next_attempt_at=lease_until)
            .returning(D.c.id, D.c.attempts, D.c.event_id, D.c.endpoint_id)
        )
    ).all()
    if not claimed:
        return []
    ids = [row.id for row in claimed]
    query = (
        sa.select(
            D.c.id,
            D.c.attempts,
            events.c.id.label("event_id"),
            events.c.type,
            events.c.body,
            events.c.merchant_id,
            D.c.created_at.label("queued_at"),  # the real time, whatever the test clock
            E.c.url,
            E.c.secret,
            E.c.livemode,
            E.c.deleted_at,
        )
        .join(events, events.c.id == D.c.event_id)
        .join(E, E.c.id == D.c.endpoint_id)
        .where(D.c.id.in_(ids))
    )
    return list((await conn.execute(query)).mappings().all())


async def record(
    conn: AsyncConnection,
    *,
    delivery_id: int,
    attempt: int,
    worker: str,
    started_at: datetime,
    latency_ms: int,
    status_code: int | None,
    error: str | None,
    snippet: str | None,
    delivered: bool,
    next_attempt_at: datetime | None,
) -> None:
    """Record one attempt and move the delivery on (only if it is still this round)."""
    await conn.execute(
        webhook_attempts.insert().values(
            delivery_id=delivery_id,
            attempt=attempt,
            worker=worker[:100],
            started_at=started_at,
            latency_ms=latency_ms,
            status_code=status_code,
            error=_storable(error[:500]) if error else None,
            response_snippet=_storable(snippet[:500]) if snippet else None,
        )
    )
    if delivered:
        values: dict[str, Any] = {"status": "delivered", "delivered_at": started_at}
    elif next_attempt_at is None:
        values = {"status": "failed"}
    else:
        values = {"next_attempt_at": next_attempt_at}
    await conn.execute(
        D.update()
        .where(D.c.id == delivery_id, D.c.attempts == attempt, D.c.status == "pending")
        .values(**values)
    )


def _storable(text: str) -> str:
    """What a receiver answered (or an error quoting it) as text every store can hold: no
    NUL (PostgreSQL text cannot), no lone surrogate (no UTF-8 encoder accepts one)."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


async def redeliver(
    conn: AsyncConnection, event_id: str, merchant_id: str, livemode: bool, now: datetime
) -> int:
    """Queue the event again for every current endpoint that wants it."""
    event = (
        await conn.execute(
            sa.select(events.c.type).where(
                events.c.id == event_id,
                events.c.merchant_id == merchant_id,
                events.c.livemode == livemode,
            )
        )
    ).first()
    if event is None:
        return -1
    count = 0
    for endpoint in await endpoints(conn, merchant_id, livemode):
        if endpoint["event_types"] is not None and event.type not in endpoint["event_types"]:
            continue
        updated = await conn.execute(
            D.update()
            .where(D.c.event_id == event_id, D.c.endpoint_id == endpoint["id"])
            .values(status="pending", next_attempt_at=now - clock_offset())
        )
        if updated.rowcount == 0:
            await conn.execute(
                D.insert().values(
                    event_id=event_id,
                    endpoint_id=endpoint["id"],
                    status="pending",
                    attempts=0,
                    next_attempt_at=now - clock_offset(),  # sent on the real clock
                    created_at=now - clock_offset(),
                )
            )
        count += 1
    return count


async def endpoint(
    conn: AsyncConnection, endpoint_id: str, merchant_id: str, livemode: bool
) -> RowMapping | None:
    """One of the merchant's current (not removed) endpoints in this mode, or None."""
    query = sa.select(E).where(
        E.c.id == endpoint_id,
        E.c.merchant_id == merchant_id,
        E.c.livemode == livemode,
        E.c.deleted_at.is_(None),
    )
    return (await conn.execute(query)).mappings().first()


async def delivery_counts(conn: AsyncConnection, event_ids: list[str]) -> dict[str, dict[str, int]]:
    """For each event, how many of its deliveries are in each status: one query for a
    whole page of events (found through the (event_id, endpoint_id) index)."""
    if not event_ids:
        return {}
    query = (
        sa.select(D.c.event_id, D.c.status, sa.func.count().label("n"))
        .where(D.c.event_id.in_(event_ids))
        .group_by(D.c.event_id, D.c.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for row in await conn.execute(query):
        counts.setdefault(row.event_id, {})[row.status] = int(row.n)
    return counts


async def deliveries_with_attempts(conn: AsyncConnection, event_id: str) -> list[dict[str, Any]]:
    """The event's deliveries (with their endpoint's URL, secret and removal time) and each
    one's attempts in order, as `attempt_rows`: two queries whatever the count."""
    found = (
        (
            await conn.execute(
                sa.select(D, E.c.url, E.c.secret, E.c.deleted_at.label("endpoint_removed_at"))
                .join(E, E.c.id == D.c.endpoint_id)
                .where(D.c.event_id == event_id)
                .order_by(D.c.id)
            )
        )
        .mappings()
        .all()
    )
    by_delivery: dict[int, list[RowMapping]] = {row["id"]: [] for row in found}
    if by_delivery:
        a = webhook_attempts
        attempts = await conn.execute(
            sa.select(a)
            .where(a.c.delivery_id.in_(list(by_delivery)))
            .order_by(a.c.delivery_id, a.c.attempt)
        )
        for attempt in attempts.mappings():
            by_delivery[attempt["delivery_id"]].append(attempt)
    return [{**row, "attempt_rows": by_delivery[row["id"]]} for row in found]
