"""Subscription charges in-process, on a store of their own, with a clock the test moves:
the schedule, retries and suspension, deletion, replays, and several runners at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kessai.schemas.requests import CreateSubscription, CreateToken, CustomerParams
from kessai.services import customers, execute, phases, subscription_charges, subscriptions
from kessai.services import tokens as token_service
from kessai.services.due import Scope
from kessai.store.tables import events, payments
from kessai.store.tables import subscriptions as table
from tests.services.shop import in_process_shop

GOOD = {"type": "credit_card", "number": "4111111111111111", "month": 12, "year": 2099}
DECLINING = {**GOOD, "number": "4123111111111059"}
START = datetime(2030, 1, 31, 9, 30, tzinfo=UTC)


@pytest.fixture
async def shop(tmp_path):
    async with in_process_shop(tmp_path, "Sub Shop", START, pool_size=2) as found:
        yield found


async def customer(rt, caller, card=GOOD, scenario=None) -> str:
    params = CustomerParams(email="a@example.com", payment_details=card)
    row = await phases.perform(rt, customers.create(rt, caller, params, scenario))
    return str(row["id"])


async def make_card_decline(rt, caller, customer_id: str) -> None:
    """Saving a declining card is refused (402), but a token of one is not checked: the
    customer's saved card then declines every charge."""
    token = await phases.perform(
        rt, token_service.create(rt, caller, CreateToken(payment_details=DECLINING))
    )
    await phases.perform(
        rt, customers.update(rt, caller, customer_id, CustomerParams(payment_details=token["id"]))
    )


async def subscribe(rt, caller, customer_id: str, period: str = "monthly"):
    params = CreateSubscription(customer=customer_id, amount=980, currency="JPY", period=period)
    return await phases.perform(rt, subscriptions.create(rt, caller, params))


async def show(rt, caller, subscription_id: str):
    return await execute.read(rt, lambda conn: subscriptions.get(conn, caller, subscription_id))


async def advance(rt, clock, caller, to: datetime) -> int:
    """What a test clock's step does: move the time, run what is due."""
    clock.now = to
    return await subscription_charges.run_due(rt, Scope(merchant_id=caller.merchant_id))


async def kinds(rt, subscription_id: str) -> list[str]:
    async def read(conn):
        query = sa.select(events.c.type, events.c.data).order_by(events.c.created_at)
        found = (await conn.execute(query)).all()
        return [t for t, data in found if data.get("id") == subscription_id]

    return await execute.read(rt, read)


async def charges(rt, subscription_id: str) -> list:
    async def read(conn):
        query = (
            sa.select(payments.c.status, payments.c.created_at)
            .where(payments.c.subscription_id == subscription_id)
            .order_by(payments.c.created_at)
        )
        return (await conn.execute(query)).all()

    return await execute.read(rt, read)


async def test_monthly_charges_follow_the_calendar(shop) -> None:
    rt, clock, caller, _ = shop
    made = await subscribe(rt, caller, await customer(rt, caller))
    sid = made.row["id"]
    assert made.row["status"] == "active" and made.row["cycle"] == 1
    assert made.row["day"] == 31 and made.row["next_capture_at"] == datetime(
        2030, 2, 28, 9, 30, tzinfo=UTC
    )
    assert len(made.payments) == 1
    assert await kinds(rt, sid) == ["subscription.created", "subscription.captured"]

    assert await advance(rt, clock, caller, START + timedelta(days=27)) == 0  # not yet
    step = START
    for expected in ("2030-02-28", "2030-03-31", "2030-04-30"):
        step = (await show(rt, caller, sid)).row["next_capture_at"]
        assert step.date().isoformat() == expected
        assert await advance(rt, clock, caller, step) == 1
        assert await advance(rt, clock, caller, step) == 0  # never twice
    found = await show(rt, caller, sid)
    assert found.row["next_capture_at"].date().isoformat() == "2030-05-31"
    assert len(found.payments) == 4
    assert [s for s, _ in await charges(rt, sid)] == ["captured"] * 4
    assert (await kinds(rt, sid)).count("subscription.captured") == 4


async def test_declines_are_retried_then_the_subscription_is_suspended(shop) -> None:
    rt, clock, caller, _ = shop
    customer_id = await customer(rt, caller)
    sid = (await subscribe(rt, caller, customer_id, "weekly")).row["id"]
    await make_card_decline(rt, caller, customer_id)

    due = START + timedelta(days=7)
    assert await advance(rt, clock, caller, due) == 1
    found = await show(rt, caller, sid)
    assert (found.row["status"], found.row["retry_count"]) == ("retrying", 1)
    assert found.row["retry_at"] == due + timedelta(days=1)
    assert found.row["next_capture_at"] == due  # still owed
    for count, wait in ((2, 3), (3, 5)):
        assert await advance(rt, clock, caller, found.row["retry_at"]) == 1
        found = await show(rt, caller, sid)
        assert found.row["retry_count"] == count
        assert found.row["retry_at"] == clock.now + timedelta(days=wait)
    assert await advance(rt, clock, caller, found.row["retry_at"]) == 1
    found = await show(rt, caller, sid)
    assert (found.row["status"], found.row["retry_at"], found.row["due_at"]) == (
        "suspended",
        None,
        None,
    )
    assert await advance(rt, clock, caller, clock.now + timedelta(days=60)) == 0
    assert [s for s, _ in await charges(rt, sid)] == ["captured"] + ["failed"] * 4
    assert (await kinds(rt, sid))[2:] == ["subscription.failed"] * 3 + ["subscription.suspended"]


async def test_a_success_after_a_retry_moves_the_schedule_on(shop) -> None:
    rt, clock, caller, _ = shop
    customer_id = await customer(rt, caller)
    sid = (await subscribe(rt, caller, customer_id)).row["id"]
    await make_card_decline(rt, caller, customer_id)
    feb28 = datetime(2030, 2, 28, 9, 30, tzinfo=UTC)
    await advance(rt, clock, caller, feb28)
    await phases.perform(
        rt, customers.update(rt, caller, customer_id, CustomerParams(payment_details=GOOD))
    )
    assert await advance(rt, clock, caller, feb28 + timedelta(days=1)) == 1
    found = await show(rt, caller, sid)
    assert (found.row["status"], found.row["retry_count"], found.row["retry_at"]) == (
        "active",
        0,
        None,
    )
    assert found.row["next_capture_at"] == datetime(2030, 3, 31, 9, 30, tzinfo=UTC)
    assert [s for s, _ in await charges(rt, sid)] == ["captured", "failed", "captured"]


async def test_a_declined_first_charge_still_subscribes_and_retries(shop) -> None:
    rt, clock, caller, _ = shop
    customer_id = await customer(rt, caller, scenario="insufficient_funds")
    made = await subscribe(rt, caller, customer_id)
    assert (made.row["status"], made.row["retry_count"], made.row["cycle"]) == ("retrying", 1, 0)
    assert made.row["retry_at"] == START + timedelta(days=1)
    assert await kinds(rt, made.row["id"]) == ["subscription.created", "subscription.failed"]


async def test_a_deleted_subscription_is_never_charged_again(shop) -> None:
    rt, clock, caller, _ = shop
    sid = (await subscribe(rt, caller, await customer(rt, caller))).row["id"]
    clock.now += timedelta(days=3)
    ended = await phases.perform(rt, subscriptions.delete(rt, caller, sid))
    assert (ended.row["status"], ended.row["ended_at"]) == ("deleted", clock.now)
    again = await phases.perform(rt, subscriptions.delete(rt, caller, sid))
    assert again.row["ended_at"] == ended.row["ended_at"]
    assert await advance(rt, clock, caller, START + timedelta(days=400)) == 0
    assert len(await charges(rt, sid)) == 1
    assert (await kinds(rt, sid)).count("subscription.deleted") == 1


async def test_a_charge_run_again_replays_instead_of_charging(shop) -> None:
    """A runner that read the subscription before another recorded the charge (or crashed
    after the call) runs the same charge again: its key replays, nothing is charged."""
    rt, clock, caller, _ = shop
    sid = (await subscribe(rt, caller, await customer(rt, caller))).row["id"]
    clock.now = datetime(2030, 2, 28, 9, 30, tzinfo=UTC)
    stale = (await show(rt, caller, sid)).row
    assert await subscription_charges.run_due(rt, Scope(merchant_id=caller.merchant_id)) == 1
    await execute.write(  # let the stale runner past the claim
        rt, lambda conn: conn.execute(table.update().values(cycle=1, due_at=clock.now))
    )
    assert await subscription_charges._charge(rt, stale, (1, 0)) == "done"
    assert len(await charges(rt, sid)) == 2


async def test_runners_at_once_charge_each_subscription_once(shop) -> None:
    rt, clock, caller, runtime = shop
    made = [(await subscribe(rt, caller, await customer(rt, caller))).row["id"] for _ in range(6)]
    runners = [runtime() for _ in range(5)]
    for step in range(1, 4):
        clock.now = START + timedelta(days=31 * step)
        scope = Scope(merchant_id=caller.merchant_id) if step % 2 else Scope()
        done = await asyncio.gather(*(subscription_charges.run_due(r, scope) for r in runners))
        assert sum(done) == len(made)
    for sid in made:
        assert [s for s, _ in await charges(rt, sid)] == ["captured"] * 4
        assert (await kinds(rt, sid)).count("subscription.captured") == 4
