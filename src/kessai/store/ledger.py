"""Balance transactions and the running balances kept with them.

`post` is the only writer of both: it appends the transactions and adds each one to a
balance slot, in the caller's transaction. A slot is picked at random among `SLOTS`, so
captures of one merchant running side by side update different rows; a balance is the sum
of its slots. `lock_balance` serializes what must see the whole balance (a disbursement).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import ledger as rules
from kessai.ids import new_id
from kessai.store.tables import balance_transactions as bt
from kessai.store.tables import balances

SLOTS = 32
LOCK_SLOT = -1  # the slot a disbursement locks (holds no money of its own)


@dataclass(frozen=True)
class Line:
    """One money move: `amount` >= 0, signed by its type (`core.ledger.TYPES`)."""

    type: str
    amount: int
    source_id: str
    payment_id: str | None = None


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


_BALANCE_KEY = [
    balances.c.merchant_id,
    balances.c.livemode,
    balances.c.currency,
    balances.c.type,
    balances.c.slot,
]


@cache
def _add_to_balance(dialect: str) -> Any:
    """INSERT a balance slot, or add to it: one statement, built once per dialect."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(balances)
    return statement.on_conflict_do_update(
        index_elements=_BALANCE_KEY,
        set_={"amount": balances.c.amount + statement.excluded.amount},
    )


async def post(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    livemode: bool,
    currency: str,
    lines: list[Line],
    happened_at: datetime,
    slot: int | None = None,
) -> list[dict[str, Any]]:
    """Append `lines` and add them to the balance; the rows written. A line booked before
    (same source and type) fails the whole transaction: nothing is ever booked twice."""
    rows = [
        {
            "id": new_id(),
            "merchant_id": merchant_id,
            "livemode": livemode,
            "currency": currency,
            "type": line.type,
            "amount": rules.signed(line.type, line.amount),
            "source_type": rules.TYPES[line.type][1],
            "source_id": line.source_id,
            "payment_id": line.payment_id,
            "happened_at": happened_at,
            "settlement_id": None,
        }
        for line in lines
    ]
    if not rows:
        return rows
    # Parameters, not values baked into the statements: both compile once (measured: a
    # multi-row VALUES statement compiled per booking costs more than the round trips).
    await conn.execute(bt.insert(), rows)
    by_type: dict[str, int] = {}
    for line in lines:
        by_type[line.type] = by_type.get(line.type, 0) + rules.signed(line.type, line.amount)
    chosen = random.randrange(SLOTS) if slot is None else slot  # noqa: S311 - spreading only
    add = _add_to_balance(conn.dialect.name)
    for type_, amount in sorted(by_type.items()):
        await conn.execute(
            add,
            {
                "merchant_id": merchant_id,
                "livemode": livemode,
                "currency": currency,
                "type": type_,
                "slot": chosen,
                "amount": amount,
            },
        )
    return rows


async def lock_balance(
    conn: AsyncConnection, merchant_id: str, livemode: bool, currency: str
) -> None:
    """Hold this balance's lock row until the transaction ends. Whoever takes it next
    waits, then reads the balance afresh (a later statement sees what was committed)."""
    statement = _insert(conn, balances).values(
        merchant_id=merchant_id,
        livemode=livemode,
        currency=currency,
        type="lock",
        slot=LOCK_SLOT,
        amount=0,
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[
                balances.c.merchant_id,
                balances.c.livemode,
                balances.c.currency,
                balances.c.type,
                balances.c.slot,
            ],
            set_={"amount": balances.c.amount},
        )
    )


def _scope(table: sa.Table, merchant_id: str, livemode: bool, currency: str | None) -> list[Any]:
    where = [table.c.merchant_id == merchant_id, table.c.livemode == livemode]
    if currency is not None:
        where.append(table.c.currency == currency)
    return where


async def totals(
    conn: AsyncConnection, merchant_id: str, livemode: bool, currency: str
) -> dict[str, int]:
    """The balance by type, from the running balances."""
    result = await conn.execute(
        sa.select(balances.c.type, sa.func.sum(balances.c.amount))
        .where(*_scope(balances, merchant_id, livemode, currency), balances.c.slot >= 0)
        .group_by(balances.c.type)
    )
    return {type_: int(amount or 0) for type_, amount in result}


async def balance(conn: AsyncConnection, merchant_id: str, livemode: bool, currency: str) -> int:
    return rules.net(await totals(conn, merchant_id, livemode, currency))


async def unsettled_total(
    conn: AsyncConnection, merchant_id: str, livemode: bool, currency: str
) -> int:
    found = await conn.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(bt.c.amount), 0)).where(
            *_scope(bt, merchant_id, livemode, currency), bt.c.settlement_id.is_(None)
        )
    )
    return int(found or 0)


async def page(
    conn: AsyncConnection,
    merchant_id: str,
    livemode: bool,
    currency: str,
    *,
    page: int,
    per_page: int,
    start: datetime | None = None,
    end: datetime | None = None,
    type_: str | None = None,
) -> tuple[int, list[RowMapping]]:
    """(total, transactions) newest first."""
    where = _scope(bt, merchant_id, livemode, currency)
    if start is not None:
        where.append(bt.c.happened_at >= start)
    if end is not None:
        where.append(bt.c.happened_at <= end)
    if type_ is not None:
        where.append(bt.c.type == type_)
    total = await conn.scalar(sa.select(sa.func.count()).select_from(bt).where(*where))
    rows = await conn.execute(
        sa.select(bt)
        .where(*where)
        .order_by(bt.c.happened_at.desc(), bt.c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return int(total or 0), list(rows.mappings())


async def get(
    conn: AsyncConnection, merchant_id: str, livemode: bool, currency: str, transaction_id: str
) -> RowMapping | None:
    rows = await conn.execute(
        sa.select(bt).where(*_scope(bt, merchant_id, livemode, currency), bt.c.id == transaction_id)
    )
    return rows.mappings().first()


async def of_settlement(conn: AsyncConnection, settlement_id: str) -> list[RowMapping]:
    rows = await conn.execute(
        sa.select(bt).where(bt.c.settlement_id == settlement_id).order_by(bt.c.happened_at, bt.c.id)
    )
    return list(rows.mappings())
