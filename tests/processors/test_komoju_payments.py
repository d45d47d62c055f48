"""The KOMOJU processor's payments against a real upstream: cards (approved, declined,
3-D Secure), cash types and wallets, and how `complete` reads the end of a redirect."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from kessai.processors.base import (
    Approved,
    AwaitingCustomer,
    Declined,
    NeedsAction,
)
from kessai.processors.komoju import KomojuConfig, KomojuProcessor
from tests.api.helpers import answer_3ds, drive_offsite
from tests.conftest import Server
from tests.processors.conftest import GOOD, call, charge, tx_of, upstream_payment

DECLINES = [
    ("4123111111111000", "insufficient_funds"),
    ("4123111111111018", "exceeds_limit"),
    ("4123111111111034", "bad_verification_value"),
    ("4123111111111042", "card_expired"),
    ("4123111111111059", "card_declined"),
    ("4123111111111067", "invalid_number"),
    ("4123111111111075", "invalid_number"),
]


@pytest.mark.parametrize("capture", [True, False])
async def test_approved_card_is_one_upstream_payment_marked_with_kessais_ids(
    komoju: KomojuProcessor, up: httpx.Client, capture: bool
) -> None:
    ch = charge(1234, capture=capture)
    op = call()
    outcome = await komoju.authorize(op, ch)
    assert isinstance(outcome, Approved), outcome
    assert outcome.captured is capture
    assert outcome.reference
    paid = upstream_payment(up, outcome.reference)
    assert paid["status"] == ("captured" if capture else "authorized")
    assert (paid["amount"], paid["tax"], paid["currency"]) == (1234, 0, "JPY")
    assert paid["external_order_num"] == ch.payment_id
    assert paid["metadata"] == {
        "kessai_payment": ch.payment_id,
        "kessai_operation": op.operation_id,
    }
    assert paid["payment_details"]["last_four_digits"] == GOOD[-4:]


@pytest.mark.parametrize(("number", "code"), DECLINES)
async def test_test_card_declines_come_back_with_their_code(
    komoju: KomojuProcessor, number: str, code: str
) -> None:
    outcome = await komoju.authorize(call(), charge(number=number))
    assert isinstance(outcome, Declined), outcome
    assert outcome.code == code
    assert outcome.message
    assert number not in outcome.message


@pytest.mark.parametrize("number", ["4100000000000100", "5100000000000107"])
async def test_frictionless_three_d_secure_is_approved_at_once(
    komoju: KomojuProcessor, number: str
) -> None:
    outcome = await komoju.authorize(call(), charge(number=number))
    assert isinstance(outcome, Approved) and outcome.captured, outcome


async def test_three_d_secure_challenge_sends_the_customer_to_the_upstream_page(
    komoju: KomojuProcessor, upstream: Server, up: httpx.Client
) -> None:
    ch = charge(number="4100000000005000")
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, NeedsAction), outcome
    assert outcome.reference
    assert outcome.state == f"komoju:{outcome.reference}"
    assert outcome.redirect_url == f"{upstream.base_url}/three_d_secure/{outcome.reference}"
    tx = tx_of(ch, outcome.reference)
    # The customer has not answered yet: still waiting on KOMOJU's page.
    waiting = await komoju.complete(call(), tx, outcome.state, None)
    assert waiting == NeedsAction(outcome.state, outcome.redirect_url, outcome.reference)
    back = answer_3ds(outcome.redirect_url, "123456")
    assert back.status_code == 303, back.text
    assert back.headers["location"].startswith(ch.return_url or "?"), back.headers
    done = await komoju.complete(call(), tx, outcome.state, None)
    assert done == Approved(captured=True, reference=outcome.reference)
    assert upstream_payment(up, outcome.reference)["status"] == "captured"


@pytest.mark.parametrize("number", ["4100000000005000", "4100000000300005"])
async def test_failed_three_d_secure_is_declined(komoju: KomojuProcessor, number: str) -> None:
    ch = charge(number=number, capture=False)
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, NeedsAction) and outcome.redirect_url, outcome
    answer_3ds(outcome.redirect_url, "000000")
    done = await komoju.complete(call(), tx_of(ch, outcome.reference), outcome.state, None)
    assert isinstance(done, Declined) and done.code == "three_d_secure_failed", done


@pytest.mark.parametrize(
    ("ptype", "details", "expected"),
    [
        ("konbini", {"store": "lawson", "email": "k@example.com"}, {"receipt", "store"}),
        ("bank_transfer", {"email": "b@example.com"}, {"bank_name", "account_number"}),
        ("pay_easy", {"email": "p@example.com"}, {"bank_id", "confirmation_id"}),
    ],
)
async def test_cash_types_await_the_customer_with_upstream_instructions(
    komoju: KomojuProcessor,
    up: httpx.Client,
    ptype: str,
    details: dict[str, str],
    expected: set[str],
) -> None:
    ch = charge(2000, payment_type=ptype, details=details, expiry_days=9)
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, AwaitingCustomer), outcome
    assert outcome.reference
    assert expected <= set(outcome.details), outcome.details
    assert "type" not in outcome.details
    paid = upstream_payment(up, outcome.reference)
    assert paid["status"] == "authorized"
    # kessai's expiry_days went upstream, and KOMOJU's own deadline came back.
    deadline = datetime.fromisoformat(paid["payment_deadline"])
    created = datetime.fromisoformat(paid["created_at"])
    assert timedelta(days=9) <= deadline - created < timedelta(days=9, minutes=1)
    assert outcome.details["payment_deadline"] == paid["payment_deadline"]
    assert outcome.details["instructions_url"] == paid["payment_details"]["instructions_url"]
    if ptype == "konbini":
        assert outcome.details["receipt"] == paid["payment_details"]["receipt"]


@pytest.mark.parametrize(("action", "expected"), [("capture", "approved"), ("fail", "declined")])
async def test_wallet_goes_offsite_and_complete_reads_how_it_ended(
    komoju: KomojuProcessor, upstream: Server, action: str, expected: str
) -> None:
    ch = charge(3000, payment_type="paypay")
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, NeedsAction), outcome
    assert outcome.redirect_url == f"{upstream.base_url}/offsite/{outcome.reference}"
    drive_offsite(outcome.redirect_url, action)
    done = await komoju.complete(call(), tx_of(ch, outcome.reference), outcome.state, None)
    if expected == "approved":
        assert done == Approved(captured=True, reference=outcome.reference)
    else:
        assert isinstance(done, Declined) and done.code == "request_failed", done


async def test_amount_is_sent_whole_with_no_tax(komoju: KomojuProcessor, up: httpx.Client) -> None:
    """kessai's charge amount already holds the tax: KOMOJU gets it as `amount`."""
    outcome = await komoju.authorize(call(), charge(1100))
    assert isinstance(outcome, Approved) and outcome.reference
    paid = upstream_payment(up, outcome.reference)
    assert (paid["amount"], paid["tax"], paid["total"]) == (1100, 0, 1100)


async def test_a_wrong_secret_key_is_processor_unavailable(upstream: Server) -> None:
    bad = KomojuProcessor(KomojuConfig(upstream.base_url, "sk_test_" + "0" * 32))
    try:
        outcome = await bad.authorize(call(), charge())
    finally:
        await bad.aclose()
    assert isinstance(outcome, Declined) and outcome.code == "processor_unavailable", outcome
