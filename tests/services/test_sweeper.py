"""Deadlines take effect with nobody calling the API: the sweeper, in-process, on the
test run's real store, with a clock the test moves forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kessai.processors.directory import FixedDirectory
from kessai.processors.simulated import SimulatedProcessor
from kessai.schemas.requests import CreatePayment
from kessai.services import clocks, execute, payments, phases, sweeper
from kessai.services.runtime import Caller, Runtime
from kessai.settings import Settings
from kessai.store import clocks as clock_store
from kessai.store import idempotency, merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade
from kessai.store.tables import events
from tests.conftest import fresh_database


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def runtime(tmp_path):
    # A store of its own: these tests move the clock days ahead and sweep everything due.
    with fresh_database(tmp_path) as database_url:
        async for item in _runtime(database_url):
            yield item


async def _runtime(database_url: str):
    await upgrade(database_url)
    db = Database.from_url(database_url, pool_size=2)
    clock = Clock()
    processors = FixedDirectory(SimulatedProcessor())
    rt = Runtime(Settings(database_url=database_url), db, b"k" * 32, processors, clock=clock)
    try:
        yield rt, clock
    finally:
        await db.dispose()


async def test_overdue_konbini_payment_expires_with_its_event(runtime) -> None:
    rt, clock = runtime
    merchant_id, _ = await execute.write(
        rt, lambda conn: merchants.insert_merchant(conn, "Sweep Shop", clock())
    )
    caller = Caller(merchant_id, "Sweep Shop", False, "secret")
    details = {"type": "konbini", "store": "lawson", "email": "a@example.com"}
    made = []
    for days in (1, 5):
        params = CreatePayment(
            amount=1000, currency="JPY", payment_details={**details, "expiry_days": days}
        )
        view = await phases.perform(rt, payments.create(rt, caller, params, None))
        assert view.row["status"] == "authorized"
        made.append(view.row["id"])

    key_id = await execute.write(
        rt,
        lambda conn: idempotency.claim(
            conn,
            merchant_id=merchant_id,
            livemode=False,
            key="old-key",
            fingerprint="f" * 64,
            now=clock(),
            status_code=200,
            body=b"{}",
        ),
    )
    assert key_id is not None
    assert await sweeper.sweep(rt) == 0  # nothing is due yet
    assert await execute.read(rt, lambda conn: _key(conn, merchant_id)) is not None
    clock.now += timedelta(days=2)
    assert await sweeper.sweep(rt) == 1
    assert await sweeper.sweep(rt) == 0  # and it never expires twice
    # An idempotency key past its 24 hours is gone: a new request with it runs anew.
    assert await execute.read(rt, lambda conn: _key(conn, merchant_id)) is None

    short, long = [
        await execute.read(rt, lambda conn, i=i: payments.get(conn, caller, i)) for i in made
    ]
    assert short.row["status"] == "expired"
    assert long.row["status"] == "authorized"
    rows = await execute.read(rt, lambda conn: _events(conn, merchant_id))
    assert [(e["type"], e["data"]["id"]) for e in rows].count(("payment.expired", made[0])) == 1
    assert all(e["data"]["id"] != made[1] for e in rows if e["type"] == "payment.expired")


async def _events(conn, merchant_id: str):
    result = await conn.execute(sa.select(events).where(events.c.merchant_id == merchant_id))
    return result.mappings().all()


async def test_uncaptured_authorizations_and_abandoned_challenges_expire(runtime) -> None:
    rt, clock = runtime
    merchant_id, _ = await execute.write(
        rt, lambda conn: merchants.insert_merchant(conn, "Sweep Shop 2", clock())
    )
    caller = Caller(merchant_id, "Sweep Shop 2", False, "secret")

    def card(number: str) -> dict:
        return {"type": "credit_card", "number": number, "month": 12, "year": 2099}

    async def pay(number: str, capture: bool) -> str:
        params = CreatePayment(
            amount=500, currency="JPY", capture=capture, payment_details=card(number)
        )
        view = await phases.perform(rt, payments.create(rt, caller, params, None))
        return str(view.row["id"])

    authorized = await pay("4111111111111111", capture=False)
    captured = await pay("4111111111111111", capture=True)
    challenge = await pay("4100000000005000", capture=True)  # waits for 3-D Secure

    clock.now += timedelta(days=2)
    assert await sweeper.sweep(rt) == 1  # the abandoned challenge only
    clock.now += timedelta(days=6)
    assert await sweeper.sweep(rt) == 1  # now the 8-day-old authorization

    async def status(payment_id: str) -> str:
        view = await execute.read(rt, lambda conn: payments.get(conn, caller, payment_id))
        return str(view.row["status"])

    assert await status(challenge) == "expired"
    assert await status(authorized) == "expired"
    assert await status(captured) == "captured"  # captured money never expires


async def _key(conn, merchant_id: str):
    return await idempotency.existing(conn, merchant_id=merchant_id, livemode=False, key="old-key")


async def test_the_worker_measures_each_merchant_on_its_own_clock(runtime) -> None:
    """`clocks.run_all`, the worker's round: a merchant whose test clock was moved has its
    deadlines applied on that clock; everyone else's on the real time."""
    rt, clock = runtime
    details = {"type": "konbini", "store": "lawson", "email": "a@example.com", "expiry_days": 2}
    made = {}
    for name in ("Moved", "Still"):
        merchant_id, _ = await execute.write(
            rt, lambda conn, name=name: merchants.insert_merchant(conn, name, clock())
        )
        caller = Caller(merchant_id, name, False, "secret")
        params = CreatePayment(amount=700, currency="JPY", payment_details=details)
        view = await phases.perform(rt, payments.create(rt, caller, params, None))
        made[name] = (merchant_id, view.row["id"])
    moved_id = made["Moved"][0]
    ahead = clock() + timedelta(days=3)
    await execute.write(rt, lambda conn: clock_store.move(conn, moved_id, 3 * 86_400_000, ahead))
    assert await clocks.run_all(rt) == 1
    assert await clocks.run_all(rt) == 0
    statuses = {}
    for name, (merchant_id, payment_id) in made.items():
        caller = Caller(merchant_id, name, False, "secret")
        view = await execute.read(rt, lambda conn, c=caller, p=payment_id: payments.get(conn, c, p))
        statuses[name] = view.row["status"]
    assert statuses == {"Moved": "expired", "Still": "authorized"}
    rows = await execute.read(rt, lambda conn: _events(conn, moved_id))
    expired = [e for e in rows if e["type"] == "payment.expired"]
    assert len(expired) == 1 and expired[0]["created_at"] >= ahead - timedelta(seconds=5)


async def test_a_worker_pass_that_read_before_a_move_never_puts_the_clock_back(
    runtime, monkeypatch
) -> None:
    """The worker's pass reads every moved clock, then remembers what it read. When a move
    made in this process commits between that read and the remembering, the process must
    keep the moved time: requests right after `POST /clock` run on the time it set."""
    rt, clock = runtime
    merchant_id, _ = await execute.write(
        rt, lambda conn: merchants.insert_merchant(conn, "Racing Shop", clock())
    )
    await execute.write(rt, lambda conn: clock_store.move(conn, merchant_id, 3_600_000, clock()))
    read_before_the_move = await execute.read(rt, clock_store.moved)
    caller = Caller(merchant_id, "Racing Shop", False, "secret")
    target = clock() + timedelta(days=3)
    await clocks.advance(rt, caller, target)

    async def stale(conn):  # what the pass's read saw: the clock before the move committed
        return read_before_the_move

    monkeypatch.setattr(clocks.store, "moved", stale)
    await clocks.run_all(rt)
    assert clock() + await clocks.offset(rt, merchant_id) >= target
