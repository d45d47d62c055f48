"""Requests the chargeback tests send, each answer checked against KOMOJU's SDK schemas."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.api.helpers import card, payment_of
from tests.conftest import Merchant, Server, assert_schema

WON_CARD, LOST_CARD = "4123111111111208", "4123111111111216"
DAY = 86_400
# A 1x1 PNG, and the leading bytes of the other document types kessai takes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 16
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


@contextmanager
def shop(server: Server, name: str) -> Iterator[tuple[Merchant, httpx.Client]]:
    """A merchant of its own (its own test clock) and its API client."""
    merchant = server.merchant(name)
    with merchant.client() as client:
        yield merchant, client


def kessai_url(api: httpx.Client, path: str) -> str:
    return str(api.base_url.copy_with(path=f"/kessai/v1{path}"))


def paid(api: httpx.Client, number: str = WON_CARD, **params: Any) -> dict[str, Any]:
    """A captured card payment (1000 JPY unless `params` say otherwise)."""
    body = {"amount": 1000, "currency": "JPY", "payment_details": card(number), **params}
    headers = body.pop("headers", {})
    payment = payment_of(api.post("/payments", json=body, headers=headers))
    assert payment["status"] == "captured", payment
    return payment


def listed(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    resp = api.get("/chargeback_requests", params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_schema(body, "ChargebackRequestList")
    assert body["resource"] == "list"
    for item in body["data"]:
        assert_schema(item, "ChargebackRequestListItem")
    return list(body["data"])


def detail(api: httpx.Client, chargeback_id: str) -> dict[str, Any]:
    resp = api.get(f"/chargeback_requests/{chargeback_id}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_schema(body, "ChargebackRequestDetail")
    return dict(body)


def only_chargeback(api: httpx.Client, payment_id: str) -> dict[str, Any]:
    found = listed(api, payment_id=payment_id)
    assert len(found) == 1, found
    return detail(api, found[0]["id"])


def open_now(api: httpx.Client, payment_id: str, **body: Any) -> dict[str, Any]:
    """The merchant's test tool: a chargeback opened on the payment at once."""
    resp = api.post(kessai_url(api, "/chargebacks"), json={"payment_id": payment_id, **body})
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "ChargebackRequestDetail")
    return dict(resp.json())


def defense(content: bytes = PNG, **extra: Any) -> dict[str, Any]:
    return {
        "description": "Delivered on 20 May and signed for by the cardholder.",
        "document": {
            "document_base64": base64.b64encode(content).decode(),
            "filename": "receipt.png",
        },
        **extra,
    }


def answer(api: httpx.Client, chargeback_id: str, how: str, body: Any = None) -> httpx.Response:
    """POST .../accept (no body) or .../defend (`body`, a good defense by default)."""
    path = f"/chargeback_requests/{chargeback_id}/{how}"
    if how == "accept":
        return api.post(path)
    return api.post(path, json=defense() if body is None else body)


def balance(api: httpx.Client) -> int:
    resp = api.get("/balances/JPY")
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "ShowBalance200Response")
    return int(resp.json()["total_balance_cents"])


def ledger_lines(api: httpx.Client, type_: str) -> list[dict[str, Any]]:
    resp = api.get("/balances/JPY/transactions", params={"type": type_, "per_page": 100})
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "BalanceTransactionList")
    return list(resp.json()["data"])


def chargeback_events(api: httpx.Client, chargeback_id: str) -> list[str]:
    """The chargeback.* event types about this chargeback, oldest first; each event's data
    is the ChargebackRequestDetail as it was."""
    resp = api.get("/events", params={"per_page": 100})
    assert resp.status_code == 200, resp.text
    found = []
    for event in reversed(resp.json()["data"]):
        if event["type"].startswith("chargeback.") and event["data"]["id"] == chargeback_id:
            assert_schema(event, "Event")
            assert_schema(event["data"], "ChargebackRequestDetail")
            assert event["data"]["last_updated_at"] == event["created_at"], event
            found.append(event["type"])
    return found


def refund(api: httpx.Client, payment_id: str, amount: int | None = None) -> httpx.Response:
    return api.post(
        f"/payments/{payment_id}/refund", json={} if amount is None else {"amount": amount}
    )
