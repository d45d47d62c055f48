"""Balances and balance transactions, read for the API.

A balance is everything the merchant mode holds in one currency: the sum of all its
transactions, read from the running balances `store.ledger.post` keeps with them (`kessai
ledger check` proves the two agree). `unsettled` is the part no settlement covers yet.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import money
from kessai.core.rules import Invalid
from kessai.errors import InvalidCurrency, NotFound
from kessai.schemas.settlements import TransactionListParams
from kessai.services.runtime import Caller
from kessai.store import ledger as store


def currency_of(value: str) -> str:
    """The path's currency, upper-cased (a code kessai does not know: 422 naming it)."""
    try:
        return money.currency(value)
    except Invalid as exc:
        raise InvalidCurrency(f"currency {exc.message}", param="currency") from None


def _scope(caller: Caller, currency: str) -> dict[str, Any]:
    return {"merchant_id": caller.merchant_id, "livemode": caller.livemode, "currency": currency}


async def show(conn: AsyncConnection, caller: Caller, currency: str) -> tuple[dict[str, int], int]:
    """(the balance's totals by type, its unsettled part)."""
    scope = _scope(caller, currency)
    totals = await store.totals(conn, **scope)
    return totals, await store.unsettled_total(conn, **scope)


async def transactions(
    conn: AsyncConnection, caller: Caller, currency: str, params: TransactionListParams
) -> tuple[int, list[RowMapping]]:
    """(total, a page of transactions) newest first, happened between `start_time` and
    `end_time` (inclusive), of one `type` if given."""
    return await store.page(
        conn,
        **_scope(caller, currency),
        page=params.page,
        per_page=params.per_page,
        start=params.start_time,
        end=params.end_time,
        type_=params.type,
    )


async def transaction(
    conn: AsyncConnection, caller: Caller, currency: str, transaction_id: str
) -> RowMapping:
    found = await store.get(conn, **_scope(caller, currency), transaction_id=transaction_id)
    if found is None:
        raise NotFound(
            f"No {currency} balance transaction {transaction_id!r} exists for this merchant "
            "and mode."
        )
    return found
