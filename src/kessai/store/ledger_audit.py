"""The queries of `kessai ledger check` (`kessai.services.ledger_check`) over the running
balances and the settlements; the sources' lines are in `ledger_audit_sources`. Each is
set-based and, but for the per-type sums the check counts with, returns only the rows
where the store disagrees with itself. `merchant_id` None looks at the whole store.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.tables import balance_transactions as bt
from kessai.store.tables import balances, merchants
from kessai.store.tables import settlements as st

_OWNER = (st.c.id, st.c.merchant_id, st.c.livemode, st.c.currency)  # a settlement, its ledger
# Which merchant a settlement's line is scoped by: the settlement's or the line's own.
Side = Literal["settlement", "line"]


def mine(column: Any, merchant_id: str | None) -> list[Any]:
    return [] if merchant_id is None else [column == merchant_id]


async def merchant_count(conn: AsyncConnection, merchant_id: str | None) -> int:
    query = sa.select(sa.func.count()).select_from(merchants)
    if merchant_id is not None:
        query = query.where(merchants.c.id == merchant_id)
    return int(await conn.scalar(query) or 0)


async def balance_sums(conn: AsyncConnection, merchant_id: str | None) -> list[RowMapping]:
    """Per merchant, mode, currency and type, in one pass over both: `running` (the sum of
    the running balance's slots), `booked` (the sum of its transactions) and `lines` (how
    many transactions)."""
    zero = sa.literal(0, sa.BigInteger)
    running = sa.select(
        balances.c.merchant_id,
        balances.c.livemode,
        balances.c.currency,
        balances.c.type,
        balances.c.amount.label("running"),
        zero.label("booked"),
        zero.label("n"),
    ).where(balances.c.slot >= 0, *mine(balances.c.merchant_id, merchant_id))
    booked = sa.select(
        bt.c.merchant_id,
        bt.c.livemode,
        bt.c.currency,
        bt.c.type,
        zero,
        bt.c.amount,
        sa.literal(1, sa.BigInteger),
    ).where(*mine(bt.c.merchant_id, merchant_id))
    both = sa.union_all(running, booked).subquery()
    key = (both.c.merchant_id, both.c.livemode, both.c.currency)
    rows = await conn.execute(
        sa.select(
            *key,
            both.c.type,
            sa.func.sum(both.c.running).label("running"),
            sa.func.sum(both.c.booked).label("booked"),
            sa.func.sum(both.c.n).label("lines"),
        ).group_by(*key, both.c.type)
    )
    return list(rows.mappings())


# Settlements: what they say against the lines that carry their ids.


async def settlements(conn: AsyncConnection, merchant_id: str | None) -> list[RowMapping]:
    rows = await conn.execute(sa.select(st).where(*mine(st.c.merchant_id, merchant_id)))
    return list(rows.mappings())


async def settled_sums(conn: AsyncConnection, merchant_id: str | None) -> list[RowMapping]:
    """Per settlement and type, the `amount` and the number of `lines` carrying its id."""
    rows = await conn.execute(
        sa.select(
            bt.c.settlement_id,
            bt.c.type,
            sa.func.sum(bt.c.amount).label("amount"),
            sa.func.count().label("lines"),
        )
        .select_from(bt.join(st, st.c.id == bt.c.settlement_id))
        .where(*mine(st.c.merchant_id, merchant_id))
        .group_by(bt.c.settlement_id, bt.c.type)
    )
    return list(rows.mappings())


async def late_lines(
    conn: AsyncConnection, merchant_id: str | None, side: Side
) -> list[RowMapping]:
    """The settlements holding lines that happened at or after their cut-off: the
    settlement (`settlement_id`, its ledger, `cutoff_time`) and `lines`, `first`, `latest`
    of those lines."""
    rows = await conn.execute(
        sa.select(*_settlement(), st.c.cutoff_time, *_some())
        .select_from(_settled())
        .where(*_side(merchant_id, side), bt.c.happened_at >= st.c.cutoff_time)
        .group_by(*_OWNER, st.c.cutoff_time)
    )
    return list(rows.mappings())


async def foreign_lines(
    conn: AsyncConnection, merchant_id: str | None, side: Side
) -> list[RowMapping]:
    """The settlements holding lines of another ledger: the settlement (`settlement_id`,
    its ledger), the lines' ledger (`line_merchant_id`, `line_livemode`, `line_currency`)
    and `lines`, `first`, `latest` of those lines."""
    line_owner = (bt.c.merchant_id, bt.c.livemode, bt.c.currency)
    rows = await conn.execute(
        sa.select(
            *_settlement(),
            bt.c.merchant_id.label("line_merchant_id"),
            bt.c.livemode.label("line_livemode"),
            bt.c.currency.label("line_currency"),
            *_some(),
        )
        .select_from(_settled())
        .where(*_side(merchant_id, side), sa.tuple_(*line_owner) != sa.tuple_(*_OWNER[1:]))
        .group_by(*_OWNER, *line_owner)
    )
    return list(rows.mappings())


async def unknown_settlement_lines(
    conn: AsyncConnection, merchant_id: str | None
) -> list[RowMapping]:
    """The lines (`id`, their ledger) naming a `settlement_id` that does not exist."""
    rows = await conn.execute(
        sa.select(bt.c.id, bt.c.merchant_id, bt.c.livemode, bt.c.currency, bt.c.settlement_id)
        .select_from(bt.outerjoin(st, st.c.id == bt.c.settlement_id))
        .where(
            *mine(bt.c.merchant_id, merchant_id),
            bt.c.settlement_id.is_not(None),
            st.c.id.is_(None),
        )
    )
    return list(rows.mappings())


def _settled() -> Any:
    return bt.join(st, st.c.id == bt.c.settlement_id)


def _settlement() -> tuple[Any, ...]:
    """A settlement's id (as `settlement_id`) and its ledger."""
    return (st.c.id.label("settlement_id"), *_OWNER[1:])


def _side(merchant_id: str | None, side: Side) -> list[Any]:
    return mine(st.c.merchant_id if side == "settlement" else bt.c.merchant_id, merchant_id)


def _some() -> tuple[Any, ...]:
    """How many lines, one of them, and the latest time among them."""
    return (
        sa.func.count().label("lines"),
        sa.func.min(bt.c.id).label("first"),
        sa.func.max(bt.c.happened_at).label("latest"),
    )
