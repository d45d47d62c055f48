"""One-click saved cards: per merchant, mode and the merchant's `external_customer_id`.

A card is kept once per (merchant, mode, external id, fingerprint): keeping the same card
again refreshes its summary and vault reference (a new expiry, say) instead of adding a row.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.tables import saved_cards

OWNER = ("merchant_id", "livemode", "external_customer_id")


def _owned(merchant_id: str, livemode: bool, external_customer_id: str) -> list[Any]:
    return [
        saved_cards.c.merchant_id == merchant_id,
        saved_cards.c.livemode == livemode,
        saved_cards.c.external_customer_id == external_customer_id,
    ]


async def keep(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Insert the card, or refresh the row that already holds the same card."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        saved_cards
    )
    statement = insert.values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[*OWNER, "card_fingerprint"],
        set_={
            "source": statement.excluded.source,
            "card_reference": statement.excluded.card_reference,
        },
    )
    await conn.execute(statement)


async def of_customer(
    conn: AsyncConnection, merchant_id: str, livemode: bool, external_customer_id: str
) -> list[RowMapping]:
    """The external customer's cards, the newest first."""
    query = (
        sa.select(saved_cards)
        .where(*_owned(merchant_id, livemode, external_customer_id))
        .order_by(saved_cards.c.created_at.desc(), saved_cards.c.id.desc())
    )
    return list((await conn.execute(query)).mappings().all())


async def get(
    conn: AsyncConnection,
    card_id: str,
    merchant_id: str,
    livemode: bool,
    external_customer_id: str,
) -> RowMapping | None:
    """One card, only if it belongs to this merchant's mode and external customer."""
    query = sa.select(saved_cards).where(
        saved_cards.c.id == card_id, *_owned(merchant_id, livemode, external_customer_id)
    )
    return (await conn.execute(query)).mappings().first()


async def forget(
    conn: AsyncConnection, merchant_id: str, livemode: bool, external_customer_id: str
) -> int:
    """Delete every card of the external customer; how many there were."""
    result = await conn.execute(
        saved_cards.delete().where(*_owned(merchant_id, livemode, external_customer_id))
    )
    return int(result.rowcount)
