"""The dashboard's ledger lists: the currencies a merchant mode holds, its balance
transactions (of a currency, or of one settlement) and its settlements.

Each is scoped to one merchant and mode and read as keyset pages (`store.keyset`), newest
first: balance transactions by `happened_at` (the index on (merchant_id, livemode,
currency, happened_at), or the one with settlement_id before happened_at), settlements by
`created_at`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store import keyset
from kessai.store.ledger_tables import balance_transactions as bt
from kessai.store.ledger_tables import balances, settlements

PER_PAGE = 25


async def currencies(conn: AsyncConnection, merchant_id: str, livemode: bool) -> list[str]:
    """Every currency the merchant mode has a balance in, alphabetically."""
    rows = await conn.execute(
        sa.select(balances.c.currency)
        .where(
            balances.c.merchant_id == merchant_id,
            balances.c.livemode == livemode,
            balances.c.slot >= 0,  # not a disbursement's lock row alone
        )
        .distinct()
        .order_by(balances.c.currency)
    )
    return [str(code) for (code,) in rows]


async def transactions(
    conn: AsyncConnection,
    merchant_id: str,
    livemode: bool,
    currency: str,
    *,
    settlement_id: str | None = None,
    before: str | None = None,
    after: str | None = None,
) -> keyset.Page:
    """A page of the currency's transactions (of one settlement, if given), newest first."""
    where = [bt.c.merchant_id == merchant_id, bt.c.livemode == livemode, bt.c.currency == currency]
    if settlement_id is not None:
        where.append(bt.c.settlement_id == settlement_id)
    return await keyset.page(
        conn, bt, where, before=before, after=after, limit=PER_PAGE, time="happened_at"
    )


async def settlement_page(
    conn: AsyncConnection,
    merchant_id: str,
    livemode: bool,
    *,
    before: str | None = None,
    after: str | None = None,
) -> keyset.Page:
    where = [settlements.c.merchant_id == merchant_id, settlements.c.livemode == livemode]
    return await keyset.page(conn, settlements, where, before=before, after=after, limit=PER_PAGE)
