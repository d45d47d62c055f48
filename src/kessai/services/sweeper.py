"""Deadlines that take effect without anyone calling the API.

`sweep()` expires, each with its `payment.expired` event in the same transaction:
* cash-type payments (konbini, bank transfer, Pay-easy) whose payment deadline has passed;
* card and wallet authorizations not captured within `AUTHORIZATION_LIFETIME` (7 days);
* payments still waiting on 3-D Secure or a wallet page after `ACTION_LIFETIME` (1 day):
  the customer abandoned them (their session, if any, stays payable until it expires).

It also deletes idempotency keys older than 24 hours, which no request can replay any more.

Each deadline is measured on the clock of the payment's merchant and mode (a test clock may
run ahead): `DUE` is run per clock by `kessai.services.clocks`.

Payments of a processor whose acquirer expires them itself (KOMOJU) are left to its notices.

It is safe to run from any number of processes at once: rows are claimed with
`FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite serializes writers), and every move is a
conditional update, so no payment expires twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import payments as states
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.services import execute, payments
from kessai.services.due import DueWork, Scope
from kessai.services.execute import KEY_TTL
from kessai.services.runtime import Runtime
from kessai.store import idempotency
from kessai.store.tables import payments as table

CASH_TYPES = tuple(slug for slug, t in PAYMENT_TYPES.items() if t.kind == "cash")


AUTHORIZATION_LIFETIME = timedelta(days=7)
# Processors whose acquirer expires payments itself and says so (KOMOJU's webhooks): their
# payments expire when it does, never by kessai's own clock alone.
SELF_REPORTING = ("komoju",)
ACTION_LIFETIME = timedelta(days=1)


def _held_back() -> sa.ColumnElement[bool]:
    c = table.c
    return sa.and_(c.operation_id.is_(None), c.processor.not_in(SELF_REPORTING))


def overdue(now: datetime) -> sa.ColumnElement[bool]:
    c = table.c
    return sa.and_(
        _held_back(),
        sa.or_(
            sa.and_(
                c.status == states.AUTHORIZED,
                c.payment_type.in_(CASH_TYPES),
                c.payment_deadline <= now,
            ),
            sa.and_(
                c.status == states.AUTHORIZED,
                c.payment_type.not_in(CASH_TYPES),
                c.created_at <= now - AUTHORIZATION_LIFETIME,
            ),
            sa.and_(c.status == states.PENDING, c.created_at <= now - ACTION_LIFETIME),
        ),
    )


async def next_due(conn: AsyncConnection, merchant_id: str, after: datetime) -> datetime | None:
    """When the next of the merchant's test-mode payments falls due after `after`."""
    c = table.c
    mine = sa.and_(c.merchant_id == merchant_id, c.livemode.is_(False), _held_back())
    deadlines = [
        (
            c.payment_deadline,
            timedelta(0),
            sa.and_(c.status == states.AUTHORIZED, c.payment_type.in_(CASH_TYPES)),
        ),
        (
            c.created_at,
            AUTHORIZATION_LIFETIME,
            sa.and_(c.status == states.AUTHORIZED, c.payment_type.not_in(CASH_TYPES)),
        ),
        (c.created_at, ACTION_LIFETIME, c.status == states.PENDING),
    ]
    found = []
    for column, lifetime, which in deadlines:
        first = await conn.scalar(
            sa.select(sa.func.min(column)).where(mine, which, column > after - lifetime)
        )
        if first is not None:
            found.append(first + lifetime)
    return min(found, default=None)


async def run_due(rt: Runtime, scope: Scope, *, batch: int = 200) -> int:
    """Expire the payments in `scope` overdue at `rt.now()`, one batch per transaction;
    how many expired."""
    total = 0
    while True:

        async def one_batch(conn: AsyncConnection) -> int:
            query = sa.select(table).where(scope.where(table), overdue(rt.now())).limit(batch)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            due = (await conn.execute(query)).mappings().all()
            return sum([await payments.expire(conn, rt, row) for row in due])

        expired = await execute.write(rt, one_batch)
        total += expired
        if expired < batch:
            break
    return total  # logged with the rest of the pass (`clocks.report`)


DUE = DueWork("payment deadlines", next_due, run_due)


async def sweep(rt: Runtime) -> int:
    """Expire every overdue payment on the real clock (no merchant's test clock) and forget
    idempotency keys no request can replay any more; how many payments expired."""
    total = await run_due(rt, Scope())  # every payment, on the real time
    await forget_keys(rt)
    return total


async def forget_keys(rt: Runtime) -> None:
    await execute.write(rt, lambda conn: idempotency.expire(conn, rt.clock() - KEY_TTL))
