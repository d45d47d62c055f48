"""Merchant keys in the store: listing shows hints of working keys only; rolling revokes
the old keys and leaves exactly one working set even when two rolls race."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kessai.ids import key_digest
from kessai.store import merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade
from tests.conftest import fresh_database

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    with fresh_database(tmp_path) as url:
        await upgrade(url)
        database = Database.from_url(url, pool_size=4)
        try:
            yield database
        finally:
            await database.dispose()


async def test_roll_keys_revokes_the_old_keys_and_lists_the_new(db: Database) -> None:
    async with db.transaction() as conn:
        shop, old = await merchants.insert_merchant(conn, "Shop", NOW)
        other, other_keys = await merchants.insert_merchant(conn, "Other", NOW)
    async with db.transaction() as conn:
        rolled = await merchants.roll_keys(conn, shop, NOW)
        assert await merchants.roll_keys(conn, "nosuchmerchant", NOW) is None
    assert rolled is not None and list(rolled) == [False]  # test mode, as before
    # The digests the roll revoked (what a server drops from its key cache), and only those.
    assert sorted(rolled.revoked) == sorted(key_digest(k) for k in old.values())
    new = rolled[False]
    async with db.transaction(write=False) as conn:
        for key in old.values():
            assert await merchants.find_key(conn, key_digest(key)) is None
        for kind, key in new.items():
            owner = await merchants.find_key(conn, key_digest(key))
            assert owner is not None and (owner.merchant_id, owner.kind) == (shop, kind)
        assert await merchants.find_key(conn, key_digest(other_keys["secret"])) is not None
        listed = {m.id: m.key_hints for m in await merchants.list_merchants(conn)}
    hint = merchants.key_hint
    assert listed == {
        shop: (hint(new["secret"]), hint(new["publishable"])),
        other: (hint(other_keys["secret"]), hint(other_keys["publishable"])),
    }


async def test_two_rolls_at_once_leave_one_working_set(db: Database) -> None:
    async with db.transaction() as conn:
        shop, _ = await merchants.insert_merchant(conn, "Shop", NOW)

    async def roll() -> dict[str, str]:
        async with db.transaction() as conn:
            rolled = await merchants.roll_keys(conn, shop, NOW)
        assert rolled is not None
        return rolled[False]

    first, second = await asyncio.gather(roll(), roll())
    async with db.transaction(write=False) as conn:
        (found,) = await merchants.list_merchants(conn, shop)
        working = [
            key
            for key in [*first.values(), *second.values()]
            if await merchants.find_key(conn, key_digest(key)) is not None
        ]
    assert len(found.key_hints) == 2
    assert working in ([*first.values()], [*second.values()])
