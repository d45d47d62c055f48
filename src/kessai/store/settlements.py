"""Settlements and the statements that make them.

A settlement is written in the transaction that claims its cut-off
(`store.ledger_settings.claim_cutoff`): `assign` stamps its id on the unsettled
transactions before the cut-off (only where `settlement_id` is still null, so a transaction
is in one settlement at most), `totals_of` sums what now carries that id, and `insert`
records it. The unique (merchant, mode, currency, cut-off) backs the claim.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.tables import balance_transactions as bt
from kessai.store.tables import ledger_settings, merchants
from kessai.store.tables import settlements as table


async def due(
    conn: AsyncConnection, where: sa.ColumnElement[bool], now: datetime, limit: int
) -> list[RowMapping]:
    """Schedules in scope (`ledger_settings` rows) whose cut-off is at or before `now`,
    the most overdue first."""
    query = (
        sa.select(ledger_settings)
        .where(where, ledger_settings.c.next_cutoff_at <= now)
        .order_by(ledger_settings.c.next_cutoff_at)
        .limit(limit)
    )
    return list((await conn.execute(query)).mappings().all())


async def next_cutoff(conn: AsyncConnection, merchant_id: str, after: datetime) -> datetime | None:
    """The merchant's test-mode cut-off, if it is after `after`."""
    found = await conn.scalar(
        sa.select(ledger_settings.c.next_cutoff_at).where(
            ledger_settings.c.merchant_id == merchant_id,
            ledger_settings.c.livemode.is_(False),
            ledger_settings.c.next_cutoff_at > after,
        )
    )
    return found if isinstance(found, datetime) else None


def _unsettled(merchant_id: str, livemode: bool, before: datetime) -> list[Any]:
    return [
        bt.c.merchant_id == merchant_id,
        bt.c.livemode == livemode,
        bt.c.settlement_id.is_(None),
        bt.c.happened_at < before,
    ]


async def unsettled_currencies(
    conn: AsyncConnection, merchant_id: str, livemode: bool, before: datetime
) -> list[str]:
    """The currencies with transactions before `before` that no settlement covers yet."""
    result = await conn.execute(
        sa.select(bt.c.currency)
        .where(*_unsettled(merchant_id, livemode, before))
        .distinct()
        .order_by(bt.c.currency)
    )
    return [str(currency) for currency in result.scalars()]


async def assign(
    conn: AsyncConnection,
    settlement_id: str,
    *,
    merchant_id: str,
    livemode: bool,
    currency: str,
    before: datetime,
) -> int:
    """Put every unsettled transaction of the currency before `before` in the settlement;
    how many."""
    result = await conn.execute(
        bt.update()
        .where(*_unsettled(merchant_id, livemode, before), bt.c.currency == currency)
        .values(settlement_id=settlement_id)
    )
    return int(result.rowcount)


async def totals_of(conn: AsyncConnection, settlement_id: str) -> tuple[dict[str, int], int]:
    """The settlement's signed totals by type, and how many transactions it has."""
    result = await conn.execute(
        sa.select(bt.c.type, sa.func.sum(bt.c.amount), sa.func.count())
        .where(bt.c.settlement_id == settlement_id)
        .group_by(bt.c.type)
    )
    totals: dict[str, int] = {}
    count = 0
    for type_, amount, number in result:
        totals[str(type_)] = int(amount or 0)
        count += int(number)
    return totals, count


async def previous_cutoff(
    conn: AsyncConnection, merchant_id: str, livemode: bool, currency: str, before: datetime
) -> datetime | None:
    """The cut-off of the currency's last settlement before `before` (None: the first)."""
    found = await conn.scalar(
        sa.select(sa.func.max(table.c.cutoff_time)).where(
            table.c.merchant_id == merchant_id,
            table.c.livemode == livemode,
            table.c.currency == currency,
            table.c.cutoff_time < before,
        )
    )
    return found if isinstance(found, datetime) else None


async def merchant_name(conn: AsyncConnection, merchant_id: str) -> str:
    found = await conn.scalar(sa.select(merchants.c.name).where(merchants.c.id == merchant_id))
    return str(found or "")


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(table.insert(), values)


async def get(
    conn: AsyncConnection, settlement_id: str, merchant_id: str, livemode: bool
) -> RowMapping | None:
    rows = await conn.execute(
        sa.select(table).where(
            table.c.id == settlement_id,
            table.c.merchant_id == merchant_id,
            table.c.livemode == livemode,
        )
    )
    return rows.mappings().first()


async def page(
    conn: AsyncConnection,
    merchant_id: str,
    livemode: bool,
    *,
    page: int,
    per_page: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[int, list[RowMapping]]:
    """(total, settlements) newest first (created between `start` and `end`, inclusive);
    settlements made together, latest cut-off first."""
    where = [table.c.merchant_id == merchant_id, table.c.livemode == livemode]
    if start is not None:
        where.append(table.c.created_at >= start)
    if end is not None:
        where.append(table.c.created_at <= end)
    total = await conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where))
    rows = await conn.execute(
        sa.select(table)
        .where(*where)
        .order_by(table.c.created_at.desc(), table.c.cutoff_time.desc(), table.c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return int(total or 0), list(rows.mappings())
