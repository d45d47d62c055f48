"""Refunds and refund requests of /api/v1/payments/{id} (contract section 3)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    ID_RE,
    UNKNOWN_ID,
    authorized_payment,
    captured_cash_payment,
    card,
    cash_details,
    create_payment,
    drive_offsite,
    get_payment,
    parse_time,
    payment_of,
)
from tests.conftest import Merchant, assert_error, assert_schema


def refund(client: httpx.Client, payment_id: str, **body: Any) -> httpx.Response:
    return client.post(f"/payments/{payment_id}/refund", json=body or None)


# --- refunds --------------------------------------------------------------------------------


def test_partial_refunds_until_used_up(api: httpx.Client) -> None:
    payment = create_payment(api, amount=1000)
    steps = [(300, "first"), (250, "second"), (449, "third")]
    refunded = 0
    for i, (amount, description) in enumerate(steps):
        after = payment_of(refund(api, payment["id"], amount=amount, description=description))
        refunded += amount
        assert after["status"] == "captured", after
        assert after["amount_refunded"] == refunded
        assert after["amount"] == 1000
        assert len(after["refunds"]) == i + 1
        entry = next(r for r in after["refunds"] if r["description"] == description)
        assert_schema(entry, "Refund")
        assert ID_RE.match(entry["id"]), entry
        assert entry["resource"] == "refund"
        assert entry["amount"] == amount
        assert entry["currency"] == "JPY"
        assert entry["payment"] == payment["id"]
        assert entry["chargeback"] is False
        assert parse_time(entry["created_at"]) >= parse_time(payment["created_at"])
        assert get_payment(api, payment["id"]) == after
    assert len({r["id"] for r in after["refunds"]}) == 3

    assert_error(refund(api, payment["id"], amount=2), 422, "not_refundable")
    last = payment_of(refund(api, payment["id"], amount=1))
    assert last["status"] == "refunded"
    assert last["amount_refunded"] == 1000
    assert sum(r["amount"] for r in last["refunds"]) == 1000
    assert len(last["refunds"]) == 4

    assert_error(refund(api, payment["id"], amount=1), 422, "not_refundable")
    assert_error(refund(api, payment["id"]), 422, "not_refundable")
    final = get_payment(api, payment["id"])
    assert final == last


def test_refund_without_amount_refunds_what_is_left(api: httpx.Client) -> None:
    payment = create_payment(api, amount=1500)
    partial = payment_of(refund(api, payment["id"], amount=500))
    assert partial["status"] == "captured"
    rest = payment_of(api.post(f"/payments/{payment['id']}/refund"))
    assert rest["status"] == "refunded"
    assert rest["amount_refunded"] == 1500
    assert sorted(r["amount"] for r in rest["refunds"]) == [500, 1000]


def test_full_refund_at_once(api: httpx.Client) -> None:
    payment = create_payment(api, amount=700)
    done = payment_of(refund(api, payment["id"], amount=700, description="out of stock"))
    assert done["status"] == "refunded"
    assert done["amount_refunded"] == 700
    assert done["refunds"][0]["description"] == "out of stock"
    assert done["captured_at"] == payment["captured_at"]


def test_refund_with_form_body(api: httpx.Client) -> None:
    payment = create_payment(api, amount=1000)
    after = payment_of(
        api.post(f"/payments/{payment['id']}/refund", data={"amount": "100", "description": "f"})
    )
    assert after["amount_refunded"] == 100
    assert after["refunds"][0]["description"] == "f"


def test_refund_usd_payment(api: httpx.Client) -> None:
    payment = create_payment(api, amount=2599, currency="USD")
    after = payment_of(refund(api, payment["id"], amount=1099))
    assert after["amount_refunded"] == 1099
    assert after["refunds"][0]["currency"] == "USD"


def test_refund_more_than_captured_is_not_refundable(api: httpx.Client) -> None:
    payment = create_payment(api, amount=1000)
    assert_error(refund(api, payment["id"], amount=1001), 422, "not_refundable")
    payment_of(refund(api, payment["id"], amount=600))
    assert_error(refund(api, payment["id"], amount=401), 422, "not_refundable")
    after = get_payment(api, payment["id"])
    assert after["amount_refunded"] == 600
    assert len(after["refunds"]) == 1
    assert after["status"] == "captured"


@pytest.mark.parametrize(
    "amount,code",
    [(-1, "invalid_parameter"), (10.5, "invalid_parameter"), ("x", "invalid_parameter")],
)
def test_refund_bad_amount_is_422(api: httpx.Client, amount: Any, code: str) -> None:
    payment = create_payment(api)
    assert_error(refund(api, payment["id"], amount=amount), 422, code, "amount")
    after = get_payment(api, payment["id"])
    assert after["amount_refunded"] == 0 and after["refunds"] == []


def test_refund_zero_does_not_change_anything(api: httpx.Client) -> None:
    payment = create_payment(api)
    resp = refund(api, payment["id"], amount=0)
    after = get_payment(api, payment["id"])
    assert after["amount_refunded"] == 0
    assert after["status"] == "captured"
    if resp.status_code != 200:
        assert resp.status_code == 422, resp.text
        assert_error(resp, 422, resp.json()["error"]["code"])


def test_refund_authorized_is_not_refundable(api: httpx.Client) -> None:
    payment = authorized_payment(api)
    assert_error(refund(api, payment["id"], amount=100), 422, "not_refundable")
    assert_error(refund(api, payment["id"]), 422, "not_refundable")
    after = get_payment(api, payment["id"])
    assert after["status"] == "authorized"
    assert after["amount_refunded"] == 0


def test_refund_refunded_is_not_refundable(api: httpx.Client) -> None:
    payment = create_payment(api)
    payment_of(refund(api, payment["id"]))
    assert_error(refund(api, payment["id"]), 422, "not_refundable")
    assert_error(refund(api, payment["id"], amount=1), 422, "not_refundable")


def test_refund_failed_and_cancelled_are_not_refundable(api: httpx.Client) -> None:
    resp = api.post(
        "/payments",
        json={"amount": 1000, "currency": "JPY", "payment_details": card("4123111111111059")},
    )
    failed = assert_error(resp, 402, "card_declined")["error"]["details"]["payment"]
    assert_error(refund(api, failed["id"]), 422, "not_refundable")
    cancelled = authorized_payment(api)
    payment_of(api.post(f"/payments/{cancelled['id']}/cancel"))
    assert_error(refund(api, cancelled["id"]), 422, "not_refundable")


def test_refund_after_partial_capture(api: httpx.Client) -> None:
    payment = authorized_payment(api, amount=2000)
    payment_of(api.post(f"/payments/{payment['id']}/capture", json={"amount": 1200}))
    assert_error(refund(api, payment["id"], amount=1201), 422, "not_refundable")
    after = payment_of(refund(api, payment["id"], amount=1200))
    assert after["status"] == "refunded"
    assert after["amount_refunded"] == 1200


def test_refund_captured_wallet_payment(api: httpx.Client) -> None:
    payment = create_payment(api, payment_details={"type": "paypay"})
    drive_offsite(payment["payment_details"]["redirect_url"], "capture")
    assert get_payment(api, payment["id"])["status"] == "captured"
    after = payment_of(refund(api, payment["id"], amount=400))
    assert after["amount_refunded"] == 400
    assert after["status"] == "captured"


def test_refund_cash_payment_is_not_refundable(api: httpx.Client, merchant: Merchant) -> None:
    payment = captured_cash_payment(api, merchant.server.base_url, "konbini")
    assert_error(refund(api, payment["id"]), 422, "not_refundable")
    assert_error(refund(api, payment["id"], amount=100), 422, "not_refundable")
    after = get_payment(api, payment["id"])
    assert after["amount_refunded"] == 0
    assert after["status"] == "captured"


def test_refund_unknown_is_404(api: httpx.Client) -> None:
    assert_error(refund(api, UNKNOWN_ID), 404, "not_found")


def test_refund_with_publishable_key_is_403(api: httpx.Client, public_api: httpx.Client) -> None:
    payment = create_payment(api)
    assert_error(refund(public_api, payment["id"]), 403, "forbidden")
    assert get_payment(api, payment["id"])["amount_refunded"] == 0


# --- refund requests (cash-type payments) ---------------------------------------------------

BANK = {
    "customer_name": "ﾔﾏﾀﾞ ﾀﾛｳ",
    "bank_name": "Mizuho",
    "bank_code": "0001",
    "branch_name": "Tokyo",
    "branch_number": "123",
    "account_type": "normal",
    "account_number": "1234567",
    "include_payment_method_fee": False,
}


def refund_request(client: httpx.Client, payment_id: str, **body: Any) -> httpx.Response:
    return client.post(f"/payments/{payment_id}/refund_request", json=body)


@pytest.mark.parametrize("ptype", ["konbini", "bank_transfer", "pay_easy"])
def test_refund_request_on_paid_cash_payment(
    api: httpx.Client, merchant: Merchant, ptype: str
) -> None:
    payment = captured_cash_payment(api, merchant.server.base_url, ptype, amount=1800)
    resp = refund_request(api, payment["id"], amount=1800, description="returned", **BANK)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    if body.get("resource") == "payment":
        assert_schema(body, "Payment")
        requests = body["refund_requests"]
    else:
        assert_schema(body, "RefundRequest")
        requests = [body]
    assert len(requests) == 1
    request = requests[0]
    assert_schema(request, "RefundRequest")
    assert ID_RE.match(request["id"]), request
    assert request["payment"] == payment["id"]
    assert request["status"] == "pending"
    assert request["customer_name"] == BANK["customer_name"]
    assert request["bank_name"] == "Mizuho"
    assert request["branch_number"] == "123"
    assert request["account_number"] == "1234567"
    stored = get_payment(api, payment["id"])
    assert [r["id"] for r in stored["refund_requests"]] == [request["id"]]
    assert_schema(stored["refund_requests"][0], "RefundRequest")
    assert stored["status"] == "captured"


def test_refund_request_without_optional_bank_fields(api: httpx.Client, merchant: Merchant) -> None:
    payment = captured_cash_payment(api, merchant.server.base_url, "konbini")
    minimal = {k: v for k, v in BANK.items() if k not in ("bank_code", "branch_name")}
    resp = refund_request(api, payment["id"], amount=500, **minimal)
    assert resp.status_code == 200, resp.text
    stored = get_payment(api, payment["id"])
    assert len(stored["refund_requests"]) == 1
    assert_schema(stored["refund_requests"][0], "RefundRequest")


def test_refund_request_on_card_payment_is_not_refundable(api: httpx.Client) -> None:
    payment = create_payment(api)
    resp = refund_request(api, payment["id"], amount=1000, **BANK)
    assert_error(resp, 422, "not_refundable")
    assert get_payment(api, payment["id"])["refund_requests"] == []


def test_refund_request_on_unpaid_konbini_is_not_refundable(api: httpx.Client) -> None:
    payment = create_payment(api, payment_details=cash_details("konbini"))
    assert payment["status"] == "authorized"
    resp = refund_request(api, payment["id"], amount=1000, **BANK)
    assert_error(resp, 422, "not_refundable")
    assert get_payment(api, payment["id"])["refund_requests"] == []


def test_refund_request_more_than_paid_is_422(api: httpx.Client, merchant: Merchant) -> None:
    payment = captured_cash_payment(api, merchant.server.base_url, "konbini", amount=1000)
    resp = refund_request(api, payment["id"], amount=1001, **BANK)
    assert_error(resp, 422, "not_refundable")
    assert get_payment(api, payment["id"])["refund_requests"] == []


def test_refund_requests_never_exceed_what_was_paid(api: httpx.Client, merchant: Merchant) -> None:
    payment = captured_cash_payment(api, merchant.server.base_url, "pay_easy", amount=1000)
    assert refund_request(api, payment["id"], amount=600, **BANK).status_code == 200
    assert_error(refund_request(api, payment["id"], amount=600, **BANK), 422, "not_refundable")
    assert refund_request(api, payment["id"], amount=400, **BANK).status_code == 200
    stored = get_payment(api, payment["id"])
    assert len(stored["refund_requests"]) == 2
    assert all(r["status"] == "pending" for r in stored["refund_requests"])


@pytest.mark.parametrize(
    "field", ["customer_name", "bank_name", "branch_number", "account_type", "account_number"]
)
def test_refund_request_missing_field(api: httpx.Client, merchant: Merchant, field: str) -> None:
    payment = captured_cash_payment(api, merchant.server.base_url, "konbini")
    body = {k: v for k, v in BANK.items() if k != field}
    assert_error(
        refund_request(api, payment["id"], amount=1000, **body), 422, "missing_parameter", field
    )


@pytest.mark.parametrize(
    "field,value",
    [
        ("branch_number", "12"),
        ("account_number", "12345"),
        ("account_type", "gold"),
        ("bank_code", "12"),
    ],
)
def test_refund_request_bad_field(
    api: httpx.Client, merchant: Merchant, field: str, value: str
) -> None:
    payment = captured_cash_payment(api, merchant.server.base_url, "konbini")
    body = {**BANK, field: value}
    assert_error(
        refund_request(api, payment["id"], amount=1000, **body), 422, "invalid_parameter", field
    )


# --- tax and retries ------------------------------------------------------------------------


def test_full_refund_of_taxed_payment_returns_the_tax(api: httpx.Client) -> None:
    """The customer paid amount + tax; a refund amount is "with tax included" (SDK Refund)."""
    payment = create_payment(api, amount=1000, tax=100)
    total = payment["total"]
    assert total == 1100 + payment["payment_method_fee"]
    done = payment_of(api.post(f"/payments/{payment['id']}/refund"))
    assert done["status"] == "refunded"
    assert done["amount_refunded"] == 1100, done
    assert [r["amount"] for r in done["refunds"]] == [1100]
    explicit = create_payment(api, amount=1000, tax=100)
    partly = payment_of(refund(api, explicit["id"], amount=1050))
    assert partly["status"] == "captured"
    rest = payment_of(refund(api, explicit["id"], amount=50))
    assert rest["amount_refunded"] == 1100
    assert rest["status"] == "refunded"


def test_refund_retried_with_idempotency_key_refunds_once(api: httpx.Client) -> None:
    payment = create_payment(api, amount=1000)
    headers = {"X-KOMOJU-IDEMPOTENCY": "refund-" + payment["id"]}
    path = f"/payments/{payment['id']}/refund"
    first = api.post(path, json={"amount": 300}, headers=headers)
    second = api.post(path, json={"amount": 300}, headers=headers)
    assert payment_of(first) == payment_of(second)
    after = get_payment(api, payment["id"])
    assert after["amount_refunded"] == 300
    assert len(after["refunds"]) == 1
