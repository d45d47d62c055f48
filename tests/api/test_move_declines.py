"""The processor may refuse a capture, refund or cancel: in test mode, `Komoju-Scenario` on
that request makes it refuse, and the payment stays exactly as it was."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import authorized_payment, create_payment, get_payment
from tests.conftest import assert_error


def declined_by_scenario(api: httpx.Client, path: str, code: str, body: dict | None = None) -> dict:
    resp = api.post(path, json=body, headers={"Komoju-Scenario": code})
    assert_error(resp, 402, code)
    payment: dict = resp.json()["error"]["details"]["payment"]
    return payment


@pytest.mark.parametrize("code", ["card_declined", "insufficient_funds"])
def test_a_declined_capture_leaves_the_authorization(api: httpx.Client, code: str) -> None:
    payment = authorized_payment(api, amount=1200)
    shown = declined_by_scenario(api, f"/payments/{payment['id']}/capture", code)
    assert shown["status"] == "authorized" and shown["captured_at"] is None
    assert get_payment(api, payment["id"])["status"] == "authorized"
    # Nothing is held: the next capture goes through.
    again = api.post(f"/payments/{payment['id']}/capture", json={"amount": 1000})
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "captured"


def test_a_declined_refund_refunds_nothing(api: httpx.Client) -> None:
    payment = create_payment(api, amount=1500)
    path = f"/payments/{payment['id']}/refund"
    shown = declined_by_scenario(api, path, "card_declined", {"amount": 500})
    assert shown["amount_refunded"] == 0 and shown["refunds"] == []
    after = get_payment(api, payment["id"])
    assert after["amount_refunded"] == 0 and after["status"] == "captured"
    full = api.post(path)
    assert full.status_code == 200 and full.json()["amount_refunded"] == 1500


def test_a_declined_cancel_keeps_the_payment(api: httpx.Client) -> None:
    payment = authorized_payment(api)
    shown = declined_by_scenario(api, f"/payments/{payment['id']}/cancel", "request_failed")
    assert shown["status"] == "authorized"
    assert api.post(f"/payments/{payment['id']}/cancel").json()["status"] == "cancelled"


def test_a_declined_move_is_replayed_under_its_key(api: httpx.Client) -> None:
    payment = authorized_payment(api)
    headers = {"Komoju-Scenario": "card_declined", "X-KOMOJU-IDEMPOTENCY": f"c-{payment['id']}"}
    first = api.post(f"/payments/{payment['id']}/capture", headers=headers)
    again = api.post(f"/payments/{payment['id']}/capture", headers=headers)
    assert first.status_code == 402 and again.content == first.content


def test_scenario_on_a_move_is_test_mode_only(api: httpx.Client) -> None:
    payment = authorized_payment(api)
    resp = api.post(
        f"/payments/{payment['id']}/capture", headers={"Komoju-Scenario": "no_such_code"}
    )
    assert_error(resp, 422, "invalid_parameter", "Komoju-Scenario")
    assert get_payment(api, payment["id"])["status"] == "authorized"
