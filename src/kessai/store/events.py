"""The events table, the outbox every state change writes to in its own transaction.

Writing an event also writes one pending delivery per webhook endpoint that wants it, in
the same transaction, so a committed change always has its webhooks queued.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core.times import iso
from kessai.ids import new_id
from kessai.merchant_clock import clock_offset
from kessai.store.tables import events, webhook_deliveries, webhook_endpoints


def render(event_id: str, type: str, created_at: str, reason: str | None, data: Any) -> str:
    body = {
        "id": event_id,
        "resource": "event",
        "type": type,
        "created_at": created_at,
        "reason": reason,
        "data": data,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _object_id(data: Mapping[str, Any]) -> str | None:
    found = data.get("id")
    return found if isinstance(found, str) and len(found) <= 40 else None


async def insert(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    livemode: bool,
    type: str,
    data: Mapping[str, Any],
    now: datetime,
    reason: str | None = None,
    only_endpoint: str | None = None,
) -> str:
    """Record an event and queue its webhooks (only to `only_endpoint` when given)."""
    event_id = new_id()
    body = render(event_id, type, iso(now) or "", reason, data)
    await conn.execute(
        events.insert(),
        {
            "id": event_id,
            "merchant_id": merchant_id,
            "livemode": livemode,
            "type": type,
            "reason": reason,
            "data": data,
            "body": body,
            "object_id": _object_id(data),
            "created_at": now,
        },
    )
    query = sa.select(webhook_endpoints.c.id, webhook_endpoints.c.event_types).where(
        webhook_endpoints.c.merchant_id == merchant_id,
        webhook_endpoints.c.livemode == livemode,
        webhook_endpoints.c.deleted_at.is_(None),
    )
    if only_endpoint is not None:
        query = query.where(webhook_endpoints.c.id == only_endpoint)
    targets = [
        row.id
        for row in await conn.execute(query)
        if row.event_types is None or type in row.event_types or only_endpoint is not None
    ]
    if targets:
        await conn.execute(
            webhook_deliveries.insert(),
            [
                {
                    "event_id": event_id,
                    "endpoint_id": endpoint_id,
                    "status": "pending",
                    "attempts": 0,
                    # Sent on the real clock: `now` may be a test clock's, days ahead.
                    "next_attempt_at": now - clock_offset(),
                    "created_at": now - clock_offset(),
                }
                for endpoint_id in targets
            ],
        )
    return event_id
