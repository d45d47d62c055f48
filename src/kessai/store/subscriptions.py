"""Subscription rows, and the conditional updates that make each charge happen once.

A charge is named by its identity, (`cycle`, `retry_count`) of one subscription: every
move is an update conditional on that identity (and the status), so of two processes
recording the same charge exactly one moves the subscription.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import payments as payment_states
from kessai.store import rows
from kessai.store.tables import payments, processor_operations
from kessai.store.tables import subscriptions as table

PENDING = "pending"  # created; its first charge's outcome not applied yet
ACTIVE = "active"
RETRYING = "retrying"
SUSPENDED = "suspended"
DELETED = "deleted"
CHARGEABLE = (ACTIVE, RETRYING)
LIVE = (PENDING, ACTIVE, RETRYING)  # not ended: may still be charged or settled
# The key of a charge's identity, [cycle, retry_count], on its payment's authorization
# (`processor_operations.request`): how a runner finds the payment a charge already made.
CHARGE = "subscription_charge"


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await rows.insert(conn, table, values)


async def get(
    conn: AsyncConnection, subscription_id: str, *, lock: bool = False, **scope: Any
) -> RowMapping | None:
    return await rows.get(conn, table, subscription_id, lock=lock, **scope)


def _current(cycle: int, retry_count: int) -> list[Any]:
    return [table.c.cycle == cycle, table.c.retry_count == retry_count]


async def claim(
    conn: AsyncConnection,
    subscription_id: str,
    identity: tuple[int, int],
    *,
    now: datetime,
    clock: datetime,
    lease_until: datetime,
) -> bool:
    """Hold a due charge for one runner: True only if it is still this charge, still due
    at `now` (the merchant's time), and nobody holds it (`lease_until`, the real time)."""
    return await rows.update_where(
        conn,
        table,
        subscription_id,
        [
            *_current(*identity),
            table.c.status.in_(LIVE),
            table.c.due_at <= now,
            sa.or_(table.c.lease_until.is_(None), table.c.lease_until <= clock),
        ],
        {"lease_until": lease_until},
    )


async def move(
    conn: AsyncConnection,
    subscription_id: str,
    identity: tuple[int, int],
    statuses: Sequence[str],
    values: dict[str, Any],
) -> bool:
    """Record a charge's outcome: True only if the charge is still the current one."""
    return await rows.update_where(
        conn,
        table,
        subscription_id,
        [*_current(*identity), table.c.status.in_(statuses)],
        {**values, "lease_until": None},
    )


async def release(conn: AsyncConnection, subscription_id: str, identity: tuple[int, int]) -> None:
    """Let go of a charge that did not move the subscription (its outcome not known yet)."""
    await rows.update_where(
        conn, table, subscription_id, _current(*identity), {"lease_until": None}
    )


async def end(conn: AsyncConnection, subscription_id: str, values: dict[str, Any]) -> bool:
    """Delete: True only if it was not ended. A charge holding it does not stop it: that
    charge's phase 1 (under the row's lock) makes no payment once it is ended, and its
    phase 3 never moves an ended subscription."""
    return await rows.update_where(
        conn, table, subscription_id, [table.c.status != DELETED], {**values, "lease_until": None}
    )


async def due(
    conn: AsyncConnection,
    where: sa.ColumnElement[bool],
    now: datetime,
    limit: int,
    *,
    skip: Sequence[str] = (),
) -> list[RowMapping]:
    """Subscriptions in scope with a charge (or a first charge to settle) due at `now`,
    held or not, soonest first (but those in `skip`)."""
    query = (
        sa.select(table)
        .where(where, table.c.status.in_(LIVE), table.c.due_at <= now)
        .order_by(table.c.due_at)
        .limit(limit)
    )
    if skip:
        query = query.where(table.c.id.not_in(list(skip)))
    return list((await conn.execute(query)).mappings().all())


async def next_due(conn: AsyncConnection, merchant_id: str, after: datetime) -> datetime | None:
    """The merchant's test mode's earliest scheduled charge or retry after `after`."""
    return await rows.earliest_due(conn, table, merchant_id, after, CHARGEABLE)


async def payment_ids(conn: AsyncConnection, ids: list[str]) -> dict[str, list[str]]:
    """The payments of each subscription (its charges, successful or not), oldest first."""
    found: dict[str, list[str]] = {sid: [] for sid in ids}
    if not ids:
        return found
    query = (
        sa.select(payments.c.subscription_id, payments.c.id)
        .where(payments.c.subscription_id.in_(ids))
        .order_by(payments.c.created_at, payments.c.id)
    )
    for row in await conn.execute(query):
        found[row.subscription_id].append(row.id)
    return found


async def payments_of(conn: AsyncConnection, subscription_id: str) -> list[RowMapping]:
    query = (
        sa.select(payments)
        .where(payments.c.subscription_id == subscription_id)
        .order_by(payments.c.created_at, payments.c.id)
    )
    return list((await conn.execute(query)).mappings().all())


async def charge_of(
    conn: AsyncConnection, subscription_id: str, identity: tuple[int, int]
) -> RowMapping | None:
    """The payment charge `identity` of the subscription made, if it made one."""
    ops = processor_operations
    query = (
        sa.select(ops.c.payment_id, ops.c.request)
        .join(payments, payments.c.id == ops.c.payment_id)
        .where(payments.c.subscription_id == subscription_id, ops.c.kind == "authorize")
        .order_by(payments.c.created_at.desc())  # the current charge's is the latest
    )
    for payment_id, request in await conn.execute(query):
        if (request or {}).get(CHARGE) == list(identity):
            return await rows.get(conn, payments, payment_id)
    return None


async def charge_open(conn: AsyncConnection, subscription_id: str) -> bool:
    """Whether a charge of this subscription is still waiting for its outcome."""
    found = await conn.scalar(
        sa.select(payments.c.id)
        .where(
            payments.c.subscription_id == subscription_id,
            payments.c.status == payment_states.PENDING,
        )
        .limit(1)
    )
    return found is not None


async def page(
    conn: AsyncConnection, *, merchant_id: str, livemode: bool, **params: Any
) -> tuple[int, list[RowMapping]]:
    return await rows.page(
        conn, table, merchant_id=merchant_id, livemode=livemode, filters=[], **params
    )
