"""KOMOJU webhooks as the processor reads them: real deliveries from the upstream (a
webhook endpoint pointing at a local receiver), and constructed bodies signed like kessai."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kessai.processors.base import Approved, AwaitingCustomer, Declined
from kessai.processors.komoju import KomojuProcessor
from kessai.processors.komoju_notices import SIGNATURE_HEADER, Notice, parse, verify
from kessai.worker.signing import sign
from tests.api.helpers import simulate_cash_payment
from tests.conftest import Merchant, Server
from tests.processors.conftest import call, charge, tx_of
from tests.webhooks.receiver import Received, Receiver


@pytest.fixture(scope="module")
def hooks(upstream: Server, shop: Merchant) -> Iterator[tuple[Receiver, str]]:
    """A local receiver, and the upstream webhook endpoint (its secret) pointing at it."""
    receiver = Receiver()
    receiver.up()
    try:
        with httpx.Client(
            base_url=f"{upstream.base_url}/kessai/v1", auth=(shop.secret_key, ""), timeout=30
        ) as admin:
            resp = admin.post("/webhook_endpoints", json={"url": receiver.url})
            assert resp.status_code == 200, resp.text
            endpoint = resp.json()
        yield receiver, endpoint["secret"]
        with httpx.Client(
            base_url=f"{upstream.base_url}/kessai/v1", auth=(shop.secret_key, ""), timeout=30
        ) as admin:
            admin.delete(f"/webhook_endpoints/{endpoint['id']}")
    finally:
        receiver.down()


def delivered(receiver: Receiver, event_type: str, upstream_id: str) -> Received:
    def find(r: Receiver) -> Received | None:
        for req in r.snapshot():
            body = req.json()
            if body.get("type") == event_type and body.get("data", {}).get("id") == upstream_id:
                return req
        return None

    found = receiver.wait(find, 20, f"{event_type} of {upstream_id}")
    assert found is not None
    return found


async def test_a_real_cash_payment_webhook_verifies_and_names_kessais_payment(
    komoju: KomojuProcessor, upstream: Server, hooks: tuple[Receiver, str]
) -> None:
    receiver, secret = hooks
    ch = charge(2500, payment_type="konbini", details={"store": "lawson", "email": "w@ex.com"})
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, AwaitingCustomer) and outcome.reference, outcome
    simulate_cash_payment(upstream.base_url, outcome.reference)
    req = delivered(receiver, "payment.captured", outcome.reference)
    signature = req.headers[SIGNATURE_HEADER.lower()]
    assert verify(secret, req.body, signature)
    assert verify(secret, req.body, signature.upper())
    assert not verify(secret, req.body + b" ", signature)
    assert not verify(secret + "x", req.body, signature)
    assert not verify(secret, req.body, None)
    assert not verify(secret, req.body, "")
    assert not verify("", req.body, signature)
    notice = parse(req.body)
    assert notice == Notice(
        event_id=req.headers["x-komoju-id"],
        event_type="payment.captured",
        payment_id=ch.payment_id,
        upstream_id=outcome.reference,
        status="captured",
        amount=2500,
        amount_refunded=0,
        currency="JPY",
        failure_code=None,
        captured_at=req.json()["data"]["captured_at"],
    )
    assert notice.captured_at


async def test_a_real_refund_and_decline_webhook(
    komoju: KomojuProcessor, hooks: tuple[Receiver, str]
) -> None:
    receiver, secret = hooks
    ch = charge(1000)
    outcome = await komoju.authorize(call(), ch)
    assert isinstance(outcome, Approved) and outcome.reference
    assert isinstance(await komoju.refund(call(), tx_of(ch, outcome.reference), 400), Approved)
    req = delivered(receiver, "payment.refund.created", outcome.reference)
    assert verify(secret, req.body, req.headers["x-komoju-signature"])
    notice = parse(req.body)
    assert notice is not None
    assert (notice.payment_id, notice.status, notice.amount_refunded) == (
        ch.payment_id,
        "captured",
        400,
    )

    failed = charge(number="4123111111111000")
    declined = await komoju.authorize(call(), failed)
    assert isinstance(declined, Declined)
    listed = receiver.wait(
        lambda r: [
            q
            for q in r.snapshot()
            if q.json().get("type") == "payment.failed"
            and q.json()["data"].get("external_order_num") == failed.payment_id
        ],
        20,
        "payment.failed",
    )
    notice = parse(listed[0].body)
    assert notice is not None
    assert (notice.payment_id, notice.status, notice.failure_code) == (
        failed.payment_id,
        "failed",
        "insufficient_funds",
    )


def event(event_type: str, data: Any, **extra: Any) -> bytes:
    body = {"id": "e" * 25, "resource": "event", "type": event_type, "data": data, **extra}
    return json.dumps(body).encode()


def test_constructed_events_signed_like_kessai() -> None:
    body = event(
        "payment.expired",
        {"id": "u" * 25, "status": "expired", "amount": 900, "amount_refunded": 0,
         "currency": "JPY", "metadata": {"kessai_payment": "k" * 25}, "captured_at": None},
        reason=None,
    )  # fmt: skip
    assert verify("whsec", body, sign("whsec", body))
    notice = parse(body)
    assert notice is not None
    assert (notice.event_type, notice.payment_id, notice.status) == (
        "payment.expired",
        "k" * 25,
        "expired",
    )
    assert notice.failure_code is None and notice.captured_at is None


@pytest.mark.parametrize(
    "body",
    [
        event("ping", {}),
        event("customer.created", {"id": "c" * 25, "metadata": {"kessai_payment": "x"}}),
        event("payment.captured", {"id": "u" * 25, "status": "captured", "metadata": {}}),
        event("payment.captured", {"id": "u" * 25, "status": "captured"}),
    ],
    ids=["ping", "customer", "not-kessais", "no-metadata"],
)
def test_events_kessai_cannot_apply_are_none(body: bytes) -> None:
    assert parse(body) is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1]",
        json.dumps({"type": "payment.captured"}).encode(),
        event("payment.captured", {"status": "captured", "metadata": {"kessai_payment": "k"}}),
    ],
    ids=["text", "bytes", "list", "no-id", "payment-without-id"],
)
def test_bodies_that_are_no_komoju_event_raise(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse(body)
