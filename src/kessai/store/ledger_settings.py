"""Each merchant mode's fee overrides and settlement schedule (`ledger_settings`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.tables import ledger_settings as table


async def get(conn: AsyncConnection, merchant_id: str, livemode: bool) -> RowMapping | None:
    rows = await conn.execute(
        sa.select(table).where(table.c.merchant_id == merchant_id, table.c.livemode == livemode)
    )
    return rows.mappings().first()


async def fees(conn: AsyncConnection, merchant_id: str, livemode: bool) -> dict[str, Any]:
    found = await conn.scalar(
        sa.select(table.c.fees).where(
            table.c.merchant_id == merchant_id, table.c.livemode == livemode
        )
    )
    return dict(found or {})


async def create(
    conn: AsyncConnection, merchant_id: str, schedule: str, next_cutoff_at: datetime, now: datetime
) -> None:
    """Both modes' settings of a new merchant."""
    await conn.execute(
        table.insert(),
        [
            {
                "merchant_id": merchant_id,
                "livemode": livemode,
                "settlement_schedule": schedule,
                "next_cutoff_at": next_cutoff_at,
                "fees": {},
                "updated_at": now,
            }
            for livemode in (False, True)
        ],
    )


async def update(
    conn: AsyncConnection, merchant_id: str, livemode: bool, values: dict[str, Any]
) -> bool:
    result = await conn.execute(
        table.update()
        .where(table.c.merchant_id == merchant_id, table.c.livemode == livemode)
        .values(**values)
    )
    return result.rowcount == 1


async def claim_cutoff(
    conn: AsyncConnection,
    merchant_id: str,
    livemode: bool,
    cutoff: datetime,
    following: datetime,
    *,
    schedule: str,
) -> bool:
    """Move the schedule from `cutoff` to `following`; True only for the one run that did
    (so each cycle is settled once, however many runs find it due), and only while the
    schedule is still `schedule` (a change since it was read would make `following` wrong)."""
    result = await conn.execute(
        table.update()
        .where(
            table.c.merchant_id == merchant_id,
            table.c.livemode == livemode,
            table.c.next_cutoff_at == cutoff,
            table.c.settlement_schedule == schedule,
        )
        .values(next_cutoff_at=following)
    )
    return result.rowcount == 1
