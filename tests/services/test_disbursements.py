"""Disbursements in-process, on a store of their own, with a clock the test moves: when
they fall due, several runners (each a "process" with a pool of its own) paying the same
ones at once, and cancels racing the payout: each leaves `pending` exactly once, its
money given back at most once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kessai.errors import Forbidden, InsufficientBalance, NotCancellable
from kessai.ids import new_id
from kessai.schemas.disbursements import CancelDisbursement, CreateDisbursement
from kessai.services import disbursements, execute
from kessai.services.due import Scope
from kessai.services.runtime import Caller
from kessai.store import ledger
from kessai.store.ledger import Line
from kessai.store.tables import balance_transactions, events
from tests.services.shop import in_process_shop

START = datetime(2030, 1, 31, 9, 30, tzinfo=UTC)
ACCOUNT = {
    "currency": "JPY",
    "account_number": "1234567",
    "account_type": "ordinary",
    "account_name_kana": "ﾔﾏﾀﾞ ﾀﾛｳ",
    "bank_code": "0001",
    "branch_code": "001",
}


@pytest.fixture
async def shop(tmp_path):
    async with in_process_shop(tmp_path, "Payout Shop", START, pool_size=4) as found:
        yield found


async def fund(rt, caller, amount: int) -> None:
    """Money in, as a capture books it."""
    await execute.write(
        rt,
        lambda conn: ledger.post(
            conn,
            merchant_id=caller.merchant_id,
            livemode=False,
            currency="JPY",
            lines=[Line("payment", amount, new_id())],
            happened_at=rt.now(),
        ),
    )


async def balance(rt, caller) -> int:
    return await execute.read(
        rt, lambda conn: ledger.balance(conn, caller.merchant_id, False, "JPY")
    )


async def disburse(rt, caller, amount: int, account_number: str = "1234567"):
    params = CreateDisbursement.model_validate(
        {**ACCOUNT, "amount": amount, "account_number": account_number}
    )
    return await execute.write(rt, lambda conn: disbursements.create(conn, rt, caller, params))


async def cancel(rt, caller, disbursement_id: str):
    params = CancelDisbursement(cancel_reason="Changed my mind")
    return await execute.write(
        rt, lambda conn: disbursements.cancel(conn, rt, caller, disbursement_id, params)
    )


async def status(rt, caller, disbursement_id: str) -> str:
    row = await execute.read(rt, lambda conn: disbursements.get(conn, caller, disbursement_id))
    return str(row["status"])


async def lines(rt, type_: str) -> list[str]:
    """The sources of the ledger lines of `type_`."""
    query = sa.select(balance_transactions.c.source_id).where(balance_transactions.c.type == type_)
    return await execute.read(rt, lambda conn: _all(conn, query))


async def moves(rt) -> list[tuple[str, str]]:
    """(type, disbursement id) of every event that moved a disbursement out of pending."""
    query = sa.select(events.c.type, events.c.data).where(events.c.type != "disbursement.created")
    return [(t, data["id"]) for t, data in await execute.read(rt, lambda conn: _all(conn, query))]


async def _all(conn, query) -> list:
    rows = (await conn.execute(query)).all()
    return [row[0] if len(row) == 1 else tuple(row) for row in rows]


async def due_now(rt, caller) -> int:
    """What a test clock's step runs for disbursements."""
    return await disbursements.run_due(rt, Scope(merchant_id=caller.merchant_id))


async def test_due_a_day_later_then_paid_or_failed_once(shop) -> None:
    rt, clock, caller, _ = shop
    await fund(rt, caller, 10_000)
    good = await disburse(rt, caller, 1_000)
    failing = await disburse(rt, caller, 2_000, disbursements.FAILING_ACCOUNT)
    assert await balance(rt, caller) == 7_000
    async with rt.db.transaction(write=False) as conn:
        found = await disbursements.next_due(conn, caller.merchant_id, START)
    assert found == START + timedelta(days=1)

    clock.now = START + timedelta(days=1) - timedelta(milliseconds=1)
    assert await due_now(rt, caller) == 0
    clock.now = START + timedelta(days=1)
    assert await due_now(rt, caller) == 2
    assert await due_now(rt, caller) == 0  # never twice
    assert await status(rt, caller, good["id"]) == "paid"
    failed = await execute.read(rt, lambda conn: disbursements.get(conn, caller, failing["id"]))
    assert (failed["status"], failed["error"]) == ("failed", "account_not_found")
    assert await balance(rt, caller) == 9_000
    assert await lines(rt, "disbursement_reversal") == [failing["id"]]
    assert sorted(await moves(rt)) == sorted(
        [("disbursement.paid", good["id"]), ("disbursement.failed", failing["id"])]
    )
    async with rt.db.transaction(write=False) as conn:
        assert await disbursements.next_due(conn, caller.merchant_id, START) is None
    with pytest.raises(NotCancellable):
        await cancel(rt, caller, good["id"])


async def test_refused_beyond_the_balance_and_nothing_written(shop) -> None:
    rt, _, caller, _ = shop
    await fund(rt, caller, 500)
    with pytest.raises(InsufficientBalance) as refused:
        await disburse(rt, caller, 501)
    assert (refused.value.param, refused.value.details["available_balance"]) == ("amount", 500)
    assert await lines(rt, "disbursement") == []
    await disburse(rt, caller, 500)
    assert await balance(rt, caller) == 0


async def test_several_runners_move_each_once(shop) -> None:
    rt, clock, caller, runtime = shop
    await fund(rt, caller, 100_000)
    made = [
        await disburse(rt, caller, 100 + i, disbursements.FAILING_ACCOUNT if i % 3 == 0 else "1")
        for i in range(30)
    ]
    clock.now = START + timedelta(days=2)
    runners = [runtime() for _ in range(4)]
    done = await asyncio.gather(*(due_now(r, caller) for r in runners))
    assert sum(done) == 30
    assert sorted(i for _, i in await moves(rt)) == sorted(d["id"] for d in made)
    failing = sorted(d["id"] for d in made if d["account_number"] == disbursements.FAILING_ACCOUNT)
    assert sorted(await lines(rt, "disbursement_reversal")) == failing
    given_back = sum(d["amount"] for d in made if d["id"] in failing)
    assert await balance(rt, caller) == 100_000 - sum(d["amount"] for d in made) + given_back

    async def stale(conn) -> list[bool]:  # a runner still holding what it read earlier
        return [await disbursements._pay_out(conn, row, clock.now) for row in made]

    assert await execute.write(rt, stale) == [False] * 30  # the status decides, not the view
    assert len(await moves(rt)) == 30


async def test_a_cancel_racing_the_payout_ends_in_one_of_the_two(shop) -> None:
    rt, clock, caller, runtime = shop
    await fund(rt, caller, 100_000)
    made = [await disburse(rt, caller, 100 + i) for i in range(20)]
    clock.now = START + timedelta(days=1)
    payer, canceller = runtime(), runtime()

    async def try_cancel(disbursement_id: str) -> str:
        try:
            return str((await cancel(canceller, caller, disbursement_id))["status"])
        except NotCancellable:
            return "paid"

    # Cancels started before the payout and after it, all running together.
    first = [asyncio.ensure_future(try_cancel(d["id"])) for d in made[:10]]
    paying = asyncio.ensure_future(due_now(payer, caller))
    rest = [asyncio.ensure_future(try_cancel(d["id"])) for d in made[10:]]
    answers = await asyncio.gather(*first, *rest)
    await paying
    for d, answer in zip(made, answers, strict=True):
        assert await status(rt, caller, d["id"]) == answer
    cancelled = sorted(d["id"] for d, a in zip(made, answers, strict=True) if a == "cancelled")
    assert sorted(await lines(rt, "disbursement_reversal")) == cancelled
    assert sorted(i for _, i in await moves(rt)) == sorted(d["id"] for d in made)
    paid = sum(d["amount"] for d, a in zip(made, answers, strict=True) if a == "paid")
    assert await balance(rt, caller) == 100_000 - paid


async def test_live_mode_is_refused(shop) -> None:
    rt, _, caller, _ = shop
    live = Caller(caller.merchant_id, caller.merchant_name, True, "secret")
    with pytest.raises(Forbidden):
        await disburse(rt, live, 1)
