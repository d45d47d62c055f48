"""Deadlines that take effect without anyone calling the API.

`sweep()` expires, each with its `payment.expired` event in the same transaction:
* cash-type payments (konbini, bank transfer, Pay-easy) whose payment deadline has passed;
* card and wallet authorizations not captured within `AUTHORIZATION_LIFETIME` (7 days);
* payments still waiting on 3-D Secure or a wallet page after `ACTION_LIFETIME` (1 day):
  the customer abandoned them (their session, if any, stays payable until it expires).

It also deletes idempotency keys older than 24 hours, which no request can replay any more.

Payments of a processor whose acquirer expires them itself (KOMOJU) are left to its notices.

It is safe to run from any number of processes at once: rows are claimed with
`FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite serializes writers), and every move is a
conditional update, so no payment expires twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import payments as states
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.services import execute, payments
from kessai.services.execute import KEY_TTL
from kessai.services.runtime import Runtime
from kessai.store import idempotency
from kessai.store.tables import payments as table

log = logging.getLogger("kessai.sweeper")
CASH_TYPES = tuple(slug for slug, t in PAYMENT_TYPES.items() if t.kind == "cash")


AUTHORIZATION_LIFETIME = timedelta(days=7)
# Processors whose acquirer expires payments itself and says so (KOMOJU's webhooks): their
# payments expire when it does, never by kessai's own clock alone.
SELF_REPORTING = ("komoju",)
ACTION_LIFETIME = timedelta(days=1)


def overdue(now: datetime) -> sa.ColumnElement[bool]:
    c = table.c
    return sa.and_(
        c.operation_id.is_(None),
        c.processor.not_in(SELF_REPORTING),
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


async def sweep(rt: Runtime, *, batch: int = 200) -> int:
    """Expire overdue payments, one batch per transaction; how many expired."""
    total = 0
    while True:

        async def one_batch(conn: AsyncConnection) -> int:
            query = sa.select(table).where(overdue(rt.clock())).limit(batch)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            due = (await conn.execute(query)).mappings().all()
            return sum([await payments.expire(conn, rt, row) for row in due])

        expired = await execute.write(rt, one_batch)
        total += expired
        if expired < batch:
            break
    await execute.write(rt, lambda conn: idempotency.expire(conn, rt.clock() - KEY_TTL))
    return total


async def run_forever(rt: Runtime, interval: float) -> None:
    while True:
        try:
            count = await sweep(rt)
            if count:
                log.info("expired %d overdue payments", count)
        except Exception:  # keep sweeping: a bad moment must not stop deadlines for good
            log.exception("sweep failed")
        await asyncio.sleep(interval)
