"""Settlements in-process, on a store of their own, with a clock the test moves: each cycle
settles exactly the transactions before its cut-off that no earlier one took, a schedule
far behind is settled one cut-off at a time, several runners at once settle each
transaction once, and live mode runs on the real time."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kessai.core import ledger as rules
from kessai.core.times import iso
from kessai.ids import new_id
from kessai.schemas import settlements as wire
from kessai.services import execute, ledger_settings, settlements
from kessai.services.due import Scope
from kessai.services.runtime import Runtime
from kessai.store import ledger
from kessai.store.tables import balance_transactions as bt
from kessai.store.tables import events
from kessai.store.tables import settlements as table
from tests.conftest import assert_schema
from tests.services.shop import in_process_shop

START = datetime(2030, 1, 2, 3, 0, tzinfo=UTC)  # a Wednesday, 12:00 in Japan
FIRST = datetime(2030, 1, 6, 15, 0, tzinfo=UTC)  # Monday 2030-01-07 00:00 in Japan


@pytest.fixture
async def shop(tmp_path):
    async with in_process_shop(tmp_path, "Ledger Shop", START, pool_size=2) as (
        rt,
        clock,
        caller,
        runtime,
    ):
        yield rt, clock, caller.merchant_id, runtime


async def book(
    rt: Runtime,
    merchant_id: str,
    when: datetime,
    amount: int = 1000,
    *,
    currency: str = "JPY",
    livemode: bool = False,
    fee: int = 0,
) -> list[str]:
    """A captured payment (and its fee) at `when`; the ids of its transactions."""
    source = new_id()
    lines = [ledger.Line("payment", amount, source, source)]
    if fee:
        lines.append(ledger.Line("fee", fee, source, source))
    rows = await execute.write(
        rt,
        lambda conn: ledger.post(
            conn,
            merchant_id=merchant_id,
            livemode=livemode,
            currency=currency,
            lines=lines,
            happened_at=when,
        ),
    )
    return [row["id"] for row in rows]


async def select(rt: Runtime, query):  # type: ignore[no-untyped-def]
    return (await execute.read(rt, lambda conn: conn.execute(query))).mappings().all()


async def made(rt: Runtime) -> list:  # type: ignore[type-arg]
    return list(await select(rt, table.select().order_by(table.c.cutoff_time, table.c.currency)))


async def members(rt: Runtime) -> dict[str, str | None]:
    """Every transaction id -> its settlement id."""
    return {r["id"]: r["settlement_id"] for r in await select(rt, bt.select())}


async def settle(rt: Runtime, merchant_id: str) -> int:
    """A test clock's step: everything due for the merchant's test mode now."""
    return await settlements.run_due(rt, Scope(merchant_id=merchant_id))


async def test_a_cycle_settles_what_happened_before_its_cutoff(shop) -> None:
    rt, clock, merchant_id, _ = shop
    inside = await book(rt, merchant_id, START, 1000, fee=36)
    inside += await book(rt, merchant_id, FIRST - timedelta(milliseconds=1), 500, fee=18)
    later = await book(rt, merchant_id, FIRST, 700)  # at the cut-off: the next cycle's
    usd = await book(rt, merchant_id, START, 1250, currency="USD")
    clock.now = FIRST - timedelta(seconds=1)
    assert await settle(rt, merchant_id) == 0
    clock.now = FIRST
    assert await settle(rt, merchant_id) == 2  # one per currency
    jpy, dollars = await made(rt)
    assert (jpy["currency"], dollars["currency"]) == ("JPY", "USD")
    assert jpy["cutoff_time"] == FIRST and jpy["cycle"] == "2030-W01"
    assert jpy["totals"] == {"payment": 1500, "fee": -54}
    assert (jpy["amount"], jpy["transaction_count"], jpy["status"]) == (1446, 4, "pending")
    assert jpy["reference"].startswith("KS-20300107-") and jpy["period_start"] is None
    found = await members(rt)
    assert {t for t, s in found.items() if s == jpy["id"]} == set(inside)
    assert {t for t, s in found.items() if s == dollars["id"]} == set(usd)
    assert [found[t] for t in later] == [None]
    assert await settle(rt, merchant_id) == 0  # settled once
    # The next cycle starts where this one ended.
    clock.now = FIRST + timedelta(days=7)
    assert await settle(rt, merchant_id) == 1
    second = (await made(rt))[-1]
    assert second["period_start"] == FIRST and second["cycle"] == "2030-W02"
    assert {t for t, s in (await members(rt)).items() if s == second["id"]} == set(later)


async def test_its_json_and_event_are_komojus(shop) -> None:
    rt, clock, merchant_id, _ = shop
    await book(rt, merchant_id, START, 1000, fee=36)
    clock.now = FIRST + timedelta(minutes=5)
    assert await settle(rt, merchant_id) == 1
    (row,) = await made(rt)
    shown = wire.settlement_show(row, "Ledger Shop", "https://pay.example")
    assert_schema(shown, "SettlementShow")
    assert shown["settlement_amount_cents"] == 964 == shown["remittance_amount_cents"]
    assert (shown["transaction_amount_cents"], shown["fee_amount_cents"]) == (1000, -36)
    assert shown["payments"] == {
        "captured_amount_total_cents": 1000,
        "processing_fees_cents": -36,
        "total_cents": 964,
    }
    assert shown["download"]["csv"] == f"https://pay.example/api/v1/settlements/{row['id']}/csv"
    (event,) = await select(rt, events.select().where(events.c.type == "settlement.created"))
    assert event["data"]["id"] == row["id"] and not event["livemode"]
    assert_schema(event["data"], "Settlement")
    assert event["created_at"] == FIRST + timedelta(minutes=5)


async def test_a_schedule_far_behind_is_settled_one_cutoff_at_a_time(shop) -> None:
    rt, clock, merchant_id, _ = shop
    booked: dict[str, datetime] = {}
    for day in range(0, 40, 3):  # weeks 1..6, none in some
        when = START + timedelta(days=day, hours=day % 7)
        for tid in await book(rt, merchant_id, when, 100 + day):
            booked[tid] = when
    clock.now = START + timedelta(days=45)
    done = await settle(rt, merchant_id)
    rows = await made(rt)
    assert done == len(rows) >= 6
    found = await members(rt)
    previous = None
    for row in rows:
        mine = {t for t, s in found.items() if s == row["id"]}
        assert mine == {
            t for t, when in booked.items() if (previous or START) <= when < row["cutoff_time"]
        }
        assert row["amount"] == sum(100 + (w - START).days for t, w in booked.items() if t in mine)
        previous = row["cutoff_time"]
    assert all(found.values())  # everything before the last cut-off, i.e. everything
    schedule = await execute.read(rt, lambda conn: ledger_settings.view(conn, merchant_id, False))
    assert datetime.fromisoformat(schedule["next_cutoff_at"]) > clock.now
    cuts = [row["cutoff_time"] for row in rows]
    assert all((b - a) % timedelta(days=7) == timedelta(0) for a, b in itertools.pairwise(cuts))


@pytest.mark.parametrize("runners", [2, 4])
async def test_runners_at_once_settle_each_transaction_once(shop, runners) -> None:
    rt, clock, merchant_id, runtime = shop
    await execute.write(
        rt,
        lambda conn: ledger_settings.configure(
            conn, rt, merchant_id, False, schedule="daily", fees=None
        ),
    )
    for day in range(12):
        for currency in ("JPY", "USD", "EUR"):
            for hour in (1, 13):
                await book(
                    rt, merchant_id, START + timedelta(days=day, hours=hour), currency=currency
                )
    clock.now = START + timedelta(days=13)
    others = [runtime() for _ in range(runners)]
    # The merchant's clock and the worker's real-time pass (here the same time) race.
    scopes = [Scope(merchant_id=merchant_id), Scope()]
    results = await asyncio.gather(
        *(settlements.run_due(r, scopes[n % 2]) for n, r in enumerate(others))
    )
    rows = await made(rt)
    assert sum(results) == len(rows) == 12 * 3 + 3  # the day of START, then a day each
    assert len({(r["currency"], r["cutoff_time"]) for r in rows}) == len(rows)
    found = await members(rt)
    assert all(found.values())
    counted = {r["id"]: r["transaction_count"] for r in rows}
    for settlement_id, count in counted.items():
        assert list(found.values()).count(settlement_id) == count
    assert sum(counted.values()) == len(found)
    created = await select(rt, events.select().where(events.c.type == "settlement.created"))
    assert sorted(e["data"]["id"] for e in created) == sorted(counted)
    assert await settlements.run_due(others[0], Scope()) == 0


async def test_live_mode_runs_on_the_real_time_only(shop) -> None:
    rt, clock, merchant_id, _ = shop
    live = await book(rt, merchant_id, START, livemode=True)
    test = await book(rt, merchant_id, START)
    clock.now = FIRST + timedelta(hours=1)
    assert await settle(rt, merchant_id) == 1  # the merchant's test clock: test mode only
    assert (await members(rt))[live[0]] is None
    assert await settlements.run_due(rt, Scope(real_time_only=True)) == 1
    found = await members(rt)
    assert found[live[0]] and found[test[0]] and found[live[0]] != found[test[0]]
    assert [row["livemode"] for row in await made(rt)] == [False, True]


async def test_next_due_is_the_test_modes_cutoff(shop) -> None:
    rt, clock, merchant_id, _ = shop

    async def next_due(after: datetime) -> datetime | None:
        return await execute.read(rt, lambda conn: settlements.next_due(conn, merchant_id, after))

    assert await next_due(START) == FIRST
    assert await next_due(FIRST) is None
    clock.now = FIRST
    await settle(rt, merchant_id)  # no transactions: no settlement, the schedule moves on
    assert await made(rt) == []
    assert await next_due(FIRST) == FIRST + timedelta(days=7)


@pytest.mark.parametrize(
    ("schedule", "cutoff", "cycle"),
    [
        ("daily", datetime(2030, 1, 2, 15, 0, tzinfo=UTC), "2030-01-02"),
        ("monthly", datetime(2030, 1, 31, 15, 0, tzinfo=UTC), "2030-01"),
    ],
)
async def test_daily_and_monthly_cycles(shop, schedule, cutoff, cycle) -> None:
    rt, clock, merchant_id, _ = shop
    shown = await execute.write(
        rt,
        lambda conn: ledger_settings.configure(
            conn, rt, merchant_id, False, schedule=schedule, fees=None
        ),
    )
    assert shown["next_cutoff_at"] == iso(cutoff)
    ids = await book(rt, merchant_id, START + timedelta(hours=1))
    clock.now = cutoff
    assert await settle(rt, merchant_id) == 1
    (row,) = await made(rt)
    assert (row["cutoff_time"], row["cycle"]) == (cutoff, cycle)
    assert [s for t, s in (await members(rt)).items() if t in ids] == [row["id"]]
    after = rules.next_cutoff(schedule, cutoff)
    assert await execute.read(rt, lambda conn: settlements.next_due(conn, merchant_id, cutoff)) == (
        after
    )


async def test_a_settlement_keeps_its_totals(shop) -> None:
    """What is booked after a cut-off never changes the settlement before it."""
    rt, clock, merchant_id, _ = shop
    await book(rt, merchant_id, START, 800)
    clock.now = FIRST
    await settle(rt, merchant_id)
    late = await book(rt, merchant_id, FIRST - timedelta(seconds=1), 50)  # a late arrival
    (row,) = await made(rt)
    count = await execute.read(
        rt,
        lambda conn: conn.scalar(
            sa.select(sa.func.count()).select_from(bt).where(bt.c.settlement_id == row["id"])
        ),
    )
    assert (row["amount"], row["transaction_count"], count) == (800, 1, 1)
    clock.now = FIRST + timedelta(days=7)
    await settle(rt, merchant_id)
    assert (await members(rt))[late[0]] == (await made(rt))[-1]["id"]  # the next one
