"""KOMOJU's webhooks to the KOMOJU processor: signed with the merchant's webhook secret,
applied with the same conditional moves as everything else, and harmless when repeated."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from kessai.processors.scripted import Unknown, Wait
from kessai.services.processor_config import Refused, set_processor
from kessai.store.processors import set_config
from kessai.worker.signing import sign
from tests.boundary.conftest import Gateway

SECRET = "whsec-boundary"
HOOK = "/kessai/v1/processors/komoju/webhooks/{}"
KONBINI = {"type": "konbini", "store": "lawson", "email": "shopper@example.com"}
CARD = {"type": "credit_card", "number": "4111111111111111", "month": 12, "year": 2035}
CHALLENGE = "4100000000005000"
KONBINI_PAYMENT = {"amount": 900, "currency": "JPY", "payment_details": KONBINI}


async def komoju_merchant(gw: Gateway) -> None:
    gw.processor.name = "komoju"
    async with gw.rt.db.transaction() as conn:
        config = {"api_url": "https://komoju.test", "secret_key": "sk_x", "webhook_secret": SECRET}
        await set_config(conn, gw.merchant_id, False, "komoju", config, gw.clock())


def event(payment_id: str, status: str, event_type: str, **data: Any) -> bytes:
    body = {
        "id": f"evt-{payment_id}-{status}",
        "type": event_type,
        "resource": "event",
        "data": {"id": "upstream1", "status": status, "metadata": {"kessai_payment": payment_id}}
        | data,
    }
    return json.dumps(body).encode()


async def deliver(gw: Gateway, body: bytes, secret: str = SECRET) -> httpx.Response:
    return await gw.client.post(
        HOOK.format(gw.merchant_id),
        content=body,
        headers={"X-Komoju-Signature": sign(secret, body), "Authorization": ""},
    )


async def test_konbini_paid_upstream_captures_once(gw: Gateway) -> None:
    await komoju_merchant(gw)
    made = await gw.post(
        "/payments", {"amount": 900, "currency": "JPY", "payment_details": KONBINI}
    )
    payment_id = made.json()["id"]
    assert made.json()["status"] == "authorized"
    body = event(payment_id, "captured", "payment.captured")
    first = await deliver(gw, body)
    assert first.status_code == 200 and first.json()["result"] == "captured"
    again = await deliver(gw, body)
    assert again.status_code == 200 and again.json()["result"] == "unchanged"
    assert (await gw.payment(payment_id))["status"] == "captured"
    assert len(await gw.events("payment.captured")) == 1


async def test_a_bad_signature_changes_nothing(gw: Gateway) -> None:
    await komoju_merchant(gw)
    made = await gw.post(
        "/payments", {"amount": 900, "currency": "JPY", "payment_details": KONBINI}
    )
    payment_id = made.json()["id"]
    forged = await deliver(gw, event(payment_id, "captured", "payment.captured"), "not-it")
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "unauthorized"
    assert (await gw.payment(payment_id))["status"] == "authorized"


async def test_expiry_and_unrelated_events(gw: Gateway) -> None:
    await komoju_merchant(gw)
    made = await gw.post(
        "/payments", {"amount": 900, "currency": "JPY", "payment_details": KONBINI}
    )
    payment_id = made.json()["id"]
    ping = json.dumps({"id": "evt-ping", "type": "ping", "data": {}}).encode()
    assert (await deliver(gw, ping)).json()["result"] == "ignored"
    stranger = await deliver(gw, event("a" * 25, "captured", "payment.captured"))
    assert stranger.json()["result"] == "unknown payment"
    expired = await deliver(gw, event(payment_id, "expired", "payment.expired"))
    assert expired.json()["result"] == "expired"
    assert (await gw.payment(payment_id))["status"] == "expired"
    assert len(await gw.events("payment.expired")) == 1


async def test_a_merchant_without_a_komoju_secret_refuses_webhooks(gw: Gateway) -> None:
    resp = await deliver(gw, event("a" * 25, "captured", "payment.captured"))
    assert resp.status_code == 404
    garbage = await gw.client.post(HOOK.format(gw.merchant_id), content=b"\xff\x00")
    assert garbage.status_code in (401, 404)


async def test_a_webhook_about_a_held_payment_is_refused_for_redelivery(gw: Gateway) -> None:
    await komoju_merchant(gw)
    payment_id = (await gw.post("/payments", KONBINI_PAYMENT)).json()["id"]
    gate = asyncio.Event()
    gw.processor.script("cancel", Wait(gate))
    cancelling = asyncio.create_task(gw.post(f"/payments/{payment_id}/cancel"))
    await gw.processor.reached("cancel")
    busy = await deliver(gw, event(payment_id, "captured", "payment.captured"))
    assert busy.status_code == 409  # KOMOJU delivers it again later
    gate.set()
    assert (await cancelling).status_code == 200
    assert (await gw.payment(payment_id))["status"] == "cancelled"


async def test_a_webhook_signed_for_one_mode_moves_only_that_modes_payments(gw: Gateway) -> None:
    await komoju_merchant(gw)
    payment_id = (await gw.post("/payments", KONBINI_PAYMENT)).json()["id"]  # test mode
    async with gw.rt.db.transaction() as conn:
        config = {"api_url": "https://komoju.test", "secret_key": "sk_x", "webhook_secret": "live"}
        await set_config(conn, gw.merchant_id, True, "komoju", config, gw.clock())
    signed_live = await deliver(gw, event(payment_id, "captured", "payment.captured"), "live")
    assert signed_live.json()["result"] == "unknown payment"
    assert (await gw.payment(payment_id))["status"] == "authorized"


async def test_a_payment_settled_after_its_session_was_paid_completes_nothing(
    gw: Gateway,
) -> None:
    """A 3-D Secure payment finished on KOMOJU's page after another card paid the session:
    kessai records the money KOMOJU took, and the session keeps its first payment."""
    await komoju_merchant(gw)
    session = (await gw.post("/sessions", {"amount": 800, "currency": "JPY"})).json()
    path = f"/sessions/{session['id']}/pay"
    waiting = (await gw.post(path, {"payment_details": {**CARD, "number": CHALLENGE}})).json()
    late_id = waiting["payment"]["id"]
    paid = (await gw.post(path, {"payment_details": CARD})).json()
    assert paid["status"] == "completed"
    settled = await deliver(gw, event(late_id, "captured", "payment.captured"))
    assert settled.json()["result"] == "captured"
    assert (await gw.payment(late_id))["status"] == "captured"
    shown = (await gw.get(f"/sessions/{session['id']}")).json()
    assert shown["payment"]["id"] == paid["payment"]["id"]
    assert len(await gw.events("payment.captured")) == 2


async def test_moving_a_mode_with_open_operations_to_another_processor_is_refused(
    gw: Gateway,
) -> None:
    gw.processor.script("authorize", Unknown())
    card_payment = {"amount": 500, "currency": "JPY", "payment_details": CARD}
    assert (await gw.post("/payments", card_payment)).status_code == 503
    config = {"api_url": "https://komoju.example", "secret_key": "sk_test_" + "k" * 20}
    async with gw.rt.db.transaction() as conn:
        with pytest.raises(Refused, match="waiting for their outcome"):
            await set_processor(conn, gw.merchant_id, False, "komoju", config, gw.clock())
