"""The dashboard's lists of sessions, customers and subscriptions, and what hangs off one.

Every query is scoped to one merchant and mode; lists are keyset pages (`store.keyset`),
newest first. A session's "expired" is not a stored status: it is a pending session whose
`expires_at` has passed on the merchant's clock (`now`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store import keyset
from kessai.store.keyset import Cursor
from kessai.store.tables import customers, payments, sessions, subscriptions

SESSION_STATUSES = ("pending", "expired", "completed", "cancelled")
SUBSCRIPTION_STATUSES = ("pending", "active", "retrying", "suspended", "deleted")


@dataclass(frozen=True)
class Scope:
    merchant_id: str
    livemode: bool

    def of(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        return [table.c.merchant_id == self.merchant_id, table.c.livemode == self.livemode]


def _session_status(status: str, now: datetime) -> sa.ColumnElement[bool]:
    c = sessions.c
    if status == "expired":
        return sa.and_(c.status == "pending", c.expires_at <= now)
    if status == "pending":
        return sa.and_(c.status == "pending", c.expires_at > now)
    return c.status == status


async def session_page(
    conn: AsyncConnection,
    scope: Scope,
    cursor: Cursor,
    *,
    now: datetime,
    status: str | None = None,
    search: str | None = None,
) -> keyset.Page:
    """Sessions, filtered by status (`SESSION_STATUSES`) and by an exact id or external
    order number."""
    where = scope.of(sessions)
    if status:
        where.append(_session_status(status, now))
    if search:
        where.append(sa.or_(sessions.c.id == search, sessions.c.external_order_num == search))
    return await keyset.page(conn, sessions, where, before=cursor.before, after=cursor.after)


async def customer_page(
    conn: AsyncConnection, scope: Scope, cursor: Cursor, *, search: str | None = None
) -> keyset.Page:
    """Customers, deleted ones too; searched by exact id or by part of the email (any case)."""
    where = scope.of(customers)
    if search:
        email = sa.func.lower(customers.c.email)
        where.append(
            sa.or_(customers.c.id == search, email.contains(search.lower(), autoescape=True))
        )
    return await keyset.page(conn, customers, where, before=cursor.before, after=cursor.after)


async def subscription_page(
    conn: AsyncConnection, scope: Scope, cursor: Cursor, *, status: str | None = None
) -> keyset.Page:
    where = scope.of(subscriptions)
    if status:
        where.append(subscriptions.c.status == status)
    return await keyset.page(conn, subscriptions, where, before=cursor.before, after=cursor.after)


async def customer(conn: AsyncConnection, scope: Scope, customer_id: str) -> RowMapping | None:
    """A customer of the merchant's mode, deleted or not."""
    query = sa.select(customers).where(customers.c.id == customer_id, *scope.of(customers))
    return (await conn.execute(query)).mappings().first()


async def payment_page(
    conn: AsyncConnection,
    scope: Scope,
    cursor: Cursor,
    *,
    session_id: str | None = None,
    customer_id: str | None = None,
    subscription_id: str | None = None,
) -> keyset.Page:
    """The payments of one session, customer or subscription."""
    where = scope.of(payments)
    if session_id is not None:
        where.append(payments.c.session_id == session_id)
    if customer_id is not None:
        where.append(payments.c.customer_id == customer_id)
    if subscription_id is not None:
        where.append(payments.c.subscription_id == subscription_id)
    return await keyset.page(conn, payments, where, before=cursor.before, after=cursor.after)


async def subscriptions_of(conn: AsyncConnection, scope: Scope, customer_id: str) -> keyset.Page:
    """A customer's subscriptions, newest first (the newest 100)."""
    where = [*scope.of(subscriptions), subscriptions.c.customer_id == customer_id]
    return await keyset.page(conn, subscriptions, where, limit=keyset.MAX_LIMIT)
