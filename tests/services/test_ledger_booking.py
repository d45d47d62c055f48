"""Booking in the ledger, in-process on a store of its own: what a capture, a refund, a
failed or an uncaptured payment write, at the merchant's rate; the fee and schedule
settings; and concurrent captures and refunds that leave every balance equal to the sum
of its transactions (`kessai.services.ledger_check` finds nothing wrong)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kessai.core import ledger as rules
from kessai.core.times import iso
from kessai.errors import InvalidParameter, MissingParameter, NotFound
from kessai.schemas.requests import CapturePayment, CreatePayment, RefundPayment
from kessai.services import execute, ledger_check, ledger_settings, payments, phases
from kessai.services.runtime import Caller
from kessai.store import ledger
from kessai.store.tables import balance_transactions as bt
from kessai.store.tables import payments as payment_table
from tests.services.shop import in_process_shop

CARD = {"type": "credit_card", "number": "4111111111111111", "month": 12, "year": 2099}
DECLINED = {**CARD, "number": "4123111111111059"}
KONBINI = {"type": "konbini", "store": "lawson", "email": "a@example.com"}
START = datetime(2030, 1, 2, 3, 0, tzinfo=UTC)  # a Wednesday, 12:00 in Japan


@pytest.fixture
async def shop(tmp_path):
    async with in_process_shop(tmp_path, "Ledger Shop", START, pool_size=4) as found:
        yield found


async def pay(rt, caller, amount: int = 1000, details=CARD, **params: Any) -> Any:
    made = CreatePayment(amount=amount, currency="JPY", payment_details=details, **params)
    return (await phases.perform(rt, payments.create(rt, caller, made, None))).row


async def refund(rt, caller, payment_id: str, amount: int | None = None) -> Any:
    plan = payments.refund(rt, caller, payment_id, RefundPayment(amount=amount), None)
    return (await phases.perform(rt, plan)).row


async def lines(rt, payment_id: str) -> list[tuple[str, int]]:
    """The (type, signed amount) lines of a payment and its refunds, in booking order."""
    query = sa.select(bt.c.happened_at, bt.c.type, bt.c.amount).where(bt.c.payment_id == payment_id)
    found = (await execute.read(rt, lambda conn: conn.execute(query))).all()
    ranked = sorted(found, key=lambda f: (f[0], list(rules.TYPES).index(f[1])))
    return [(t, int(a)) for _, t, a in ranked]


async def payment_row(rt, payment_id: str) -> Any:
    query = payment_table.select().where(payment_table.c.id == payment_id)
    return (await execute.read(rt, lambda conn: conn.execute(query))).mappings().one()


async def violations(rt, merchant_id: str | None = None) -> list[str]:
    async with rt.db.snapshot() as conn:
        return [v.line() for v in await ledger_check.check(conn, merchant_id)]


async def configure(rt, caller, schedule: str | None = None, fees: Any = None) -> dict:
    return await execute.write(
        rt,
        lambda conn: ledger_settings.configure(
            conn, rt, caller.merchant_id, caller.livemode, schedule=schedule, fees=fees
        ),
    )


async def test_a_capture_books_its_total_and_the_fee_at_the_merchants_rate(shop) -> None:
    rt, clock, caller, _ = shop
    await configure(rt, caller, fees={"credit_card": {"percent": "2.9", "fixed": 30}})
    row = await pay(rt, caller, 10_000, tax=800)
    assert row["status"] == "captured"
    fee = 313 + 30  # 2.9 % of 10 800 is 313.2
    assert await lines(rt, row["id"]) == [("payment", 10_800), ("fee", -fee)]
    assert (await payment_row(rt, row["id"]))["processing_fee"] == fee
    # a type without an override pays the default (konbini 2.75 %), when the customer pays
    cash = await pay(rt, caller, 1000, KONBINI)
    assert cash["status"] == "authorized" and await lines(rt, cash["id"]) == []
    clock.now += timedelta(hours=2)
    await execute.write(rt, lambda conn: payments.customer_paid(conn, rt, cash["id"]))
    assert await lines(rt, cash["id"]) == [("payment", 1000), ("fee", -28)]  # 27.5 -> 28
    happened = await execute.read(
        rt,
        lambda conn: conn.execute(sa.select(bt.c.happened_at).where(bt.c.payment_id == cash["id"])),
    )
    assert {when for (when,) in happened} == {clock.now}
    totals = await execute.read(rt, lambda c: ledger.totals(c, caller.merchant_id, False, "JPY"))
    assert totals == {"payment": 11_800, "fee": -fee - 28}
    assert await violations(rt) == []


async def test_refunds_book_what_they_give_back(shop) -> None:
    rt, clock, caller, _ = shop
    row = await pay(rt, caller, 1000, tax=100)
    await refund(rt, caller, row["id"], 300)
    assert await lines(rt, row["id"]) == [("payment", 1100), ("fee", -40), ("refund", -300)]
    clock.now += timedelta(minutes=5)
    done = await refund(rt, caller, row["id"])  # the rest, tax included
    assert done["status"] == "refunded"
    booked = await lines(rt, row["id"])
    assert booked[3:] == [("refund", -800)]
    assert sum(amount for _, amount in booked) == -40  # the fee stays with the merchant
    assert await violations(rt, caller.merchant_id) == []


async def test_failed_declined_and_uncaptured_payments_book_nothing(shop) -> None:
    rt, _, caller, _ = shop
    declined = await pay(rt, caller, 1000, DECLINED)
    assert declined["status"] == "failed"
    held = await pay(rt, caller, 1000, capture=False)
    cancelled = await pay(rt, caller, 1000, capture=False)
    await phases.perform(rt, payments.cancel(rt, caller, cancelled["id"]))
    assert held["status"] == "authorized"
    for found in (declined, held, cancelled):
        assert await lines(rt, found["id"]) == []
    # a partial capture books what was taken, not what was authorized
    plan = payments.capture(rt, caller, held["id"], CapturePayment(amount=600), None)
    await phases.perform(rt, plan)
    assert await lines(rt, held["id"]) == [("payment", 600), ("fee", -22)]  # 21.6 -> 22
    assert await violations(rt) == []


async def test_a_new_rate_applies_to_later_captures_only(shop) -> None:
    rt, _, caller, _ = shop
    first = await pay(rt, caller, 1000)
    shown = await configure(rt, caller, fees={"credit_card": {"percent": "5"}})
    assert shown["fees"]["credit_card"] == {"percent": "5", "fixed": 0}
    second = await pay(rt, caller, 1000)
    assert (await lines(rt, first["id"]))[1] == ("fee", -36)
    assert (await lines(rt, second["id"]))[1] == ("fee", -50)
    shown = await configure(rt, caller, fees={"credit_card": None})  # back to the default
    assert shown["fees"]["credit_card"] == {"percent": "3.6", "fixed": 0}
    assert (await lines(rt, (await pay(rt, caller, 1000))["id"]))[1] == ("fee", -36)


async def test_concurrent_captures_and_refunds_keep_balances_equal_to_transactions(
    shop,
) -> None:
    rt, _, caller, runtime = shop
    runtimes = [runtime() for _ in range(5)]  # several "processes" at once

    async def one(n: int) -> str:
        mine = runtimes[n % len(runtimes)]
        row = await pay(mine, caller, 1000 + n)
        await refund(mine, caller, row["id"], 100 + n)
        return str(row["id"])

    ids = await asyncio.gather(*(one(n) for n in range(50)))
    assert len(set(ids)) == 50
    found = await execute.read(
        rt,
        lambda conn: conn.execute(
            sa.select(bt.c.type, sa.func.count(), sa.func.sum(bt.c.amount)).group_by(bt.c.type)
        ),
    )
    by_type = {t: (n, int(total)) for t, n, total in found}
    assert by_type["payment"] == (50, sum(1000 + n for n in range(50)))
    assert by_type["refund"] == (50, -sum(100 + n for n in range(50)))
    assert by_type["fee"][0] == 50
    totals = await execute.read(rt, lambda c: ledger.totals(c, caller.merchant_id, False, "JPY"))
    assert totals == {t: total for t, (_, total) in by_type.items()}
    assert await violations(rt) == []


async def test_settings_show_every_type_and_a_schedule_change_moves_the_cutoff(shop) -> None:
    rt, clock, caller, _ = shop
    shown = await execute.read(
        rt, lambda conn: ledger_settings.view(conn, caller.merchant_id, False)
    )
    assert shown["settlement_schedule"] == "weekly"
    assert shown["next_cutoff_at"] == iso(rules.next_cutoff("weekly", START))
    assert shown["fees"]["bank_transfer"] == {"percent": "1.5", "fixed": 100}
    assert len(shown["fees"]) == 12
    clock.now = START + timedelta(days=1)  # the merchant's time, not the machine's
    daily = await configure(rt, caller, schedule="daily")
    assert daily["next_cutoff_at"] == iso(rules.next_cutoff("daily", clock.now))
    clock.now += timedelta(hours=3)
    again = await configure(rt, caller, schedule="daily", fees={})  # no change: no move
    assert again == daily
    live = await execute.read(rt, lambda conn: ledger_settings.view(conn, caller.merchant_id, True))
    assert live["settlement_schedule"] == "weekly"  # each mode its own


@pytest.mark.parametrize(
    ("schedule", "fees", "param", "error"),
    [
        ("hourly", None, "settlement_schedule", InvalidParameter),
        (7, None, "settlement_schedule", InvalidParameter),
        (None, [], "fees", InvalidParameter),
        (None, {"cash": {"percent": "1"}}, "fees[cash]", InvalidParameter),
        (None, {"konbini": "2.5"}, "fees[konbini]", InvalidParameter),
        (None, {"konbini": {"fixed": 1}}, "fees[konbini][percent]", MissingParameter),
        (None, {"konbini": {"percent": 2.5}}, "fees[konbini][percent]", InvalidParameter),
        (None, {"konbini": {"percent": True}}, "fees[konbini][percent]", InvalidParameter),
        (None, {"konbini": {"percent": "100.5"}}, "fees[konbini][percent]", InvalidParameter),
        (None, {"konbini": {"percent": "2.555"}}, "fees[konbini][percent]", InvalidParameter),
        (
            None,
            {"konbini": {"percent": "2", "fixed": -1}},
            "fees[konbini][fixed]",
            InvalidParameter,
        ),
        (
            None,
            {"konbini": {"percent": "2", "fixed": True}},
            "fees[konbini][fixed]",
            InvalidParameter,
        ),
        (
            None,
            {"konbini": {"percent": "2", "fixed": "5.0"}},
            "fees[konbini][fixed]",
            InvalidParameter,
        ),
        (None, {"konbini": {"percent": "2", "cap": 5}}, "fees[konbini][cap]", InvalidParameter),
    ],
)
async def test_bad_settings_name_their_parameter_and_change_nothing(
    shop, schedule, fees, param, error
) -> None:
    rt, _, caller, _ = shop
    before = await execute.read(rt, lambda c: ledger_settings.view(c, caller.merchant_id, False))
    good = {"credit_card": {"percent": "1"}}  # checked along with the bad one: not kept
    mixed = fees if not isinstance(fees, dict) else {**good, **fees}
    with pytest.raises(error) as raised:
        await configure(rt, caller, schedule=schedule, fees=mixed)
    assert raised.value.param == param
    assert param in raised.value.message
    after = await execute.read(rt, lambda c: ledger_settings.view(c, caller.merchant_id, False))
    assert after == before


async def test_an_unknown_merchant_has_no_settings(shop) -> None:
    rt, _, caller, _ = shop
    with pytest.raises(NotFound):
        await execute.read(rt, lambda conn: ledger_settings.view(conn, "nobody", False))
    with pytest.raises(NotFound):
        await configure(rt, Caller("nobody", "", False, "secret"), schedule="daily")


async def test_concurrent_changes_of_different_types_are_all_kept(shop) -> None:
    rt, _, caller, runtime = shop
    slugs = ["credit_card", "konbini", "paypay", "bank_transfer", "pay_easy", "linepay"]
    others = [runtime() for _ in slugs]
    await asyncio.gather(
        *(
            configure(r, caller, fees={slug: {"percent": "1.25", "fixed": n}})
            for n, (r, slug) in enumerate(zip(others, slugs, strict=True))
        )
    )
    shown = await execute.read(rt, lambda c: ledger_settings.view(c, caller.merchant_id, False))
    assert {s: shown["fees"][s] for s in slugs} == {
        slug: {"percent": "1.25", "fixed": n} for n, slug in enumerate(slugs)
    }
