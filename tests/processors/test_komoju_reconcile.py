"""Lost answers against a real upstream: requests that never arrived, or whose answer was
dropped after the upstream did the work. Retries reuse the idempotency key, and
`reconcile` finds what happened without ever doing it twice."""

from __future__ import annotations

import httpx
import pytest

from kessai.processors.base import (
    Approved,
    AwaitingCustomer,
    Declined,
    NeedsAction,
    OpenOperation,
    OutcomeUnknown,
)
from kessai.processors.komoju import KomojuConfig, KomojuProcessor
from tests.api.helpers import answer_3ds
from tests.conftest import Server
from tests.processors.conftest import (
    CVV,
    GOOD,
    Faulty,
    call,
    charge,
    processor_via,
    tx_of,
    upstream_payment,
    upstream_payments_of,
)

KEY = "x-komoju-idempotency"


async def test_a_dropped_answer_is_retried_with_the_same_key_and_replayed(
    config: KomojuConfig, up: httpx.Client
) -> None:
    faulty = Faulty(drop=1)
    ch, op = charge(), call()
    async with processor_via(config, faulty) as komoju:
        outcome = await komoju.authorize(op, ch)
    assert isinstance(outcome, Approved) and outcome.captured, outcome
    assert len(faulty.sent) == 2
    assert {s.headers[KEY] for s in faulty.sent} == {f"kessai-{op.operation_id}"}
    assert faulty.sent[0].body == faulty.sent[1].body
    assert len(upstream_payments_of(up, ch.payment_id)) == 1


@pytest.mark.parametrize(
    ("number", "ptype", "expected"),
    [
        (GOOD, "credit_card", Approved),
        ("4100000000005000", "credit_card", NeedsAction),
        (None, "konbini", AwaitingCustomer),
        ("4123111111111059", "credit_card", Declined),
    ],
)
async def test_reconcile_finds_an_authorization_whose_answers_were_all_lost(
    config: KomojuConfig,
    komoju: KomojuProcessor,
    up: httpx.Client,
    number: str | None,
    ptype: str,
    expected: type,
) -> None:
    details = {"store": "family-mart", "email": "c@example.com"} if ptype == "konbini" else {}
    ch, op = charge(number=number, payment_type=ptype, details=details), call()
    faulty = Faulty(drop=99)
    async with processor_via(config, faulty) as lossy:
        with pytest.raises(OutcomeUnknown) as lost:
            await lossy.authorize(op, ch)
    assert len(faulty.sent) == 3, "a few attempts, then unknown"
    assert len({s.body for s in faulty.sent}) == 1
    assert GOOD not in str(lost.value) and CVV not in str(lost.value)
    assert lost.value.resume is None
    found = await komoju.reconcile(op, OpenOperation("authorize", tx_of(ch, None), None))
    assert isinstance(found, expected), found
    [upstream] = upstream_payments_of(up, ch.payment_id)
    if isinstance(found, Declined):
        assert found.code == "card_declined" and upstream["status"] == "failed"
    else:
        assert found.reference == upstream["id"]


async def test_an_authorization_that_never_arrived_is_declined_and_fenced_off(
    config: KomojuConfig, komoju: KomojuProcessor, upstream: Server, up: httpx.Client
) -> None:
    ch, op = charge(), call()
    faulty = Faulty(refuse=99)
    async with processor_via(config, faulty) as lossy:
        with pytest.raises(OutcomeUnknown):
            await lossy.authorize(op, ch)
    found = await komoju.reconcile(op, OpenOperation("authorize", tx_of(ch, None), None))
    assert isinstance(found, Declined) and found.code == "processor_unavailable", found
    assert upstream_payments_of(up, ch.payment_id) == []
    # The lost request, should it still reach the upstream now, can no longer charge.
    late = faulty.sent[0]
    resp = up.post(
        f"{upstream.base_url}{late.path}",
        content=late.body,
        headers={KEY: late.headers[KEY], "content-type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["param"] == "X-KOMOJU-IDEMPOTENCY"
    assert upstream_payments_of(up, ch.payment_id) == []
    # Asking again gives the same answer.
    assert await komoju.reconcile(op, OpenOperation("authorize", tx_of(ch, None), None)) == found


async def test_reconcile_of_a_reconcile_finds_the_same_payment(
    komoju: KomojuProcessor, up: httpx.Client
) -> None:
    ch, op = charge(capture=False), call()
    first = await komoju.authorize(op, ch)
    again = await komoju.reconcile(op, OpenOperation("authorize", tx_of(ch, None), None))
    assert first == again
    assert len(upstream_payments_of(up, ch.payment_id)) == 1


@pytest.mark.parametrize("lost", ["dropped", "refused"])
@pytest.mark.parametrize("kind", ["capture", "refund", "cancel"])
async def test_reconcile_of_a_lost_move_does_it_exactly_once(
    config: KomojuConfig, komoju: KomojuProcessor, up: httpx.Client, kind: str, lost: str
) -> None:
    ch = charge(1000, capture=kind != "capture" and kind != "cancel")
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, Approved)
    tx, op = tx_of(ch, outcome.reference), call()
    faulty = Faulty(drop=99) if lost == "dropped" else Faulty(refuse=99)
    async with processor_via(config, faulty) as lossy:
        with pytest.raises(OutcomeUnknown):
            if kind == "capture":
                await lossy.capture(op, tx, 600)
            elif kind == "refund":
                await lossy.refund(op, tx, 600)
            else:
                await lossy.cancel(op, tx)
    amount = None if kind == "cancel" else 600
    for _ in range(2):  # reconciling twice changes nothing more
        result = await komoju.reconcile(op, OpenOperation(kind, tx, amount))
        assert result == Approved(captured=kind != "cancel", reference=tx.reference)
    paid = upstream_payment(up, tx.reference or "")
    if kind == "capture":
        assert (paid["status"], paid["amount"]) == ("captured", 600)
    elif kind == "refund":
        assert (paid["amount_refunded"], len(paid["refunds"])) == (600, 1)
    else:
        assert paid["status"] == "cancelled"


async def test_a_capture_whose_key_the_upstream_forgot_is_read_from_the_payment(
    komoju: KomojuProcessor,
) -> None:
    """After 24 hours KOMOJU forgets a key: sent again, the capture is refused as done;
    the payment's status shows it was."""
    ch = charge(capture=False)
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, Approved)
    tx = tx_of(ch, outcome.reference)
    assert await komoju.capture(call(), tx, 1000) == Approved(True, tx.reference)
    forgot = await komoju.reconcile(call(), OpenOperation("capture", tx, 1000))
    assert forgot == Approved(True, tx.reference)
    # A capture the upstream refuses for a reason of its own stays declined.
    cancelled = charge(capture=False)
    outcome = await komoju.authorize(call(), cancelled)
    assert isinstance(outcome, Approved)
    tx = tx_of(cancelled, outcome.reference)
    assert await komoju.cancel(call(), tx) == Approved(False, tx.reference)
    refused = await komoju.reconcile(call(), OpenOperation("capture", tx, 1000))
    assert isinstance(refused, Declined) and refused.code == "not_capturable", refused


async def test_reconcile_of_a_complete_reads_the_upstream_payment(
    komoju: KomojuProcessor,
) -> None:
    ch = charge(number="4100000000005000")
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, NeedsAction) and outcome.redirect_url
    op = OpenOperation("complete", tx_of(ch, outcome.reference), None, state=outcome.state)
    still = await komoju.reconcile(call(), op)  # still on the challenge page
    assert isinstance(still, NeedsAction) and still.state == outcome.state
    answer_3ds(outcome.redirect_url, "123456")
    assert await komoju.reconcile(call(), op) == Approved(True, outcome.reference)
