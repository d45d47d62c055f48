"""Merchants, their API keys, and the server's own secrets."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.ids import key_digest, new_api_key, new_id
from kessai.store.tables import api_keys, merchants, server_secrets


@dataclass(frozen=True)
class KeyOwner:
    merchant_id: str
    merchant_name: str
    kind: str  # secret | publishable
    livemode: bool
    key_digest: str


async def insert_merchant(
    conn: AsyncConnection, name: str, now: datetime, *, livemode: bool = False
) -> tuple[str, dict[str, str]]:
    """A merchant and one secret and one publishable key; returns (id, {kind: key})."""
    merchant_id = new_id()
    await conn.execute(merchants.insert().values(id=merchant_id, name=name, created_at=now))
    mode = "live" if livemode else "test"
    keys = {"secret": new_api_key("sk", mode), "publishable": new_api_key("pk", mode)}
    await conn.execute(
        api_keys.insert(),
        [
            {
                "id": new_id(),
                "merchant_id": merchant_id,
                "kind": kind,
                "livemode": livemode,
                "key_digest": key_digest(key),
                "key_hint": f"{key[:8]}…{key[-4:]}",
                "created_at": now,
            }
            for kind, key in keys.items()
        ],
    )
    return merchant_id, keys


async def find_key(conn: AsyncConnection, digest: str) -> KeyOwner | None:
    row = (
        await conn.execute(
            sa.select(
                api_keys.c.merchant_id,
                merchants.c.name,
                api_keys.c.kind,
                api_keys.c.livemode,
                api_keys.c.key_digest,
            )
            .join(merchants, merchants.c.id == api_keys.c.merchant_id)
            .where(api_keys.c.key_digest == digest, api_keys.c.revoked_at.is_(None))
        )
    ).first()
    return KeyOwner(*row) if row else None


async def merchant_name(conn: AsyncConnection, merchant_id: str) -> str:
    return str(
        (
            await conn.execute(sa.select(merchants.c.name).where(merchants.c.id == merchant_id))
        ).scalar_one()
    )


async def count_merchants(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(merchants))).scalar_one())


async def server_secret(conn: AsyncConnection, name: str) -> str:
    """A random secret kept in the store, made on first use (fingerprints, CSRF tokens)."""
    query = sa.select(server_secrets.c.value).where(server_secrets.c.name == name)
    value = (await conn.execute(query)).scalar_one_or_none()
    if value is None:
        await conn.execute(
            insert_ignore(server_secrets, conn).values(name=name, value=secrets.token_hex(32))
        )
        value = (await conn.execute(query)).scalar_one()
    return str(value)


def insert_ignore(table: sa.Table, conn: AsyncConnection) -> sa.Insert:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()
