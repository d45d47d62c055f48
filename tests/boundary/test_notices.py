"""KOMOJU's webhooks to the KOMOJU processor: signed with the merchant's webhook secret,
applied with the same conditional moves as everything else, and harmless when repeated."""

from __future__ import annotations

import json
from typing import Any

import httpx

from kessai.store.processors import set_config
from kessai.worker.signing import sign
from tests.boundary.conftest import Gateway

SECRET = "whsec-boundary"
HOOK = "/kessai/v1/processors/komoju/webhooks/{}"
KONBINI = {"type": "konbini", "store": "lawson", "email": "shopper@example.com"}
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
