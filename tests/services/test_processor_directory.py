"""`StoreDirectory`: each merchant's processors from the store, kept for a TTL.

The directory's monotonic clock is a test clock here: "after the TTL" is a clock moved
forward, never a sleep. `registry.build` is replaced by a recorder so the processors it
makes can be counted and their `aclose()` seen; the rows are real ones, written through
`set_processor` (which validates through the real registry).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kessai.errors import ProcessorUnavailable
from kessai.processors import registry
from kessai.processors.directory import NO_LIVE_PROCESSOR
from kessai.processors.simulated import SimulatedProcessor
from kessai.services import processor_config
from kessai.services.processor_config import Refused, StoreDirectory, set_processor, show
from kessai.store import merchants
from kessai.store import processors as store
from kessai.store.db import Database
from kessai.store.migrate import upgrade
from tests.conftest import fresh_database

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "sk_live_" + "9" * 28 + "ab12"
KOMOJU = {"api_url": "http://127.0.0.1:9", "secret_key": KEY, "webhook_secret": "whsec"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Fake:
    """A processor as far as the directory cares: a name, a timeout, an HTTP client."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.name = "komoju"
        self.timeout = float(config["timeout"])
        self.config = dict(config)
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    with fresh_database(tmp_path) as url:
        await upgrade(url)
        database = Database.from_url(url, pool_size=4)
        try:
            yield database
        finally:
            await database.dispose()


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[Fake]:
    made: list[Fake] = []

    def build(name: str, config: Mapping[str, Any]) -> Any:
        if name != "komoju":
            return registry.factory(name)(config)
        made.append(Fake(config))
        return made[-1]

    monkeypatch.setattr(registry, "build", build)
    return made


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every `processor_configs` read the directory makes."""
    seen: list[tuple[str, bool]] = []
    real = store.get_config

    async def counted(conn: Any, merchant_id: str, livemode: bool) -> Any:
        seen.append((merchant_id, livemode))
        return await real(conn, merchant_id, livemode)

    monkeypatch.setattr(store, "get_config", counted)
    return seen


async def _merchant(db: Database) -> str:
    async with db.transaction() as conn:
        merchant_id, _ = await merchants.insert_merchant(conn, "Shop", NOW)
    return merchant_id


async def _set(db: Database, merchant_id: str, livemode: bool, name: str, **kw: Any) -> None:
    async with db.transaction() as conn:
        await set_processor(conn, merchant_id, livemode, name, kw.pop("config", {}), **kw)


async def test_defaults_are_one_shared_simulator_and_no_live_processor(db: Database) -> None:
    shop, other = await _merchant(db), await _merchant(db)
    directory = StoreDirectory(db, clock=Clock())
    first = await directory.get(shop, False)
    assert isinstance(first, SimulatedProcessor)
    assert await directory.get(other, False) is first is directory.simulated
    with pytest.raises(ProcessorUnavailable) as caught:
        await directory.get(shop, True)
    assert caught.value.message == NO_LIVE_PROCESSOR
    await directory.aclose()


async def test_a_change_is_seen_after_the_ttl_and_not_before(
    db: Database, built: list[Fake], reads: list[tuple[str, bool]]
) -> None:
    shop = await _merchant(db)
    clock = Clock()
    directory = StoreDirectory(db, clock=clock, ttl=2.0, close_after=lambda p: 3600)
    with pytest.raises(ProcessorUnavailable):
        await directory.get(shop, True)
    await _set(db, shop, True, "komoju", config=KOMOJU, now=NOW)

    # Within the TTL the answer is the kept one, and nothing is read.
    clock.now += 1.9
    for _ in range(50):
        with pytest.raises(ProcessorUnavailable):
            await directory.get(shop, True)
    assert reads == [(shop, True)]

    clock.now += 0.2  # past the TTL: the row is read again, the processor built once
    got = await directory.get(shop, True)
    (processor,) = built
    assert got is processor and processor.config == {**KOMOJU, "timeout": 10.0}
    assert await directory.get(shop, True) is processor
    assert len(reads) == 2

    # The row read again but unchanged: the same processor, nothing rebuilt.
    clock.now += 5
    assert await directory.get(shop, True) is processor
    assert len(built) == 1 and len(reads) == 3

    # A new config: a new processor after the TTL; the old one is kept open meanwhile.
    await _set(db, shop, True, "komoju", config={**KOMOJU, "timeout": 3}, now=NOW + timedelta(1))
    assert await directory.get(shop, True) is processor
    clock.now += 2.5
    got = await directory.get(shop, True)
    replacement = built[-1]
    assert got is replacement is not processor and replacement.timeout == 3.0
    assert processor.closed == 0  # calls under way may still use it

    # Back to none: live requests are refused again.
    await _set(db, shop, True, "none", now=NOW + timedelta(2))
    clock.now += 2.5
    with pytest.raises(ProcessorUnavailable):
        await directory.get(shop, True)
    # Shutting down closes everything it built, replaced ones included, once each.
    await directory.aclose()
    assert (processor.closed, replacement.closed) == (1, 1)


async def test_a_replaced_processor_is_closed_after_its_grace(
    db: Database, built: list[Fake]
) -> None:
    shop = await _merchant(db)
    clock = Clock()
    directory = StoreDirectory(db, clock=clock, close_after=lambda p: 0)
    await _set(db, shop, False, "komoju", config=KOMOJU, now=NOW)
    assert await directory.get(shop, False) is built[0]
    old = built[0]
    await _set(db, shop, False, "simulated", now=NOW + timedelta(1))  # the default again
    clock.now += 3
    assert await directory.get(shop, False) is directory.simulated
    for _ in range(5):  # let the closing task run (a delay of 0: no time passes)
        await asyncio.sleep(0)
    assert old.closed == 1
    await directory.aclose()
    assert old.closed == 1


async def test_concurrent_requests_after_the_ttl_read_the_row_once(
    db: Database, built: list[Fake], reads: list[tuple[str, bool]]
) -> None:
    shop = await _merchant(db)
    await _set(db, shop, True, "komoju", config=KOMOJU, now=NOW)
    directory = StoreDirectory(db, clock=Clock())
    got = await asyncio.gather(*(directory.get(shop, True) for _ in range(20)))
    assert len(reads) == 1 and len(built) == 1 and all(p is built[0] for p in got)
    await directory.aclose()


async def test_a_row_that_cannot_be_built_is_unavailable_with_a_reason(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    shop = await _merchant(db)
    async with db.transaction() as conn:  # as if a package had been removed since
        await store.set_config(conn, shop, True, "gone", {"secret_key": KEY}, NOW)
    directory = StoreDirectory(db, clock=Clock())
    with pytest.raises(ProcessorUnavailable) as caught:
        await directory.get(shop, True)
    assert "(gone) cannot be used" in caught.value.message
    assert "no processor named 'gone'" in caplog.text and KEY not in caplog.text
    await directory.aclose()


async def test_simulated_in_live_mode_needs_the_explicit_flag(db: Database) -> None:
    shop = await _merchant(db)
    with pytest.raises(Refused, match="allow-simulated-live"):
        await _set(db, shop, True, "simulated", now=NOW)
    with pytest.raises(Refused, match="test mode always has a processor"):
        await _set(db, shop, False, "none", now=NOW)
    await _set(db, shop, True, "simulated", now=NOW, allow_simulated_live=True)
    directory = StoreDirectory(db, clock=Clock())
    assert await directory.get(shop, True) is directory.simulated
    await directory.aclose()


async def test_show_never_prints_a_secret_in_full(db: Database) -> None:
    shop = await _merchant(db)
    async with db.transaction(write=False) as conn:
        assert await show(conn, shop) == {
            "merchant": shop,
            "test": {"name": "simulated"},
            "live": None,
        }
    await _set(db, shop, True, "komoju", config=KOMOJU, now=NOW)
    await _set(db, shop, False, "komoju", config={**KOMOJU, "webhook_secret": None}, now=NOW)
    async with db.transaction(write=False) as conn:
        shown = await show(conn, shop)
        row = await store.get_config(conn, shop, True)
    live = {"name": "komoju", "api_url": "http://127.0.0.1:9", "secret_key": "sk_live_…ab12"}
    assert shown == {
        "merchant": shop,
        "test": {**live, "webhook_secret": None, "timeout": 10.0},
        "live": {**live, "webhook_secret": "set", "timeout": 10.0},
    }
    assert row is not None and row.config["secret_key"] == KEY  # usable: stored as given
    # Back to the default: the test row is gone.
    await _set(db, shop, False, "simulated", now=NOW)
    async with db.transaction(write=False) as conn:
        assert (await show(conn, shop))["test"] == {"name": "simulated"}
    assert processor_config.DEFAULT_TTL == 2.0
