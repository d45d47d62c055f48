"""Chargebacks in-process, on the test run's real store, with a clock the test moves: what
falls due is done once however many runners race for it, each move books its ledger line
with it, and a refund in flight puts the opening off."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kessai.errors import NotDisputable
from kessai.processors.directory import FixedDirectory
from kessai.processors.simulated import SimulatedProcessor
from kessai.schemas.chargebacks import DefendChargeback, OpenChargeback
from kessai.schemas.requests import CreatePayment, RefundPayment
from kessai.services import chargebacks, execute, payments, phases
from kessai.services.due import Scope
from kessai.services.runtime import Caller, Runtime
from kessai.settings import Settings
from kessai.store import ledger, merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade
from kessai.store.tables import balance_transactions, events
from kessai.store.tables import chargebacks as table
from kessai.store.tables import payments as payment_table
from tests.conftest import CARD, fresh_database

WON, LOST = "4123111111111208", "4123111111111216"
PDF = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def shop(tmp_path):
    # A store of its own: the clock moves days ahead and everything due is run.
    with fresh_database(tmp_path) as database_url:
        await upgrade(database_url)
        db = Database.from_url(database_url, pool_size=4)
        clock = Clock()
        processors = FixedDirectory(SimulatedProcessor())
        rt = Runtime(Settings(database_url=database_url), db, b"k" * 32, processors, clock=clock)
        merchant_id, _ = await execute.write(
            rt, lambda conn: merchants.insert_merchant(conn, "Dispute Shop", clock())
        )
        try:
            yield rt, clock, Caller(merchant_id, "Dispute Shop", False, "secret")
        finally:
            await db.dispose()


async def pay(rt: Runtime, caller: Caller, number: str, amount: int = 1000) -> dict[str, Any]:
    details = {**CARD, "number": number}
    params = CreatePayment(amount=amount, currency="JPY", payment_details=details)
    view = await phases.perform(rt, payments.create(rt, caller, params, None))
    assert view.row["status"] == "captured"
    return dict(view.row)


async def rows(rt: Runtime, table_: sa.Table, *where: Any) -> list[dict[str, Any]]:
    async def read(conn: Any) -> list[dict[str, Any]]:
        found = await conn.execute(sa.select(table_).where(*where))
        return [dict(r) for r in found.mappings()]

    return await execute.read(rt, read)


async def run(rt: Runtime, runners: int = 1) -> int:
    return sum(await asyncio.gather(*(chargebacks.run_due(rt, Scope()) for _ in range(runners))))


def defense() -> DefendChargeback:
    return DefendChargeback.model_validate(
        {"description": "Delivered.", "document": {"document_base64": PDF}}
    )


async def test_racing_runners_do_each_move_once(shop) -> None:
    rt, clock, caller = shop
    paid = [await pay(rt, caller, WON if i % 2 else LOST, 1000 + i) for i in range(8)]
    assert len(await rows(rt, table, table.c.status == "scheduled")) == 8
    assert await run(rt, 4) == 0  # nothing is due before a day has passed
    clock.now += timedelta(days=1)
    assert await run(rt, 4) == 8
    assert await run(rt, 4) == 0
    opened = await rows(rt, table)
    assert {r["status"] for r in opened} == {"pending"}
    totals = {p["id"]: p["amount_captured"] + p["tax"] + p["payment_method_fee"] for p in paid}
    assert {r["payment_id"]: r["amount"] for r in opened} == totals
    disputed = await rows(rt, payment_table)
    assert {p["id"]: p["amount_disputed"] for p in disputed} == totals

    for row in opened:
        await execute.write(
            rt, lambda conn, row=row: chargebacks.defend(conn, rt, caller, row["id"], defense())
        )
    clock.now += timedelta(days=5)
    assert await run(rt, 4) == 8
    decided = {r["payment_id"]: r["status"] for r in await rows(rt, table)}
    assert sorted(decided.values()) == ["cancelled"] * 4 + ["lost"] * 4
    lines = await rows(rt, balance_transactions)
    by_type: dict[str, list[int]] = {}
    for line in lines:
        by_type.setdefault(line["type"], []).append(line["amount"])
    assert sorted(by_type["chargeback"]) == sorted(-t for t in totals.values())
    won = [p for p, status in decided.items() if status == "cancelled"]
    assert sorted(by_type["chargeback_reversal"]) == sorted(totals[p] for p in won)
    for payment in await rows(rt, payment_table):  # refundable again only if won
        assert payment["amount_disputed"] == (0 if payment["id"] in won else totals[payment["id"]])
    found = await rows(rt, events, events.c.type.like("chargeback.%"))
    counts: dict[str, int] = {}
    for event in found:
        counts[event["type"]] = counts.get(event["type"], 0) + 1
    assert counts == {
        "chargeback.created": 8,
        "chargeback.defended": 8,
        "chargeback.cancelled": 4,
        "chargeback.lost": 4,
    }

    async def balance(conn: Any) -> int:
        return await ledger.balance(conn, caller.merchant_id, False, "JPY")

    assert await execute.read(rt, balance) == sum(line["amount"] for line in lines)


async def test_a_refund_in_flight_puts_the_opening_off_an_hour(shop) -> None:
    rt, clock, caller = shop
    paid = await pay(rt, caller, WON)

    async def set_payment(**values: Any) -> None:
        await execute.write(
            rt,
            lambda conn: conn.execute(
                payment_table.update().where(payment_table.c.id == paid["id"]).values(**values)
            ),
        )

    await set_payment(refund_reserved=300)  # a refund the processor has not answered yet
    clock.now += timedelta(days=1)
    assert await run(rt) == 0
    [waiting] = await rows(rt, table)
    assert waiting["status"] == "scheduled"
    assert waiting["due_at"] == clock.now + timedelta(hours=1)
    next_due = await execute.read(
        rt, lambda conn: chargebacks.next_due(conn, caller.merchant_id, clock.now)
    )
    assert next_due == waiting["due_at"]
    assert await rows(rt, balance_transactions, balance_transactions.c.type == "chargeback") == []

    await set_payment(refund_reserved=0, amount_refunded=300)  # the refund went through
    clock.now += timedelta(hours=1)
    assert await run(rt) == 1
    [opened] = await rows(rt, table)
    assert (opened["status"], opened["amount"]) == ("pending", 700)
    [payment] = await rows(rt, payment_table)
    assert payment["amount_disputed"] == 700
    with pytest.raises(Exception, match="disputed"):  # no refund on top of the chargeback
        await phases.perform(
            rt, payments.refund(rt, caller, paid["id"], RefundPayment(amount=100), None)
        )


async def test_nothing_left_to_dispute_drops_the_plan(shop) -> None:
    rt, clock, caller = shop
    paid = await pay(rt, caller, LOST)
    await phases.perform(rt, payments.refund(rt, caller, paid["id"], RefundPayment(), None))
    clock.now += timedelta(days=2)
    assert await run(rt) == 0
    assert await rows(rt, table) == []
    assert (
        await execute.read(
            rt, lambda conn: chargebacks.next_due(conn, caller.merchant_id, clock.now)
        )
        is None
    )


async def test_planning_only_for_card_payments(shop) -> None:
    rt, clock, caller = shop
    paid = await pay(rt, caller, "4111111111111111")
    assert paid["dispute"] is None and await rows(rt, table) == []
    konbini = {**paid, "payment_type": "konbini", "dispute": "won"}
    await execute.write(rt, lambda conn: chargebacks.plan(conn, konbini, clock.now))
    assert await rows(rt, table) == []


async def test_next_due_follows_each_chargeback(shop) -> None:
    rt, clock, caller = shop
    start = clock.now
    await pay(rt, caller, WON)

    async def next_after(when: datetime) -> datetime | None:
        return await execute.read(
            rt, lambda conn: chargebacks.next_due(conn, caller.merchant_id, when)
        )

    assert await next_after(start) == start + timedelta(days=1)
    clock.now = start + timedelta(days=1)
    assert await run(rt) == 1
    [row] = await rows(rt, table)
    assert await next_after(clock.now) == row["due_date"] == clock.now + timedelta(days=7)
    clock.now += timedelta(hours=2)
    await execute.write(rt, lambda conn: chargebacks.defend(conn, rt, caller, row["id"], defense()))
    assert await next_after(clock.now) == clock.now + timedelta(days=5)
    clock.now += timedelta(days=5)
    assert await run(rt) == 1
    assert await next_after(clock.now) is None


async def test_the_tool_racing_the_clock_opens_each_planned_chargeback_once(shop) -> None:
    rt, clock, caller = shop
    paid = [await pay(rt, caller, WON) for _ in range(6)]
    clock.now += timedelta(days=1)

    async def tool(payment_id: str) -> Any:
        params = OpenChargeback(payment_id=payment_id, outcome="lost")
        return await execute.write(rt, lambda conn: chargebacks.open_now(conn, rt, caller, params))

    results = await asyncio.gather(
        run(rt, 2), *(tool(p["id"]) for p in paid), return_exceptions=True
    )
    for result in results[1:]:  # opened by the tool, or by the clock first
        assert not isinstance(result, BaseException) or isinstance(result, NotDisputable), result
    assert not isinstance(results[0], BaseException), results[0]
    opened = await rows(rt, table)
    assert sorted(r["payment_id"] for r in opened) == sorted(p["id"] for p in paid)
    assert {r["status"] for r in opened} == {"pending"}
    lines = await rows(rt, balance_transactions, balance_transactions.c.type == "chargeback")
    assert sorted(line["source_id"] for line in lines) == sorted(r["id"] for r in opened)
