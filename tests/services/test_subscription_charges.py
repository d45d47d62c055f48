"""Subscription charges whose processor call goes wrong or takes its time, in-process with
a scripted processor: an outcome lost or pending never holds up a clock's step and is never
charged twice, DELETE does not wait for a charge at the processor, and one slow charge
does not hold up the others."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from kessai.processors.base import NeedsAction
from kessai.processors.directory import FixedDirectory
from kessai.processors.scripted import Answer, LoseAnswer, ScriptedProcessor, Unknown, Wait
from kessai.services import execute, phases, subscription_charges, subscriptions
from kessai.services.due import Scope
from kessai.services.runtime import Caller, Runtime
from kessai.settings import Settings
from kessai.store import merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade
from kessai.store.tables import idempotency_keys, payments
from kessai.store.tables import subscriptions as table
from kessai.worker.reconcile import reconcile_once
from tests.conftest import fresh_database
from tests.services.shop import Clock
from tests.services.test_subscriptions import START, charges, customer, kinds, show, subscribe

FEB28 = datetime(2030, 2, 28, 9, 30, tzinfo=UTC)  # the second charge of a monthly one


@pytest.fixture
async def scripted(tmp_path):
    with fresh_database(tmp_path) as url:
        await upgrade(url)
        clock = Clock(START)
        processor = ScriptedProcessor()
        db = Database.from_url(url, pool_size=2)
        rt = Runtime(
            Settings(database_url=url), db, b"k" * 32, FixedDirectory(processor), clock=clock
        )
        merchant_id, _ = await execute.write(
            rt, lambda conn: merchants.insert_merchant(conn, "Sub Shop", clock())
        )
        try:
            yield rt, clock, Caller(merchant_id, "Sub Shop", False, "secret"), processor
        finally:
            await db.dispose()


def step(rt, caller) -> asyncio.Future[int]:
    """A test clock's step at the clock's time, given 5 s (it used to wait 30 s)."""
    run = subscription_charges.run_due(rt, Scope(merchant_id=caller.merchant_id))
    return asyncio.ensure_future(asyncio.wait_for(run, 5))


def authorizations(processor: ScriptedProcessor) -> int:
    return sum(1 for kind, _ in processor.calls if kind == "authorize")


async def row_of(rt, sid: str):
    query = table.select().where(table.c.id == sid)
    return (await execute.read(rt, lambda conn: conn.execute(query))).mappings().one()


async def until(condition, seconds: float = 5.0) -> None:
    give_up = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < give_up, "timed out"
        await asyncio.sleep(0.01)


async def test_an_unknown_outcome_holds_up_no_step_and_is_settled_once_known(scripted) -> None:
    rt, clock, caller, processor = scripted
    sid = (await subscribe(rt, caller, await customer(rt, caller))).row["id"]
    processor.script("authorize", Unknown())
    clock.now = FEB28
    assert await step(rt, caller) == 0  # the outcome is not known: let go
    assert (await row_of(rt, sid))["lease_until"] is None
    assert await step(rt, caller) == 0  # the next step neither waits nor asks the processor
    assert authorizations(processor) == 2
    assert "reconcile" not in [kind for kind, _ in processor.calls]
    clock.now += timedelta(minutes=1)
    assert await reconcile_once(rt) == 1  # the acquirer never saw it: declined
    assert await step(rt, caller) == 1  # settled from that payment, not charged again
    found = await show(rt, caller, sid)
    assert (found.row["status"], found.row["cycle"], found.row["retry_count"]) == ("retrying", 1, 1)
    assert authorizations(processor) == 2
    assert [s for s, _ in await charges(rt, sid)] == ["captured", "failed"]


async def test_a_charge_is_made_once_even_once_its_key_is_forgotten(scripted) -> None:
    rt, clock, caller, processor = scripted
    sid = (await subscribe(rt, caller, await customer(rt, caller))).row["id"]
    processor.script("authorize", LoseAnswer())  # charged at the acquirer, answer lost
    clock.now = FEB28
    assert await step(rt, caller) == 0
    clock.now += timedelta(minutes=1)
    assert await reconcile_once(rt) == 1  # the payment is captured; the subscription waits
    await execute.write(rt, lambda conn: conn.execute(idempotency_keys.delete()))  # 24 h on
    assert await step(rt, caller) == 1
    found = await show(rt, caller, sid)
    assert (found.row["status"], found.row["cycle"]) == ("active", 2)
    assert processor.charges() == 2  # the first charge and this one: never a third
    assert [s for s, _ in await charges(rt, sid)] == ["captured", "captured"]
    assert (await kinds(rt, sid)).count("subscription.captured") == 2
    assert await step(rt, caller) == 0


async def test_a_pending_payment_is_waited_for_not_failed(scripted) -> None:
    rt, clock, caller, processor = scripted
    sid = (await subscribe(rt, caller, await customer(rt, caller))).row["id"]
    processor.script("authorize", Answer(NeedsAction("AUTHENTICATING")))
    clock.now = FEB28
    assert await step(rt, caller) == 0
    found = await show(rt, caller, sid)
    assert (found.row["status"], found.row["cycle"], found.row["retry_count"]) == ("active", 1, 0)
    assert found.row["lease_until"] is None
    assert [s for s, _ in await charges(rt, sid)] == ["captured", "pending"]
    clock.now += timedelta(days=2)
    assert await step(rt, caller) == 0  # still pending: no second payment
    assert authorizations(processor) == 2
    assert "subscription.failed" not in await kinds(rt, sid)

    async def captured(conn) -> None:  # the customer completed it (the acquirer's notice)
        await conn.execute(
            payments.update()
            .where(payments.c.subscription_id == sid, payments.c.status == "pending")
            .values(status="captured", amount_captured=980, captured_at=clock.now)
        )

    await execute.write(rt, captured)
    assert await step(rt, caller) == 1
    found = await show(rt, caller, sid)
    assert (found.row["status"], found.row["cycle"]) == ("active", 2)
    assert authorizations(processor) == 2


async def test_a_pending_first_charge_is_settled_once_final(scripted) -> None:
    rt, clock, caller, processor = scripted
    processor.script("authorize", Answer(NeedsAction("AUTHENTICATING")))
    made = await subscribe(rt, caller, await customer(rt, caller))
    sid = made.row["id"]
    assert made.row["status"] == "pending" and made.row["lease_until"] is None
    assert await step(rt, caller) == 0  # nobody holds it: no wait, and nothing to settle
    await execute.write(
        rt,
        lambda conn: conn.execute(
            payments.update()
            .where(payments.c.subscription_id == sid)
            .values(status="captured", amount_captured=980, captured_at=clock.now)
        ),
    )
    clock.now += timedelta(minutes=2)
    assert await step(rt, caller) == 1
    found = await show(rt, caller, sid)
    assert (found.row["status"], found.row["cycle"]) == ("active", 1)
    assert await kinds(rt, sid) == ["subscription.created", "subscription.captured"]
    assert authorizations(processor) == 1


async def test_delete_does_not_wait_for_a_charge_at_the_processor(scripted) -> None:
    rt, clock, caller, processor = scripted
    processor.timeout = 100.0  # a slow processor: the lease outlasts its call
    sid = (await subscribe(rt, caller, await customer(rt, caller))).row["id"]
    gate = asyncio.Event()
    processor.script("authorize", Wait(gate))
    clock.now = FEB28
    charging = asyncio.ensure_future(
        subscription_charges.run_due(rt, Scope(merchant_id=caller.merchant_id))
    )

    async def at_processor() -> bool:
        return authorizations(processor) == 2

    await until(at_processor)
    held = (await row_of(rt, sid))["lease_until"]
    assert held >= clock.now + phases.lease_for(processor)
    ended = await asyncio.wait_for(phases.perform(rt, subscriptions.delete(rt, caller, sid)), 5)
    assert ended.row["status"] == "deleted"
    gate.set()
    assert await charging == 1  # the payment is made; the subscription stays deleted
    found = await show(rt, caller, sid)
    assert found.row["status"] == "deleted" and len(found.payments) == 2
    assert [s for s, _ in await charges(rt, sid)] == ["captured", "captured"]
    assert (await kinds(rt, sid)).count("subscription.captured") == 1
    assert (await kinds(rt, sid))[-1] == "subscription.deleted"


async def test_a_slow_charge_does_not_hold_up_the_others(scripted) -> None:
    rt, clock, caller, processor = scripted
    made = [(await subscribe(rt, caller, await customer(rt, caller))).row["id"] for _ in range(3)]
    gate = asyncio.Event()
    processor.script("authorize", Wait(gate))
    clock.now = FEB28
    charging = asyncio.ensure_future(
        subscription_charges.run_due(rt, Scope(merchant_id=caller.merchant_id))
    )

    async def others_done() -> bool:
        cycles = [(await show(rt, caller, sid)).row["cycle"] for sid in made]
        return sorted(cycles) == [1, 2, 2]

    try:
        await until(others_done)
    finally:
        gate.set()
    assert await charging == 3
    assert [(await show(rt, caller, sid)).row["cycle"] for sid in made] == [2, 2, 2]
