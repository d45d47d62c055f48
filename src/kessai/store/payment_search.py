"""The dashboard's payment list: filters, search and keyset pages over the payment indexes.

Every query starts with the merchant and mode, so each filter walks one index newest first:
(merchant_id, livemode, created_at) with no filter or only dates, (…, status, created_at)
and (…, payment_type, created_at) with those filters, and (…, external_order_num) when
searching. Nothing counts the whole set and nothing skips rows with OFFSET
(`store.keyset.page`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store import keyset
from kessai.store.tables import payments as table

PER_PAGE = 25
# What a row of the list shows (not the whole payment).
COLUMNS = (
    table.c.id,
    table.c.created_at,
    table.c.status,
    table.c.payment_type,
    table.c.payment_details,
    table.c.amount,
    table.c.amount_captured,
    table.c.amount_refunded,
    table.c.currency,
    table.c.external_order_num,
)


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to (None: not narrowed). `created_from` is inclusive,
    `created_before` exclusive (the Japan dates are turned into instants by the caller).
    `q`: an exact external_order_num, or, when `q_is_id`, also a payment id."""

    status: str | None = None
    payment_type: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    q: str | None = None
    q_is_id: bool = False


def conditions(merchant_id: str, livemode: bool, filters: Filters) -> list[sa.ColumnElement[bool]]:
    c = table.c
    where: list[sa.ColumnElement[bool]] = [c.merchant_id == merchant_id, c.livemode == livemode]
    if filters.status is not None:
        where.append(c.status == filters.status)
    if filters.payment_type is not None:
        where.append(c.payment_type == filters.payment_type)
    if filters.created_from is not None:
        where.append(c.created_at >= filters.created_from)
    if filters.created_before is not None:
        where.append(c.created_at < filters.created_before)
    if filters.q is not None:
        if filters.q_is_id:
            where.append(sa.or_(c.id == filters.q, c.external_order_num == filters.q))
        else:
            where.append(c.external_order_num == filters.q)
    return where


async def search(
    conn: AsyncConnection,
    merchant_id: str,
    livemode: bool,
    filters: Filters,
    *,
    before: str | None = None,
    after: str | None = None,
    limit: int = PER_PAGE,
) -> keyset.Page:
    """One page of the merchant's payments in this mode matching `filters`, newest first."""
    return await keyset.page(
        conn,
        table,
        conditions(merchant_id, livemode, filters),
        columns=COLUMNS,
        before=before,
        after=after,
        limit=limit,
    )
