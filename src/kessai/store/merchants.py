"""Merchants, their API keys, and the server's own secrets."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import ledger as ledger_rules
from kessai.ids import key_digest, new_api_key, new_id
from kessai.store import ledger_settings
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
    schedule = ledger_rules.DEFAULT_SCHEDULE
    await ledger_settings.create(
        conn, merchant_id, schedule, ledger_rules.next_cutoff(schedule, now), now
    )
    keys = await issue_keys(conn, merchant_id, livemode, now)
    return merchant_id, keys


async def issue_keys(
    conn: AsyncConnection, merchant_id: str, livemode: bool, now: datetime
) -> dict[str, str]:
    """One new secret and one publishable key for one mode; returns {kind: key}."""
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
                "key_hint": key_hint(key),
                "created_at": now,
            }
            for kind, key in keys.items()
        ],
    )
    return keys


def key_hint(key: str) -> str:
    """What is kept of a key to recognise it by: kind and mode, and its last four
    characters (`sk_test_…ab12`); the rest exists only as a digest."""
    return f"{key[:8]}…{key[-4:]}"


@dataclass(frozen=True)
class MerchantSummary:
    id: str
    name: str
    created_at: datetime
    key_hints: tuple[str, ...]  # the keys that work now, secret first


async def list_merchants(
    conn: AsyncConnection, merchant_id: str | None = None
) -> list[MerchantSummary]:
    """Every merchant (or the one `merchant_id`), oldest first, with its working keys."""
    query = sa.select(merchants.c.id, merchants.c.name, merchants.c.created_at).order_by(
        merchants.c.created_at, merchants.c.id
    )
    if merchant_id is not None:
        query = query.where(merchants.c.id == merchant_id)
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    keys = sa.select(
        api_keys.c.merchant_id, api_keys.c.kind, api_keys.c.livemode, api_keys.c.key_hint
    ).where(api_keys.c.revoked_at.is_(None))
    if merchant_id is not None:
        keys = keys.where(api_keys.c.merchant_id == merchant_id)
    hints: dict[str, list[tuple[bool, bool, str]]] = {}
    for owner, kind, livemode, hint in await conn.execute(keys):
        hints.setdefault(owner, []).append((bool(livemode), kind != "secret", hint))
    return [
        MerchantSummary(id_, name, created, tuple(h for *_, h in sorted(hints.get(id_, []))))
        for id_, name, created in rows
    ]


class RolledKeys(dict[bool, dict[str, str]]):
    """{livemode: {kind: key}} of the keys a roll issued, and `revoked`: the digests of
    the keys it revoked."""

    revoked: list[str]


async def roll_keys(
    conn: AsyncConnection,
    merchant_id: str,
    now: datetime,
    *,
    modes: Iterable[bool] = (False,),
    only: bool | None = None,
) -> RolledKeys | None:
    """Revoke every working key of the merchant and issue new ones for the same modes,
    and for `modes` if it had none there; returns {livemode: {kind: key}}, or None if
    there is no such merchant (`.revoked`: the digests of the keys revoked, to drop from
    a key cache). `only` (a mode) rolls that mode's keys alone (the dashboard, signed in
    to one mode). The merchant row is locked, so two rolls at once issue one set each in
    turn, never two working sets."""
    locked = (
        await conn.execute(
            sa.select(merchants.c.id).where(merchants.c.id == merchant_id).with_for_update()
        )
    ).first()
    if locked is None:
        return None
    working = [api_keys.c.merchant_id == merchant_id, api_keys.c.revoked_at.is_(None)]
    if only is not None:
        working.append(api_keys.c.livemode == only)
        modes = (only,)
    revoked = (
        await conn.execute(
            api_keys.update()
            .where(*working)
            .values(revoked_at=now)
            .returning(api_keys.c.livemode, api_keys.c.key_digest)
        )
    ).all()
    issue = sorted({bool(livemode) for livemode, _ in revoked} | set(modes))
    rolled = RolledKeys({m: await issue_keys(conn, merchant_id, m, now) for m in issue})
    rolled.revoked = [str(digest) for _, digest in revoked]
    return rolled


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


async def key_id_of(conn: AsyncConnection, digest: str) -> str | None:
    """The row id of the working key with this digest (the dashboard's sign-in names it)."""
    query = sa.select(api_keys.c.id).where(
        api_keys.c.key_digest == digest, api_keys.c.revoked_at.is_(None)
    )
    found = (await conn.execute(query)).scalar()
    return None if found is None else str(found)


async def merchant_exists(conn: AsyncConnection, merchant_id: str) -> bool:
    query = sa.select(merchants.c.id).where(merchants.c.id == merchant_id)
    return (await conn.execute(query)).first() is not None


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
