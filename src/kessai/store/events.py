"""The events table: the outbox every state change writes to in its own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.ids import new_id
from kessai.store.tables import events


async def insert(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    livemode: bool,
    type: str,
    data: dict[str, Any],
    now: datetime,
    reason: str | None = None,
) -> str:
    event_id = new_id()
    await conn.execute(
        events.insert().values(
            id=event_id,
            merchant_id=merchant_id,
            livemode=livemode,
            type=type,
            reason=reason,
            data=data,
            created_at=now,
        )
    )
    return event_id
