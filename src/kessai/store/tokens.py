"""Tokens: a vaulted card, usable once within 24 hours."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store import rows
from kessai.store.tables import tokens


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await rows.insert(conn, tokens, values)


async def consume(
    conn: AsyncConnection, token_id: str, now: datetime, **scope: Any
) -> RowMapping | None:
    """Mark the token used, atomically; the token, or None if unknown, used or expired."""
    row = await rows.get(conn, tokens, token_id, **scope)
    if row is None:
        return None
    used = await rows.update_where(
        conn,
        tokens,
        token_id,
        [tokens.c.used_at.is_(None), tokens.c.expires_at > now],
        {"used_at": now},
    )
    return row if used else None
