"""Every processor call in phases: lost answers, resumed retries, reconciliation, slow
processors that hold nothing, and the decline branches of capture, refund and cancel."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from kessai.api import payments as api_payments
from kessai.errors import NotFound
from kessai.processors.base import Approved, NeedsAction, Vaulted
from kessai.processors.scripted import Answer, Decline, LoseAnswer, Unknown, Wait
from kessai.schemas.requests import CreatePayment
from kessai.services import payments as payment_service
from kessai.services import phases, reconciling
from kessai.services.execute import Resume
from kessai.services.runtime import Caller
from kessai.store.tables import idempotency_keys, payments, processor_operations
from kessai.worker.reconcile import reconcile_once
from tests.boundary.conftest import Gateway

CARD = {
    "type": "credit_card",
    "number": "4111111111111111",
    "month": 12,
    "year": 2035,
    "verification_value": "123",
}


def payment_body(**extra: Any) -> dict[str, Any]:
    return {"amount": 1000, "currency": "JPY", "payment_details": CARD, **extra}


async def rows(gw: Gateway, table: sa.Table) -> list[Any]:
    async with gw.rt.db.transaction(write=False) as conn:
        return list((await conn.execute(sa.select(table))).mappings().all())


async def test_lost_approval_is_resumed_by_the_retry_without_a_second_charge(gw: Gateway) -> None:
    gw.processor.script("authorize", LoseAnswer())
    first = await gw.post("/payments", payment_body(), **{"X-KOMOJU-IDEMPOTENCY": "k1"})
    assert first.status_code == 503, first.text
    assert first.json()["error"]["code"] == "processor_unavailable"
    [pending] = await rows(gw, payments)
    assert pending["status"] == "pending"
    [operation] = await rows(gw, processor_operations)
    assert operation["status"] == "open"

    # The retry resumes the same operation at once: the acquirer is asked about it.
    retry = await gw.post("/payments", payment_body(), **{"X-KOMOJU-IDEMPOTENCY": "k1"})
    assert retry.status_code == 200, retry.text
    assert retry.json()["id"] == pending["id"]
    assert retry.json()["status"] == "captured"
    assert gw.processor.charges() == 1
    assert len(await rows(gw, payments)) == 1
    assert len(await gw.events("payment.captured")) == 1
    # Later replays get the stored answer, byte for byte.
    again = await gw.post("/payments", payment_body(), **{"X-KOMOJU-IDEMPOTENCY": "k1"})
    assert again.content == retry.content


async def test_a_retry_while_the_call_runs_is_told_to_wait(gw: Gateway) -> None:
    gate = asyncio.Event()
    gw.processor.script("authorize", Wait(gate))
    key = {"X-KOMOJU-IDEMPOTENCY": "k3"}
    first = asyncio.create_task(gw.post("/payments", payment_body(), **key))
    await gw.processor.reached("authorize")
    early = await gw.post("/payments", payment_body(), **key)
    assert early.status_code == 409 and early.json()["error"]["code"] == "conflict"
    gate.set()
    assert (await first).status_code == 200
    assert [kind for kind, _ in gw.processor.calls] == ["authorize"]


def unknown_calls(kind: str) -> float:
    labels = {"processor": "scripted", "kind": kind, "answer": "unknown"}
    return REGISTRY.get_sample_value("kessai_processor_calls_total", labels) or 0.0


async def test_a_call_that_never_arrived_resolves_as_nothing_charged(gw: Gateway) -> None:
    before = unknown_calls("authorize")
    gw.processor.script("authorize", Unknown())
    first = await gw.post("/payments", payment_body(), **{"X-KOMOJU-IDEMPOTENCY": "k2"})
    assert first.status_code == 503
    assert unknown_calls("authorize") == before + 1  # what an operator's alert watches
    retry = await gw.post("/payments", payment_body(), **{"X-KOMOJU-IDEMPOTENCY": "k2"})
    assert retry.status_code == 402, retry.text
    assert retry.json()["error"]["code"] == "processor_unavailable"
    assert retry.json()["error"]["details"]["payment"]["status"] == "failed"
    assert gw.processor.charges() == 0


async def test_the_reconciler_finishes_what_nobody_retried(gw: Gateway) -> None:
    created = await gw.post("/payments", payment_body(capture=False))
    payment_id = created.json()["id"]
    gw.processor.script("capture", LoseAnswer())
    lost = await gw.post(f"/payments/{payment_id}/capture")
    assert lost.status_code == 503
    assert (await gw.payment(payment_id))["status"] == "authorized"

    assert await reconcile_once(gw.rt) == 0  # its lease has not run out yet
    gw.clock.advance(60)
    assert await reconcile_once(gw.rt) == 1
    after = await gw.payment(payment_id)
    assert after["status"] == "captured"
    assert gw.processor.charges("capture") == 1
    assert len(await gw.events("payment.captured")) == 1
    assert await reconcile_once(gw.rt) == 0  # nothing left open


async def test_reconciliation_backs_off_while_the_processor_stays_unreachable(gw: Gateway) -> None:
    created = await gw.post("/payments", payment_body(capture=False))
    payment_id = created.json()["id"]
    gw.processor.script("cancel", Unknown())
    gw.processor.script("reconcile", Unknown(), Unknown())
    assert (await gw.post(f"/payments/{payment_id}/cancel")).status_code == 503
    for _ in range(2):
        gw.clock.advance(3600)
        assert await reconcile_once(gw.rt) == 0
    [operation] = [o for o in await rows(gw, processor_operations) if o["kind"] == "cancel"]
    assert operation["status"] == "open" and operation["attempts"] == 3
    assert operation["next_attempt_at"] > gw.clock()  # backed off
    gw.clock.advance(3600)
    assert await reconcile_once(gw.rt) == 1
    assert (await gw.payment(payment_id))["status"] == "cancelled"


async def test_a_slow_processor_holds_nothing_other_requests_need(gw: Gateway) -> None:
    gate = asyncio.Event()
    gw.processor.script("authorize", Wait(gate))
    slow = asyncio.create_task(gw.post("/payments", payment_body()))
    await gw.processor.reached("authorize")
    # Meanwhile sessions, reads and other payments go ahead on the same store.
    session = await gw.post("/sessions", {"amount": 500, "currency": "JPY"})
    assert session.status_code == 200, session.text
    shown = await gw.get(f"/sessions/{session.json()['id']}")
    assert shown.status_code == 200
    other = await gw.post("/payments", payment_body(amount=700))
    assert other.status_code == 200 and other.json()["status"] == "captured"
    [waiting] = [p for p in await rows(gw, payments) if p["amount"] == 1000]
    assert waiting["status"] == "pending"
    gate.set()
    done = await slow
    assert done.status_code == 200 and done.json()["status"] == "captured"


async def test_concurrent_captures_make_one_processor_call(gw: Gateway) -> None:
    created = await gw.post("/payments", payment_body(capture=False))
    payment_id = created.json()["id"]
    gate = asyncio.Event()
    gw.processor.script("capture", Wait(gate))
    racing = [asyncio.create_task(gw.post(f"/payments/{payment_id}/capture")) for _ in range(5)]
    await gw.processor.reached("capture")
    gate.set()
    answers = await asyncio.gather(*racing)
    assert sorted(a.status_code for a in answers) == [200, 422, 422, 422, 422]
    assert [kind for kind, _ in gw.processor.calls].count("capture") == 1


async def test_capture_refund_and_cancel_declines_change_nothing(gw: Gateway) -> None:
    authorized = (await gw.post("/payments", payment_body(capture=False))).json()["id"]
    gw.processor.script("capture", Decline("card_declined"))
    capture = await gw.post(f"/payments/{authorized}/capture")
    assert capture.status_code == 402
    assert capture.json()["error"]["code"] == "card_declined"
    assert capture.json()["error"]["details"]["payment"]["status"] == "authorized"
    gw.processor.script("cancel", Decline("request_failed"))
    cancel = await gw.post(f"/payments/{authorized}/cancel")
    assert cancel.status_code == 402
    assert (await gw.payment(authorized))["status"] == "authorized"
    # The payment is free again: a second capture goes through.
    assert (await gw.post(f"/payments/{authorized}/capture")).status_code == 200

    gw.processor.script("refund", Decline("card_declined"))
    refund = await gw.post(f"/payments/{authorized}/refund", {"amount": 400})
    assert refund.status_code == 402
    after = await gw.payment(authorized)
    assert after["amount_refunded"] == 0 and after["refunds"] == []
    # The declined refund's reservation was released: the whole amount is refundable.
    full = await gw.post(f"/payments/{authorized}/refund")
    assert full.status_code == 200 and full.json()["status"] == "refunded"
    assert full.json()["amount_refunded"] == 1000


async def test_refunds_in_flight_are_reserved(gw: Gateway) -> None:
    payment_id = (await gw.post("/payments", payment_body())).json()["id"]
    gate = asyncio.Event()
    gw.processor.script("refund", Wait(gate))
    first = asyncio.create_task(gw.post(f"/payments/{payment_id}/refund", {"amount": 700}))
    await gw.processor.reached("refund")
    too_much = await gw.post(f"/payments/{payment_id}/refund", {"amount": 400})
    assert too_much.status_code == 422
    assert too_much.json()["error"]["code"] == "not_refundable"
    rest = await gw.post(f"/payments/{payment_id}/refund", {"amount": 300})
    assert rest.status_code == 200, rest.text
    gate.set()
    assert (await first).status_code == 200
    after = await gw.payment(payment_id)
    assert after["amount_refunded"] == 1000 and after["status"] == "refunded"


async def test_a_request_that_died_mid_call_is_reconciled(gw: Gateway) -> None:
    """The request making the call dies (here: its task is cancelled) while the acquirer
    charges: the open operation is found by the reconciler and applied once."""
    gate = asyncio.Event()
    gw.processor.script("authorize", Wait(gate))
    doomed = asyncio.create_task(gw.post("/payments", payment_body()))
    await gw.processor.reached("authorize")
    doomed.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await doomed
    [operation] = await rows(gw, processor_operations)
    assert operation["status"] == "open"
    gw.processor.done[operation["id"]] = ("authorize", Approved(captured=True))
    gw.clock.advance(60)
    assert await reconcile_once(gw.rt) == 1
    [payment] = await rows(gw, payments)
    assert payment["status"] == "captured" and payment["operation_id"] is None
    assert len(await gw.events("payment.captured")) == 1


async def test_a_retry_after_the_reconciler_finished_gets_the_answer(gw: Gateway) -> None:
    session = (await gw.post("/sessions", {"amount": 800, "currency": "JPY"})).json()
    key = {"X-KOMOJU-IDEMPOTENCY": "pay-1"}
    gw.processor.script("authorize", LoseAnswer())
    path = f"/sessions/{session['id']}/pay"
    first = await gw.post(path, {"payment_details": CARD}, **key)
    assert first.status_code == 503
    gw.clock.advance(60)
    assert await reconcile_once(gw.rt) == 1  # the session is completed by now
    retry = await gw.post(path, {"payment_details": CARD}, **key)
    assert retry.status_code == 200, retry.text
    assert retry.json()["status"] == "completed"
    assert gw.processor.charges() == 1
    # The same key with another body is refused, not resumed.
    other = await gw.post(path, {"payment_details": {**CARD, "number": "5555555555554444"}}, **key)
    assert other.status_code == 422
    assert other.json()["error"]["param"] == "X-KOMOJU-IDEMPOTENCY"


@pytest.mark.parametrize(
    "answer", [None, Vaulted("x"), NotFound("odd"), RuntimeError("bug")], ids=repr
)
async def test_an_odd_answer_counts_as_no_answer(gw: Gateway, answer: object) -> None:
    created = await gw.post("/payments", payment_body(capture=False))
    payment_id = created.json()["id"]
    gw.processor.script("capture", Answer(answer))
    odd = await gw.post(f"/payments/{payment_id}/capture")
    assert odd.status_code == 503, odd.text
    assert (await gw.payment(payment_id))["status"] == "authorized"
    # The reconciler asks again (the acquirer never did it) and the guard is released.
    gw.clock.advance(60)
    assert await reconcile_once(gw.rt) == 1
    assert (await gw.payment(payment_id))["status"] == "captured"
    assert gw.processor.charges("capture") == 1


async def test_an_acquirer_page_still_open_lets_the_session_go(gw: Gateway) -> None:
    """A customer back from the acquirer's page before finishing it: the payment stays
    pending, and nothing stays held (another card can pay the session)."""
    session = (await gw.post("/sessions", {"amount": 800, "currency": "JPY"})).json()
    challenge = {**CARD, "number": "4100000000005000"}
    pending = await gw.post(f"/sessions/{session['id']}/pay", {"payment_details": challenge})
    payment_id = pending.json()["payment"]["id"]
    gw.processor.name = "komoju"  # the return page is for an acquirer's own pages
    async with gw.rt.db.transaction() as conn:
        await conn.execute(
            payments.update().where(payments.c.id == payment_id).values(processor="komoju")
        )
    gw.processor.script("complete", Answer(NeedsAction("komoju:x", "https://komoju.test/3ds")))
    back = await gw.client.get(f"/payments/{payment_id}/return")
    assert back.status_code in (302, 303)
    assert (await gw.payment(payment_id))["status"] == "pending"
    paid = await gw.post(f"/sessions/{session['id']}/pay", {"payment_details": CARD})
    assert paid.status_code == 200 and paid.json()["status"] == "completed"


async def test_a_retry_that_finds_the_call_finished_replays_its_answer(gw: Gateway) -> None:
    """A retry looked the key up while the first request was with the processor, and
    resumes only after that request stored its answer: it gets those very bytes."""
    key = {"X-KOMOJU-IDEMPOTENCY": "k-race"}
    first = await gw.post("/payments", payment_body(), **key)
    assert first.status_code == 200
    async with gw.rt.db.transaction(write=False) as conn:
        [row] = (await conn.execute(sa.select(idempotency_keys))).mappings().all()
    caller = Caller(gw.merchant_id, "Boundary", False, "secret")
    plan = payment_service.create(gw.rt, caller, CreatePayment(**payment_body()), None)
    with pytest.raises(phases.Replayed) as replayed:
        await reconciling.resume_request(
            gw.rt,
            plan,
            Resume(row["id"], row["operation_id"]),
            lambda view: api_payments.render(gw.rt, view),
        )
    assert replayed.value.rendered == (200, first.content)
