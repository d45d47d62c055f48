"""Secure tokens: a vaulted card with its 3-D Secure outcome, usable once within 24 hours."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store import rows
from kessai.store.tables import secure_tokens

NEEDS_VERIFY = "NEEDS_VERIFY"


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await rows.insert(conn, secure_tokens, values)


async def get(
    conn: AsyncConnection, token_id: str, *, lock: bool = False, **scope: Any
) -> RowMapping | None:
    """One token; scoped to a merchant and mode when given (the hosted page reads it
    unscoped: its id is the customer's only credential)."""
    return await rows.get(conn, secure_tokens, token_id, lock=lock, **scope)


async def answer(
    conn: AsyncConnection, token_id: str, now: datetime, status: str, result: dict[str, Any]
) -> bool:
    """Record the challenge's outcome, once: only a token still waiting, and not expired."""
    return await rows.update_where(
        conn,
        secure_tokens,
        token_id,
        [
            secure_tokens.c.verification_status == NEEDS_VERIFY,
            secure_tokens.c.expires_at > now,
        ],
        {"verification_status": status, "three_ds_auth_result": result},
    )


async def consume(
    conn: AsyncConnection, token_id: str, now: datetime, usable: tuple[str, ...]
) -> bool:
    """Mark the token used, atomically: of two payments racing for it, one wins."""
    return await rows.update_where(
        conn,
        secure_tokens,
        token_id,
        [
            secure_tokens.c.used_at.is_(None),
            secure_tokens.c.expires_at > now,
            secure_tokens.c.verification_status.in_(usable),
        ],
        {"used_at": now},
    )
