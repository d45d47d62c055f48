"""Capture, refund and cancel through the KOMOJU processor, idempotency by operation id,
and cards vaulted as KOMOJU customers."""

from __future__ import annotations

import httpx
import pytest

from kessai.processors.base import Approved, Charge, Declined, NeedsAction, Transaction, Vaulted
from kessai.processors.komoju import KomojuProcessor
from tests.processors.conftest import (
    call,
    card,
    charge,
    tx_of,
    upstream_payment,
    upstream_payments_of,
)


async def authorized(komoju: KomojuProcessor, amount: int = 1000) -> tuple[Charge, Transaction]:
    ch = charge(amount, capture=False)
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, Approved) and not outcome.captured, outcome
    return ch, tx_of(ch, outcome.reference)


async def test_partial_capture_then_a_second_capture_is_not_capturable(
    komoju: KomojuProcessor, up: httpx.Client
) -> None:
    _, tx = await authorized(komoju, 1000)
    assert await komoju.capture(call(), tx, 800) == Approved(True, tx.reference)
    paid = upstream_payment(up, tx.reference or "")
    assert (paid["status"], paid["amount"]) == ("captured", 800)
    again = await komoju.capture(call(), tx, 800)
    assert isinstance(again, Declined) and again.code == "not_capturable", again


async def test_partial_refunds_add_up_and_never_exceed_the_capture(
    komoju: KomojuProcessor, up: httpx.Client
) -> None:
    outcome = await komoju.authorize(call(), ch := charge(1000))
    assert isinstance(outcome, Approved)
    tx = tx_of(ch, outcome.reference)
    assert await komoju.refund(call(), tx, 300) == Approved(True, tx.reference)
    assert upstream_payment(up, tx.reference or "")["amount_refunded"] == 300
    too_much = await komoju.refund(call(), tx, 800)
    assert isinstance(too_much, Declined) and too_much.code == "not_refundable", too_much
    assert await komoju.refund(call(), tx, 700) == Approved(True, tx.reference)
    paid = upstream_payment(up, tx.reference or "")
    assert (paid["status"], paid["amount_refunded"]) == ("refunded", 1000)


async def test_cancel_an_authorization_and_not_a_capture(
    komoju: KomojuProcessor, up: httpx.Client
) -> None:
    _, tx = await authorized(komoju)
    assert await komoju.cancel(call(), tx) == Approved(False, tx.reference)
    assert upstream_payment(up, tx.reference or "")["status"] == "cancelled"
    outcome = await komoju.authorize(call(), ch := charge())
    assert isinstance(outcome, Approved)
    refused = await komoju.cancel(call(), tx_of(ch, outcome.reference))
    assert isinstance(refused, Declined) and refused.code == "not_cancellable", refused


async def test_a_payment_without_reference_is_declined_without_asking(
    komoju: KomojuProcessor,
) -> None:
    tx = tx_of(charge(), None)
    for result in (
        await komoju.capture(call(), tx, 100),
        await komoju.refund(call(), tx, 100),
        await komoju.cancel(call(), tx),
    ):
        assert isinstance(result, Declined) and result.code == "request_failed", result


# --------------------------------------------------------------------------- idempotency


@pytest.mark.parametrize("number", ["4111111111111111", "4123111111111059", "4100000000005000"])
async def test_the_same_operation_twice_is_one_upstream_payment(
    komoju: KomojuProcessor, up: httpx.Client, number: str
) -> None:
    ch, op = charge(number=number), call()
    first = await komoju.authorize(op, ch)
    second = await komoju.authorize(op, ch)
    assert first == second
    if isinstance(first, NeedsAction):
        assert first.redirect_url
    assert len(upstream_payments_of(up, ch.payment_id)) == 1


async def test_a_retried_capture_or_refund_moves_money_once(
    komoju: KomojuProcessor, up: httpx.Client
) -> None:
    _, tx = await authorized(komoju, 1000)
    op = call()
    assert await komoju.capture(op, tx, 1000) == await komoju.capture(op, tx, 1000)
    refund = call()
    for _ in range(3):
        assert await komoju.refund(refund, tx, 400) == Approved(True, tx.reference)
    paid = upstream_payment(up, tx.reference or "")
    assert (paid["status"], paid["amount_refunded"]) == ("captured", 400)
    assert len(paid["refunds"]) == 1
    assert paid["refunds"][0]["description"] == f"kessai refund {refund.operation_id}"


# --------------------------------------------------------------------------- vault


@pytest.mark.parametrize("verify", [False, True])
async def test_a_vaulted_card_is_a_customer_charged_again_and_again(
    komoju: KomojuProcessor, up: httpx.Client, verify: bool
) -> None:
    """kessai keeps vaulted references on its customers and charges them later: without
    verification too, the reference is a KOMOJU customer, never a single-use token."""
    vaulted = await komoju.vault(call(), card(), verify=verify)
    assert isinstance(vaulted, Vaulted), vaulted
    assert vaulted.reference.startswith("komoju:customer:")
    assert "4111" not in vaulted.reference
    references = []
    for amount in (1500, 800):  # two kessai operations (two operation ids)
        ch = charge(amount, number=None, card_reference=vaulted.reference)
        outcome = await komoju.authorize(call(), ch)
        assert isinstance(outcome, Approved) and outcome.captured, outcome
        paid = upstream_payment(up, outcome.reference or "")
        assert (paid["status"], paid["amount"]) == ("captured", amount)
        assert paid["payment_details"]["last_four_digits"] == "1111"
        references.append(outcome.reference)
    assert len(set(references)) == 2


async def test_a_card_komoju_declines_is_refused_at_vault_time_even_without_verify(
    komoju: KomojuProcessor,
) -> None:
    declined = await komoju.vault(call(), card("4123111111111059"), verify=False)
    assert isinstance(declined, Declined) and declined.code == "card_declined", declined


async def test_an_old_token_reference_is_still_charged(
    komoju: KomojuProcessor, up: httpx.Client
) -> None:
    """References `komoju:token:<id>` stored by earlier versions keep working (once:
    a KOMOJU token is single-use)."""
    the_card = card()
    resp = up.post(
        "/tokens",
        json={
            "payment_details": {
                "type": "credit_card",
                "number": the_card.number,
                "month": the_card.month,
                "year": the_card.year,
                "verification_value": the_card.verification_value,
            }
        },
    )
    assert resp.status_code == 200, resp.text
    ch = charge(600, number=None, card_reference="komoju:token:" + resp.json()["id"])
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, Approved) and outcome.captured, outcome
    assert upstream_payment(up, outcome.reference or "")["amount"] == 600


async def test_a_vaulted_customer_is_charged_by_the_merchant(
    komoju: KomojuProcessor, up: httpx.Client
) -> None:
    vaulted = await komoju.vault(call(), card(), verify=True)
    assert isinstance(vaulted, Vaulted), vaulted
    assert vaulted.reference.startswith("komoju:customer:")
    customer_id = vaulted.reference.removeprefix("komoju:customer:")
    resp = up.get(f"/customers/{customer_id}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["source"]["last_four_digits"] == "1111"
    for _ in range(2):  # a customer can be charged again and again
        ch = charge(700, number=None, card_reference=vaulted.reference, customer_present=False)
        outcome = await komoju.authorize(call(), ch)
        assert isinstance(outcome, Approved) and outcome.captured, outcome
        assert upstream_payment(up, outcome.reference or "")["customer"] == customer_id


async def test_vault_with_verify_declines_a_bad_card(komoju: KomojuProcessor) -> None:
    declined = await komoju.vault(call(), card("4123111111111059"), verify=True)
    assert isinstance(declined, Declined) and declined.code == "card_declined", declined


async def test_a_vault_scenario_is_passed_on_and_the_upstream_applies_it(
    komoju: KomojuProcessor,
) -> None:
    """Upstream, `Komoju-Scenario` on a customer forces the decline on its payments."""
    vaulted = await komoju.vault(call(), card(), verify=True, scenario="insufficient_funds")
    assert isinstance(vaulted, Vaulted), vaulted
    ch = charge(number=None, card_reference=vaulted.reference, customer_present=False)
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, Declined) and outcome.code == "insufficient_funds", outcome


async def test_a_charge_scenario_is_passed_on(komoju: KomojuProcessor, up: httpx.Client) -> None:
    ch = charge(scenario="exceeds_limit")
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, Declined) and outcome.code == "exceeds_limit", outcome
    [failed] = upstream_payments_of(up, ch.payment_id)
    assert failed["status"] == "failed"


async def test_a_reference_from_another_processor_is_declined(komoju: KomojuProcessor) -> None:
    ch = charge(number=None, card_reference="sim:approve:")
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, Declined) and outcome.code == "request_failed", outcome
