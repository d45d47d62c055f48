"""PATCH, capture and cancel of /api/v1/payments/{id} (contract section 3, Statuses and moves)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    UNKNOWN_ID,
    answer_3ds,
    authorized_payment,
    card,
    cash_details,
    create_payment,
    drive_offsite,
    get_payment,
    parse_time,
    payment_of,
    simulate_cash_payment,
)
from tests.conftest import Merchant, assert_error

# --- PATCH ----------------------------------------------------------------------------------


def test_patch_changes_description_and_metadata(api: httpx.Client) -> None:
    payment = create_payment(api, description="old", metadata={"a": "1"})
    resp = api.patch(
        f"/payments/{payment['id']}",
        json={"description": "new words", "metadata": {"a": "2", "b": "3"}},
    )
    updated = payment_of(resp)
    assert updated["description"] == "new words"
    assert updated["metadata"] == {"a": "2", "b": "3"}
    unchanged = {k: v for k, v in payment.items() if k not in ("description", "metadata")}
    assert {k: v for k, v in updated.items() if k in unchanged} == unchanged
    assert get_payment(api, payment["id"]) == updated


def test_patch_description_only_keeps_metadata(api: httpx.Client) -> None:
    payment = create_payment(api, metadata={"order": "9"})
    updated = payment_of(api.patch(f"/payments/{payment['id']}", json={"description": "only"}))
    assert updated["description"] == "only"
    assert updated["metadata"] == {"order": "9"}


def test_patch_as_form(api: httpx.Client) -> None:
    payment = create_payment(api)
    resp = api.patch(
        f"/payments/{payment['id']}", data={"description": "formed", "metadata[k]": "v"}
    )
    updated = payment_of(resp)
    assert updated["description"] == "formed"
    assert updated["metadata"] == {"k": "v"}


def test_patch_ignores_other_fields(api: httpx.Client) -> None:
    payment = authorized_payment(api, amount=1000, external_order_num="patch-keep")
    resp = api.patch(
        f"/payments/{payment['id']}",
        json={
            "description": "d",
            "amount": 1,
            "currency": "USD",
            "status": "captured",
            "tax": 500,
            "external_order_num": "patch-changed",
            "amount_refunded": 1000,
            "customer": UNKNOWN_ID,
            "captured_at": "2001-01-01T00:00:00Z",
            "locale": "ko",
        },
    )
    updated = payment_of(resp)
    assert updated["description"] == "d"
    after = get_payment(api, payment["id"])
    assert after == updated
    for field in (
        "amount",
        "currency",
        "status",
        "tax",
        "total",
        "external_order_num",
        "amount_refunded",
        "customer",
        "captured_at",
        "locale",
        "payment_details",
        "created_at",
    ):
        assert after[field] == payment[field], field
    assert after["status"] == "authorized"


def test_patch_bad_metadata_is_422(api: httpx.Client) -> None:
    payment = create_payment(api, metadata={"a": "1"})
    resp = api.patch(f"/payments/{payment['id']}", json={"metadata": {"k" * 31: "v"}})
    body = assert_error(resp, 422, "invalid_parameter")
    assert str(body["error"]["param"]).startswith("metadata"), body
    assert get_payment(api, payment["id"])["metadata"] == {"a": "1"}


def test_patch_unknown_payment_is_404(api: httpx.Client) -> None:
    assert_error(api.patch(f"/payments/{UNKNOWN_ID}", json={"description": "x"}), 404, "not_found")


def test_patch_with_publishable_key_is_403(api: httpx.Client, public_api: httpx.Client) -> None:
    payment = create_payment(api, description="mine")
    resp = public_api.patch(f"/payments/{payment['id']}", json={"description": "theirs"})
    assert_error(resp, 403, "forbidden")
    assert get_payment(api, payment["id"])["description"] == "mine"


# --- capture --------------------------------------------------------------------------------


def test_full_capture(api: httpx.Client) -> None:
    payment = authorized_payment(api, amount=1800, tax=200)
    captured = payment_of(api.post(f"/payments/{payment['id']}/capture"))
    assert captured["status"] == "captured"
    assert captured["amount"] == 1800
    assert captured["tax"] == 200
    assert captured["total"] == 2000 + captured["payment_method_fee"]
    assert captured["captured_at"] is not None
    assert parse_time(captured["captured_at"]) >= parse_time(payment["created_at"])
    assert get_payment(api, payment["id"]) == captured


def test_full_capture_with_json_body(api: httpx.Client) -> None:
    payment = authorized_payment(api, amount=900)
    captured = payment_of(api.post(f"/payments/{payment['id']}/capture", json={"amount": 900}))
    assert captured["status"] == "captured"
    assert captured["amount"] == 900


def test_partial_capture_sets_amount(api: httpx.Client) -> None:
    payment = authorized_payment(api, amount=1000)
    captured = payment_of(api.post(f"/payments/{payment['id']}/capture", json={"amount": 600}))
    assert captured["status"] == "captured"
    assert captured["amount"] == 600
    assert captured["total"] == 600 + captured["tax"] + captured["payment_method_fee"]
    assert get_payment(api, payment["id"])["amount"] == 600
    # Only what was captured can be refunded.
    resp = api.post(f"/payments/{payment['id']}/refund", json={"amount": 601})
    assert_error(resp, 422, "not_refundable")
    refunded = payment_of(api.post(f"/payments/{payment['id']}/refund"))
    assert refunded["amount_refunded"] == 600
    assert refunded["status"] == "refunded"


def test_partial_capture_as_form(api: httpx.Client) -> None:
    payment = authorized_payment(api, amount=1000)
    captured = payment_of(api.post(f"/payments/{payment['id']}/capture", data={"amount": "250"}))
    assert captured["amount"] == 250


def test_capture_more_than_authorized_is_422(api: httpx.Client) -> None:
    payment = authorized_payment(api, amount=1000)
    resp = api.post(f"/payments/{payment['id']}/capture", json={"amount": 1001})
    assert_error(resp, 422, "invalid_parameter", "amount")
    assert get_payment(api, payment["id"])["status"] == "authorized"
    # The payment can still be captured in full afterwards.
    assert payment_of(api.post(f"/payments/{payment['id']}/capture"))["amount"] == 1000


@pytest.mark.parametrize("amount", [-1, 10.5, "lots", True])
def test_capture_bad_amount_is_422(api: httpx.Client, amount: Any) -> None:
    payment = authorized_payment(api)
    resp = api.post(f"/payments/{payment['id']}/capture", json={"amount": amount})
    assert_error(resp, 422, "invalid_parameter", "amount")
    assert get_payment(api, payment["id"])["status"] == "authorized"


def test_capture_twice_is_not_capturable(api: httpx.Client) -> None:
    payment = authorized_payment(api)
    payment_of(api.post(f"/payments/{payment['id']}/capture"))
    assert_error(api.post(f"/payments/{payment['id']}/capture"), 422, "not_capturable")


def test_capture_auto_captured_payment_is_not_capturable(api: httpx.Client) -> None:
    payment = create_payment(api)
    assert_error(api.post(f"/payments/{payment['id']}/capture"), 422, "not_capturable")
    after = get_payment(api, payment["id"])
    assert after["captured_at"] == payment["captured_at"]


def test_capture_cancelled_is_not_capturable(api: httpx.Client) -> None:
    payment = authorized_payment(api)
    payment_of(api.post(f"/payments/{payment['id']}/cancel"))
    assert_error(api.post(f"/payments/{payment['id']}/capture"), 422, "not_capturable")
    assert get_payment(api, payment["id"])["status"] == "cancelled"


def test_capture_failed_is_not_capturable(api: httpx.Client) -> None:
    resp = api.post(
        "/payments",
        json={
            "amount": 1000,
            "currency": "JPY",
            "capture": False,
            "payment_details": card("4123111111111000"),
        },
    )
    failed = assert_error(resp, 402, "insufficient_funds")["error"]["details"]["payment"]
    assert_error(api.post(f"/payments/{failed['id']}/capture"), 422, "not_capturable")
    assert get_payment(api, failed["id"])["status"] == "failed"


def test_capture_refunded_is_not_capturable(api: httpx.Client) -> None:
    payment = create_payment(api)
    payment_of(api.post(f"/payments/{payment['id']}/refund"))
    assert_error(api.post(f"/payments/{payment['id']}/capture"), 422, "not_capturable")


def test_capture_pending_3ds_is_not_capturable(api: httpx.Client) -> None:
    payment = create_payment(api, capture=False, payment_details=card("4100000000005000"))
    assert payment["status"] == "pending"
    assert_error(api.post(f"/payments/{payment['id']}/capture"), 422, "not_capturable")
    assert get_payment(api, payment["id"])["status"] == "pending"


@pytest.mark.parametrize("ptype", ["konbini", "bank_transfer", "pay_easy"])
def test_capture_cash_payment_is_not_capturable(api: httpx.Client, ptype: str) -> None:
    payment = create_payment(api, payment_details=cash_details(ptype))
    assert payment["status"] == "authorized"
    assert_error(api.post(f"/payments/{payment['id']}/capture"), 422, "not_capturable")
    after = get_payment(api, payment["id"])
    assert after["status"] == "authorized"
    assert after["captured_at"] is None


def test_capture_unknown_is_404(api: httpx.Client) -> None:
    assert_error(api.post(f"/payments/{UNKNOWN_ID}/capture"), 404, "not_found")


def test_capture_with_publishable_key_is_403(api: httpx.Client, public_api: httpx.Client) -> None:
    payment = authorized_payment(api)
    assert_error(public_api.post(f"/payments/{payment['id']}/capture"), 403, "forbidden")
    assert get_payment(api, payment["id"])["status"] == "authorized"


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_authorized(api: httpx.Client) -> None:
    payment = authorized_payment(api)
    cancelled = payment_of(api.post(f"/payments/{payment['id']}/cancel"))
    assert cancelled["status"] == "cancelled"
    assert cancelled["captured_at"] is None
    assert get_payment(api, payment["id"]) == cancelled
    assert_error(api.post(f"/payments/{payment['id']}/refund"), 422, "not_refundable")


def test_cancel_with_empty_json_body(api: httpx.Client) -> None:
    payment = authorized_payment(api)
    cancelled = payment_of(api.post(f"/payments/{payment['id']}/cancel", json={}))
    assert cancelled["status"] == "cancelled"


def test_cancel_pending_3ds(api: httpx.Client) -> None:
    payment = create_payment(api, payment_details=card("5100000000005007"))
    assert payment["status"] == "pending"
    cancelled = payment_of(api.post(f"/payments/{payment['id']}/cancel"))
    assert cancelled["status"] == "cancelled"


def test_cancel_pending_3ds_then_challenge_cannot_capture(api: httpx.Client) -> None:
    payment = create_payment(api, payment_details=card("3528000000005006"))
    payment_of(api.post(f"/payments/{payment['id']}/cancel"))
    url = payment["payment_details"]["redirect_url"]
    page = httpx.get(url, timeout=30)
    if page.status_code == 200 and 'name="csrf"' in page.text:
        answer_3ds(url, "123456")
    after = get_payment(api, payment["id"])
    assert after["status"] == "cancelled"
    assert after["captured_at"] is None


def test_cancel_pending_wallet_then_offsite_cannot_capture(api: httpx.Client) -> None:
    payment = create_payment(api, payment_details={"type": "paypay"})
    assert payment["status"] == "pending"
    cancelled = payment_of(api.post(f"/payments/{payment['id']}/cancel"))
    assert cancelled["status"] == "cancelled"
    page = httpx.get(payment["payment_details"]["redirect_url"], timeout=30)
    if page.status_code == 200 and 'name="csrf"' in page.text:
        drive_offsite(payment["payment_details"]["redirect_url"], "capture")
    after = get_payment(api, payment["id"])
    assert after["status"] == "cancelled"
    assert after["captured_at"] is None


def test_cancel_konbini_then_cash_cannot_capture(api: httpx.Client, merchant: Merchant) -> None:
    payment = create_payment(api, payment_details=cash_details("konbini"))
    cancelled = payment_of(api.post(f"/payments/{payment['id']}/cancel"))
    assert cancelled["status"] == "cancelled"
    page = httpx.get(f"{merchant.server.base_url}/instructions/{payment['id']}", timeout=30)
    if page.status_code == 200 and 'name="csrf"' in page.text:
        simulate_cash_payment(merchant.server.base_url, payment["id"])
    after = get_payment(api, payment["id"])
    assert after["status"] == "cancelled"
    assert after["captured_at"] is None


def test_cancel_captured_is_not_cancellable(api: httpx.Client) -> None:
    payment = create_payment(api)
    assert_error(api.post(f"/payments/{payment['id']}/cancel"), 422, "not_cancellable")
    assert get_payment(api, payment["id"])["status"] == "captured"


def test_cancel_partly_refunded_is_not_cancellable(api: httpx.Client) -> None:
    payment = create_payment(api)
    payment_of(api.post(f"/payments/{payment['id']}/refund", json={"amount": 100}))
    assert_error(api.post(f"/payments/{payment['id']}/cancel"), 422, "not_cancellable")
    after = get_payment(api, payment["id"])
    assert after["status"] == "captured"
    assert after["amount_refunded"] == 100


def test_cancel_refunded_is_not_cancellable(api: httpx.Client) -> None:
    payment = create_payment(api)
    payment_of(api.post(f"/payments/{payment['id']}/refund"))
    assert_error(api.post(f"/payments/{payment['id']}/cancel"), 422, "not_cancellable")
    assert get_payment(api, payment["id"])["status"] == "refunded"


def test_cancel_failed_is_not_cancellable(api: httpx.Client) -> None:
    resp = api.post(
        "/payments",
        json={"amount": 1000, "currency": "JPY", "payment_details": card("4123111111111018")},
    )
    failed = assert_error(resp, 402, "exceeds_limit")["error"]["details"]["payment"]
    assert_error(api.post(f"/payments/{failed['id']}/cancel"), 422, "not_cancellable")
    assert get_payment(api, failed["id"])["status"] == "failed"


def test_cancel_twice_is_not_cancellable(api: httpx.Client) -> None:
    payment = authorized_payment(api)
    payment_of(api.post(f"/payments/{payment['id']}/cancel"))
    assert_error(api.post(f"/payments/{payment['id']}/cancel"), 422, "not_cancellable")
    assert get_payment(api, payment["id"])["status"] == "cancelled"


def test_cancel_unknown_is_404(api: httpx.Client) -> None:
    assert_error(api.post(f"/payments/{UNKNOWN_ID}/cancel"), 404, "not_found")


def test_cancel_with_publishable_key_is_403(api: httpx.Client, public_api: httpx.Client) -> None:
    payment = authorized_payment(api)
    assert_error(public_api.post(f"/payments/{payment['id']}/cancel"), 403, "forbidden")
    assert get_payment(api, payment["id"])["status"] == "authorized"
