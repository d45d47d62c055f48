"""Idempotency keys: claimed inside the transaction that does the work.

The key row is inserted first thing in the work's transaction and its response filled in
before the same commit, so a crash leaves either nothing or both. A concurrent duplicate
waits on the unique index (PostgreSQL) or the database lock (SQLite) and then sees the
finished row.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.merchants import insert_ignore
from kessai.store.tables import idempotency_keys as keys

_CLAIM: dict[str, sa.Insert] = {}  # by dialect: built once, its compiled form cached


async def claim(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    livemode: bool,
    key: str,
    fingerprint: str,
    now: datetime,
    status_code: int | None = None,
    body: bytes | None = None,
) -> int | None:
    """Insert the key; its row id, or None when the key exists already."""
    statement = _CLAIM.get(conn.dialect.name)
    if statement is None:
        statement = _CLAIM[conn.dialect.name] = insert_ignore(keys, conn).returning(keys.c.id)
    result = await conn.execute(
        statement,
        {
            "merchant_id": merchant_id,
            "livemode": livemode,
            "key": key,
            "fingerprint": fingerprint,
            "created_at": now,
            "status_code": status_code,
            "body": body,
        },
    )
    row = result.first()
    return int(row[0]) if row else None


async def existing(
    conn: AsyncConnection, *, merchant_id: str, livemode: bool, key: str
) -> RowMapping | None:
    return (
        (
            await conn.execute(
                sa.select(keys).where(
                    keys.c.merchant_id == merchant_id,
                    keys.c.livemode == livemode,
                    keys.c.key == key,
                )
            )
        )
        .mappings()
        .first()
    )


_FINISH = (
    keys.update()
    .where(keys.c.id == sa.bindparam("key_id"))
    .values(status_code=sa.bindparam("status_code"), body=sa.bindparam("body"))
)


async def finish(conn: AsyncConnection, key_id: int, status_code: int, body: bytes) -> None:
    await conn.execute(_FINISH, {"key_id": key_id, "status_code": status_code, "body": body})


async def finish_once(
    conn: AsyncConnection, key_id: int, status_code: int, body: bytes
) -> tuple[int, bytes] | None:
    """Store the response unless one is stored already; then return that one instead."""
    result = await conn.execute(
        keys.update()
        .where(keys.c.id == key_id, keys.c.status_code.is_(None))
        .values(status_code=status_code, body=body)
    )
    if result.rowcount == 1:
        return None
    row = (
        await conn.execute(sa.select(keys.c.status_code, keys.c.body).where(keys.c.id == key_id))
    ).first()
    if row is None or row[0] is None:
        return None
    return int(row[0]), bytes(row[1])


async def expire(conn: AsyncConnection, before: datetime) -> int:
    result = await conn.execute(keys.delete().where(keys.c.created_at < before))
    return int(result.rowcount)


async def forget(conn: AsyncConnection, key_id: int) -> None:
    await conn.execute(keys.delete().where(keys.c.id == key_id))
