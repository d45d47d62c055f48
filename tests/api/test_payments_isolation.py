"""Payments and customers belong to one merchant: any other key gets 404 (contract section 1)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    authorized_payment,
    captured_cash_payment,
    create_payment,
    get_payment,
)
from tests.conftest import CARD, Merchant, Server, assert_error, assert_schema

BANK = {
    "customer_name": "ﾔﾏﾀﾞ ﾀﾛｳ",
    "bank_name": "Mizuho",
    "branch_number": "123",
    "account_type": "normal",
    "account_number": "1234567",
    "include_payment_method_fee": False,
}


@pytest.fixture(scope="module")
def intruder(server: Server) -> Merchant:
    return server.merchant("Intruder Shop")


@pytest.fixture
def theirs(intruder: Merchant) -> Any:
    with intruder.client() as client:
        yield client


def _payment_calls(pid: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/payments/{pid}", None),
        ("PATCH", f"/payments/{pid}", {"description": "pwned", "metadata": {"x": "y"}}),
        ("POST", f"/payments/{pid}/capture", {}),
        ("POST", f"/payments/{pid}/capture", {"amount": 1}),
        ("POST", f"/payments/{pid}/refund", {}),
        ("POST", f"/payments/{pid}/refund", {"amount": 1}),
        ("POST", f"/payments/{pid}/cancel", None),
        ("POST", f"/payments/{pid}/refund_request", {"amount": 100, **BANK}),
    ]


@pytest.mark.parametrize("state", ["authorized", "captured", "cash-paid"])
def test_other_merchant_gets_404_on_every_payment_endpoint(
    api: httpx.Client, merchant: Merchant, theirs: httpx.Client, state: str
) -> None:
    if state == "authorized":
        payment = authorized_payment(api, description="mine", metadata={"k": "v"})
    elif state == "captured":
        payment = create_payment(api, description="mine", metadata={"k": "v"})
    else:
        payment = captured_cash_payment(api, merchant.server.base_url, "konbini")
    for method, path, body in _payment_calls(payment["id"]):
        resp = theirs.request(method, path, json=body)
        assert_error(resp, 404, "not_found")
    assert get_payment(api, payment["id"]) == payment


def test_other_merchants_list_does_not_show_payment(
    api: httpx.Client, theirs: httpx.Client
) -> None:
    payment = create_payment(api, external_order_num="iso-" + "x" * 8)
    body = theirs.get("/payments", params={"external_order_num": payment["external_order_num"]})
    assert body.status_code == 200, body.text
    assert body.json()["total"] == 0 and body.json()["data"] == []
    everything = theirs.get("/payments", params={"per_page": 100}).json()
    assert payment["id"] not in [p["id"] for p in everything["data"]]


def test_other_merchant_gets_404_on_every_customer_endpoint(
    api: httpx.Client, theirs: httpx.Client
) -> None:
    resp = api.post(
        "/customers",
        json={"email": "a@example.com", "metadata": {"k": "v"}, "payment_details": CARD},
    )
    assert resp.status_code == 200, resp.text
    customer = resp.json()
    cid = customer["id"]
    assert_error(theirs.get(f"/customers/{cid}"), 404, "not_found")
    assert_error(
        theirs.patch(f"/customers/{cid}", json={"email": "b@example.com"}), 404, "not_found"
    )
    assert_error(
        theirs.patch(f"/customers/{cid}", json={"payment_details": CARD}), 404, "not_found"
    )
    assert_error(theirs.delete(f"/customers/{cid}"), 404, "not_found")
    listed = theirs.get("/customers", params={"per_page": 100})
    assert listed.status_code == 200, listed.text
    assert cid not in [c["id"] for c in listed.json()["data"]]
    after = api.get(f"/customers/{cid}")
    assert after.status_code == 200, after.text
    assert after.json() == customer
    assert_schema(after.json(), "Customer")


def test_owner_still_works_after_intrusion(api: httpx.Client, theirs: httpx.Client) -> None:
    payment = authorized_payment(api, amount=1000)
    for method, path, body in _payment_calls(payment["id"]):
        theirs.request(method, path, json=body)
    captured = api.post(f"/payments/{payment['id']}/capture", json={"amount": 800})
    assert captured.status_code == 200, captured.text
    assert captured.json()["amount"] == 800
    refunded = api.post(f"/payments/{payment['id']}/refund")
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["amount_refunded"] == 800


def test_intruders_payments_are_invisible_to_owner(api: httpx.Client, theirs: httpx.Client) -> None:
    their_payment = create_payment(theirs)
    for method, path, body in _payment_calls(their_payment["id"]):
        assert_error(api.request(method, path, json=body), 404, "not_found")
    assert get_payment(theirs, their_payment["id"]) == their_payment


def test_publishable_key_of_owner_is_not_enough(
    api: httpx.Client, public_api: httpx.Client
) -> None:
    payment = authorized_payment(api)
    for method, path, body in _payment_calls(payment["id"]):
        assert_error(public_api.request(method, path, json=body), 403, "forbidden")
    assert get_payment(api, payment["id"]) == payment
