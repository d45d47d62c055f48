"""The Komoju-Scenario test-mode header (contract section 6, decisions "Komoju-Scenario")."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import (
    DECLINES,
    card,
    create_payment,
    create_session,
    get_payment,
    get_session,
    pay,
    pay_ok,
    post_payment,
)
from tests.conftest import CARD, Merchant, assert_error, assert_schema

CODES = sorted(set(DECLINES.values()))


def scenario(code: str) -> dict[str, str]:
    return {"Komoju-Scenario": code}


@pytest.mark.parametrize("code", CODES)
def test_payment_with_scenario_is_declined(api: httpx.Client, code: str) -> None:
    resp = api.post(
        "/payments",
        json={"amount": 1000, "currency": "JPY", "payment_details": CARD},
        headers=scenario(code),
    )
    body = assert_error(resp, 402, code)
    failed = body["error"]["details"]["payment"]
    assert_schema(failed, "Payment")
    stored = get_payment(api, failed["id"])
    assert stored["status"] == "failed"
    assert stored["amount"] == 1000


def test_payment_scenario_with_capture_false(api: httpx.Client) -> None:
    resp = api.post(
        "/payments",
        json={"amount": 500, "currency": "JPY", "payment_details": CARD, "capture": False},
        headers=scenario("card_declined"),
    )
    assert_error(resp, 402, "card_declined")


def test_payment_scenario_request_failed(api: httpx.Client) -> None:
    resp = api.post(
        "/payments",
        json={"amount": 1000, "currency": "JPY", "payment_details": CARD},
        headers=scenario("request_failed"),
    )
    assert_error(resp, 402, "request_failed")


def test_scenario_is_not_sticky_for_the_merchant(api: httpx.Client) -> None:
    assert_error(
        api.post(
            "/payments",
            json={"amount": 1000, "currency": "JPY", "payment_details": CARD},
            headers=scenario("insufficient_funds"),
        ),
        402,
        "insufficient_funds",
    )
    assert create_payment(api)["status"] == "captured"
    assert pay_ok(api, create_session(api)["id"])["status"] == "completed"


@pytest.mark.parametrize("code", CODES)
def test_session_with_scenario_declines_every_pay(
    api: httpx.Client, public_api: httpx.Client, code: str
) -> None:
    resp = api.post("/sessions", json={"amount": 1200, "currency": "JPY"}, headers=scenario(code))
    assert resp.status_code == 200, resp.text
    session = resp.json()
    assert_schema(session, "Session")
    for client, number in ((public_api, "4111111111111111"), (api, "5555555555554444")):
        body = assert_error(pay(client, session["id"], card(number)), 402, code)
        failed = body["error"]["details"].get("payment")
        if failed is not None:
            assert get_payment(api, failed["id"])["status"] == "failed"
    # The same card header-free on a plain request has no effect on this session either.
    assert_error(pay(api, session["id"]), 402, code)
    after = get_session(api, session["id"])
    assert after["status"] == "pending"
    assert after["completed_at"] is None


def test_session_scenario_with_manual_capture(api: httpx.Client) -> None:
    resp = api.post(
        "/sessions",
        json={"amount": 1000, "currency": "JPY", "payment_data": {"capture": "manual"}},
        headers=scenario("exceeds_limit"),
    )
    assert resp.status_code == 200, resp.text
    assert_error(pay(api, resp.json()["id"]), 402, "exceeds_limit")


def test_customer_with_scenario_declines_every_payment(api: httpx.Client) -> None:
    code = "insufficient_funds"
    resp = api.post(
        "/customers",
        json={"email": "scenario@example.com", "payment_details": CARD},
        headers=scenario(code),
    )
    assert resp.status_code == 200, resp.text
    customer = resp.json()
    for amount in (1000, 2000):
        resp = post_payment(api, amount=amount, customer=customer["id"])
        body = assert_error(resp, 402, code)
        failed = body["error"]["details"]["payment"]
        stored = get_payment(api, failed["id"])
        assert stored["status"] == "failed"
        assert stored["customer"] == customer["id"]
    # Updating the card does not lift the scenario.
    updated = api.patch(
        f"/customers/{customer['id']}", json={"payment_details": card("5555555555554444")}
    )
    if updated.status_code == 200:
        assert_error(post_payment(api, customer=customer["id"]), 402, code)
    else:
        assert_error(updated, 402, code)


def test_customer_created_without_card_keeps_scenario(api: httpx.Client) -> None:
    resp = api.post(
        "/customers", json={"email": "later@example.com"}, headers=scenario("card_expired")
    )
    assert resp.status_code == 200, resp.text
    customer = resp.json()
    assert_schema(customer, "Customer")
    updated = api.patch(f"/customers/{customer['id']}", json={"payment_details": CARD})
    if updated.status_code != 200:
        assert_error(updated, 402, "card_expired")
        return
    assert_error(post_payment(api, customer=customer["id"]), 402, "card_expired")


def test_customer_without_scenario_pays(api: httpx.Client) -> None:
    resp = api.post("/customers", json={"payment_details": CARD})
    assert resp.status_code == 200, resp.text
    assert create_payment(api, customer=resp.json()["id"])["status"] == "captured"


@pytest.mark.parametrize("value", ["bogus", "CARD_DECLINED", "captured", "declined"])
def test_unknown_scenario_is_422(api: httpx.Client, value: str) -> None:
    headers = scenario(value)
    responses = [
        api.post(
            "/payments",
            json={"amount": 1000, "currency": "JPY", "payment_details": CARD},
            headers=headers,
        ),
        api.post("/sessions", json={"amount": 1000, "currency": "JPY"}, headers=headers),
        api.post("/customers", json={"payment_details": CARD}, headers=headers),
    ]
    for resp in responses:
        assert_error(resp, 422, "invalid_parameter", "Komoju-Scenario")


def test_unknown_scenario_creates_nothing(api: httpx.Client) -> None:
    before = api.get("/payments").json()["total"]
    resp = api.post(
        "/payments",
        json={"amount": 1000, "currency": "JPY", "payment_details": CARD},
        headers=scenario("nope"),
    )
    assert_error(resp, 422, "invalid_parameter", "Komoju-Scenario")
    assert api.get("/payments").json()["total"] == before


def test_scenario_in_live_mode_is_refused(merchant: Merchant) -> None:
    """Live keys exist for every merchant; `Komoju-Scenario` is test mode only, refused
    before any processor is needed (this merchant's live mode has none)."""
    assert merchant.live_secret_key is not None
    with httpx.Client(
        base_url=f"{merchant.server.base_url}/api/v1", auth=(merchant.live_secret_key, "")
    ) as live:
        resp = live.post(
            "/payments",
            json={"amount": 1000, "currency": "JPY", "payment_details": CARD},
            headers=scenario("card_declined"),
        )
        assert_error(resp, 422, "invalid_parameter", "Komoju-Scenario")
        assert live.get("/payments").json()["total"] == 0
