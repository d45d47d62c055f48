"""POST /api/v1/sessions/{id}/pay with cards (contract sections 2 and 6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.api.helpers import (
    DECLINES,
    UNKNOWN_ID,
    all_values,
    card,
    create_session,
    get_session,
    parse_time,
    pay,
    pay_ok,
)
from tests.conftest import CARD, CARD_YEAR, EXPIRED_YEAR, Merchant, assert_error, assert_schema

APPROVED = {
    "4111111111111111": ("visa", "1111"),
    "5555555555554444": ("master", "4444"),
    "3530111333300000": ("jcb", "0000"),
    "378282246310005": ("american_express", "0005"),
    "30569309025904": ("diners_club", "5904"),
}
FRICTIONLESS = ["4100000000000100", "5100000000000107", "3528000000000106"]
CHALLENGE = [
    "4100000000005000",
    "5100000000005007",
    "3528000000005006",
    "4100000000300005",
    "5100000000300002",
    "3528000000300001",
    "4100000000500000",
    "5100000000500007",
    "3528000000500006",
]


def assert_no_card_secrets(body: Any, number: str, cvv: str) -> None:
    text = json.dumps(body)
    assert number not in text, "full card number in response"
    assert number[:-4] not in text, "card number prefix in response"
    for value in all_values(body):
        assert value != cvv and value != int(cvv), f"CVV {cvv!r} in response"


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


# --- success --------------------------------------------------------------------------------


def test_good_card_completes_session(api: httpx.Client) -> None:
    session = create_session(
        api,
        amount=2500,
        return_url="https://shop.example/done?order=42&lang=ja",
        metadata={"order": "42"},
    )
    result = pay_ok(api, session["id"])
    assert result["status"] == "completed"
    payment = result["payment"]
    assert payment["resource"] == "payment"
    assert payment["status"] == "captured"
    assert payment["amount"] == 2500 and payment["currency"] == "JPY"
    assert payment["total"] == payment["amount"] + payment["tax"] + payment["payment_method_fee"]
    assert payment["session"] == session["id"]
    assert payment["captured_at"] is not None
    details = payment["payment_details"]
    assert details["type"] == "credit_card"
    assert details["brand"] == "visa"
    assert details["last_four_digits"] == "1111"
    assert details["month"] == 12 and details["year"] == CARD_YEAR

    redirect = urlsplit(result["redirect_url"])
    assert (redirect.scheme, redirect.netloc, redirect.path) == ("https", "shop.example", "/done")
    assert query_of(result["redirect_url"]) == {
        "order": ["42"],
        "lang": ["ja"],
        "session_id": [session["id"]],
    }

    after = get_session(api, session["id"])
    assert after["status"] == "completed"
    assert after["completed_at"] is not None
    assert parse_time(after["completed_at"]) >= parse_time(after["created_at"])
    assert after["payment"]["id"] == payment["id"]
    assert after["payment"]["status"] == "captured"
    assert after["expired"] is False


def test_redirect_url_without_query_and_with_fragment(api: httpx.Client) -> None:
    plain = create_session(api, return_url="https://shop.example/done")
    result = pay_ok(api, plain["id"])
    assert result["redirect_url"] == f"https://shop.example/done?session_id={plain['id']}"

    fragment = create_session(api, return_url="https://shop.example/done?x=1#receipt")
    result = pay_ok(api, fragment["id"])
    parts = urlsplit(result["redirect_url"])
    assert parse_qs(parts.query) == {"x": ["1"], "session_id": [fragment["id"]]}
    assert parts.fragment == "receipt"


def test_publishable_key_pay_and_form_of_response(public_api: httpx.Client, api) -> None:
    session = create_session(api, amount=777, return_url="https://shop.example/r")
    result = pay_ok(public_api, session["id"])
    assert result["status"] == "completed"
    assert result["payment"]["amount"] == 777


def test_stale_session_id_in_return_url_is_replaced(api: httpx.Client) -> None:
    session = create_session(api, return_url="https://shop.example/done?session_id=old&a=1")
    result = pay_ok(api, session["id"])
    assert query_of(result["redirect_url"]) == {"a": ["1"], "session_id": [session["id"]]}


@pytest.mark.parametrize("number", list(APPROVED))
def test_approved_test_cards(api: httpx.Client, number: str) -> None:
    session = create_session(api)
    result = pay_ok(api, session["id"], card(number))
    assert result["status"] == "completed"
    assert result["payment"]["status"] == "captured"
    brand, last4 = APPROVED[number]
    assert result["payment"]["payment_details"]["last_four_digits"] == last4
    assert result["payment"]["payment_details"]["brand"] == brand


def test_manual_capture_authorizes(api: httpx.Client) -> None:
    session = create_session(api, payment_data={"capture": "manual"})
    result = pay_ok(api, session["id"])
    assert result["status"] == "completed"
    assert result["payment"]["status"] == "authorized"
    assert result["payment"]["captured_at"] is None
    after = get_session(api, session["id"])
    assert after["status"] == "completed"
    assert after["payment"]["status"] == "authorized"


def test_manual_capture_from_pay_request(api: httpx.Client) -> None:
    session = create_session(api)
    result = pay_ok(api, session["id"], capture="manual")
    assert result["payment"]["status"] == "authorized"


def test_usd_session_paid_in_cents(api: httpx.Client) -> None:
    session = create_session(api, amount=1999, currency="usd")
    result = pay_ok(api, session["id"])
    assert result["payment"]["amount"] == 1999
    assert result["payment"]["currency"] == "USD"


def test_customer_payment_mode_pays(api: httpx.Client) -> None:
    session = create_session(api, mode="customer_payment", amount=1200)
    result = pay_ok(api, session["id"])
    assert result["status"] == "completed"
    assert result["payment"]["status"] == "captured"
    assert result["payment"]["amount"] == 1200


def test_card_expiring_this_month_is_valid(api: httpx.Client) -> None:
    now = datetime.now(UTC)
    session = create_session(api)
    result = pay_ok(api, session["id"], card("4111111111111111", month=now.month, year=now.year))
    assert result["status"] == "completed"


def test_two_digit_year(api: httpx.Client) -> None:
    session = create_session(api)
    result = pay_ok(api, session["id"], card("4111111111111111", year=CARD_YEAR % 100))
    assert result["payment"]["payment_details"]["year"] in (CARD_YEAR % 100, CARD_YEAR)


def test_card_details_never_returned(api: httpx.Client, public_api: httpx.Client) -> None:
    number, cvv = "5555555555554444", "987"
    session = create_session(api, amount=1234)
    resp = pay(public_api, session["id"], card(number, verification_value=cvv))
    assert resp.status_code == 200, resp.text
    assert_no_card_secrets(resp.json(), number, cvv)
    assert resp.json()["payment"]["payment_details"]["verification_value"] in (
        "Approved",
        "Invalid",
        "Not Checked",
        "Not Supplied",
    )
    assert_no_card_secrets(get_session(api, session["id"]), number, cvv)


# --- declines -------------------------------------------------------------------------------


@pytest.mark.parametrize("number,code", list(DECLINES.items()))
def test_decline_leaves_session_payable(
    api: httpx.Client, public_api: httpx.Client, number: str, code: str
) -> None:
    session = create_session(api, return_url="https://shop.example/done")
    resp = pay(public_api, session["id"], card(number, verification_value="987"))
    body = assert_error(resp, 402, code)
    assert_no_card_secrets(body, number, "987")
    after = get_session(api, session["id"])
    assert after["status"] == "pending"
    assert after["completed_at"] is None
    assert after["payment"] is None or after["payment"]["status"] == "failed"

    result = pay_ok(public_api, session["id"])
    assert result["status"] == "completed"
    assert result["payment"]["status"] == "captured"
    assert get_session(api, session["id"])["payment"]["id"] == result["payment"]["id"]


# --- invalid card data ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides,param",
    [
        ({"number": "4111111111111112"}, "payment_details[number]"),
        ({"number": "1234"}, "payment_details[number]"),
        ({"number": "4111-1111-1111-111x"}, "payment_details[number]"),
        ({"number": "\uff14\uff11\uff11\uff11" * 4}, "payment_details[number]"),
        ({"month": 13}, "payment_details[month]"),
        ({"month": 0}, "payment_details[month]"),
        ({"month": "twelve"}, "payment_details[month]"),
        ({"month": 1, "year": EXPIRED_YEAR}, ("payment_details[year]", "payment_details[month]")),
        ({"year": EXPIRED_YEAR}, ("payment_details[year]", "payment_details[month]")),
    ],
    ids=[
        "luhn",
        "too-short",
        "letters",
        "fullwidth-digits",
        "month-13",
        "month-0",
        "month-word",
        "past-expiry",
        "past-year",
    ],
)
def test_invalid_card_is_422(
    api: httpx.Client, overrides: dict[str, Any], param: str | tuple[str, ...]
) -> None:
    session = create_session(api)
    details = {**CARD, **overrides}
    body = assert_error(pay(api, session["id"], details), 422, "invalid_parameter")
    allowed = (param,) if isinstance(param, str) else param
    assert body["error"]["param"] in allowed, body
    assert "4111111111111112" not in json.dumps(body)
    assert get_session(api, session["id"])["status"] == "pending"


def test_last_month_is_past_expiry(api: httpx.Client) -> None:
    now = datetime.now(UTC)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    session = create_session(api)
    body = assert_error(
        pay(api, session["id"], card("4111111111111111", month=month, year=year)),
        422,
        "invalid_parameter",
    )
    assert body["error"]["param"] in ("payment_details[month]", "payment_details[year]"), body


def test_missing_payment_details(api: httpx.Client) -> None:
    session = create_session(api)
    resp = api.post(f"/sessions/{session['id']}/pay", json={})
    assert_error(resp, 422, "missing_parameter", "payment_details")


@pytest.mark.parametrize("field", ["number", "month", "year"])
def test_missing_card_field(api: httpx.Client, field: str) -> None:
    session = create_session(api)
    details = {k: v for k, v in CARD.items() if k != field}
    assert_error(
        pay(api, session["id"], details), 422, "missing_parameter", f"payment_details[{field}]"
    )


def test_payment_type_not_offered_is_refused(api: httpx.Client) -> None:
    session = create_session(api, payment_types=["credit_card"])
    resp = pay(api, session["id"], {"type": "konbini", "store": "lawson", "email": "a@b.jp"})
    assert resp.status_code == 422, resp.text
    assert_schema(resp.json(), "APIError")
    assert resp.json()["error"]["code"] in ("invalid_payment_type", "invalid_parameter")
    assert get_session(api, session["id"])["status"] == "pending"


# --- session state --------------------------------------------------------------------------


def test_completed_session_not_payable(api: httpx.Client) -> None:
    session = create_session(api)
    first = pay_ok(api, session["id"])
    assert_error(pay(api, session["id"]), 422, "session_not_payable")
    assert_error(pay(api, session["id"], card("5555555555554444")), 422, "session_not_payable")
    after = get_session(api, session["id"])
    assert after["payment"]["id"] == first["payment"]["id"]


def test_pay_unknown_session_is_404(api: httpx.Client, public_api: httpx.Client) -> None:
    assert_error(pay(api, UNKNOWN_ID), 404, "not_found")
    assert_error(pay(public_api, UNKNOWN_ID), 404, "not_found")


# --- 3-D Secure -----------------------------------------------------------------------------


@pytest.mark.parametrize("number", FRICTIONLESS)
def test_3ds_frictionless_approved_at_once(api: httpx.Client, number: str) -> None:
    session = create_session(api, return_url="https://shop.example/done")
    result = pay_ok(api, session["id"], card(number))
    assert result["status"] == "completed"
    assert result["payment"]["status"] == "captured"
    assert query_of(result["redirect_url"])["session_id"] == [session["id"]]
    assert get_session(api, session["id"])["status"] == "completed"


@pytest.mark.parametrize("number", CHALLENGE)
def test_3ds_challenge_redirects_to_challenge_page(
    api: httpx.Client, merchant: Merchant, number: str
) -> None:
    session = create_session(api, return_url="https://shop.example/done")
    result = pay_ok(api, session["id"], card(number))
    assert result["status"] == "pending"
    assert result["payment"]["status"] in ("pending", "authorized")
    assert result["payment"]["status"] != "captured"
    url = result["redirect_url"]
    assert url, result
    assert not url.startswith("https://shop.example"), url
    assert urlsplit(url).netloc == urlsplit(session["session_url"]).netloc, url
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200, (url, page.status_code)
    assert page.headers["content-type"].startswith("text/html")
    after = get_session(api, session["id"])
    assert after["status"] == "pending"
    assert after["completed_at"] is None


# --- other card-related behaviour of the contract ---------------------------------------------


def test_payment_carries_order_number(api: httpx.Client) -> None:
    order = "ord-" + create_session(api)["id"]
    session = create_session(api, payment_data={"external_order_num": order})
    result = pay_ok(api, session["id"])
    assert result["payment"]["external_order_num"] == order


def test_fraud_details_accepted(api: httpx.Client) -> None:
    session = create_session(api)
    result = pay_ok(
        api,
        session["id"],
        fraud_details={"customer_ip": "192.0.2.1", "customer_email": "taro@example.com"},
    )
    assert result["status"] == "completed"


def test_scenario_header_forces_decline(api: httpx.Client) -> None:
    resp = api.post(
        "/sessions",
        json={"amount": 1000, "currency": "JPY"},
        headers={"Komoju-Scenario": "insufficient_funds"},
    )
    assert resp.status_code == 200, resp.text
    session = resp.json()
    for _ in range(2):
        assert_error(pay(api, session["id"]), 402, "insufficient_funds")
    assert get_session(api, session["id"])["status"] == "pending"


def test_customer_mode_saves_card_without_payment(api: httpx.Client) -> None:
    """Contract, Modes: `customer` completes by saving the card and creates no payment."""
    resp = api.post("/sessions", json={"mode": "customer", "currency": "JPY"})
    assert resp.status_code == 200, resp.text
    session = resp.json()
    paid = pay(api, session["id"], card("4111111111111111", verification_value="987"))
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert_schema(body, "PaySessionResponse")
    assert body["status"] == "completed"
    assert body.get("payment") is None
    assert_no_card_secrets(body, "4111111111111111", "987")
    after = get_session(api, session["id"])
    assert after["status"] == "completed"
    assert after["payment"] is None
    assert isinstance(after.get("customer_id"), str) and after["customer_id"], after
