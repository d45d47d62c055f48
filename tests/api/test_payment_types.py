"""Cash types and offsite wallets, through sessions and POST /payments (contract section 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.api.helpers import (
    CASH_TYPES,
    KONBINI_STORES,
    WALLETS,
    assert_pay_response,
    cash_details,
    create_payment,
    create_session,
    drive_offsite,
    get_payment,
    parse_time,
    pay,
    payment_of,
    post_payment,
    sdk_view,
    simulate_cash_payment,
)
from tests.conftest import CARD, Merchant, assert_error, assert_schema

RETURN_URL = "https://shop.example/back?order=7"


def get_session(client: httpx.Client, session_id: str) -> dict[str, Any]:
    resp = client.get(f"/sessions/{session_id}")
    assert resp.status_code == 200, resp.text
    data = resp.json()
    view = {**data, "payment": sdk_view(data["payment"]) if data.get("payment") else None}
    assert_schema(view, "Session")
    return data


def pay_ok(
    client: httpx.Client, session_id: str, details: dict[str, Any] | str | None = None
) -> dict[str, Any]:
    resp = pay(client, session_id, details)  # type: ignore[arg-type]
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert_pay_response(data)
    return data


def assert_deadline(payment: dict[str, Any], days: int) -> None:
    deadline = parse_time(payment["payment_deadline"])
    created = parse_time(payment["created_at"])
    assert abs(deadline - (created + timedelta(days=days))) < timedelta(minutes=5), (
        payment["payment_deadline"],
        payment["created_at"],
    )
    assert abs(deadline - (datetime.now(UTC) + timedelta(days=days))) < timedelta(minutes=5)


def assert_instructions_page(url: str, merchant: Merchant) -> None:
    assert urlsplit(url).netloc == urlsplit(merchant.server.base_url).netloc, url
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200, (url, page.status_code, page.text[:300])
    assert page.headers["content-type"].startswith("text/html")


# --- cash types through a session -----------------------------------------------------------


@pytest.mark.parametrize("store", KONBINI_STORES)
def test_konbini_session_each_store(api: httpx.Client, merchant: Merchant, store: str) -> None:
    session = create_session(api, amount=2980, return_url=RETURN_URL)
    result = pay_ok(
        api, session["id"], {"type": "konbini", "store": store, "email": "k@example.com"}
    )
    assert result["status"] == "completed"
    payment = result["payment"]
    assert payment["status"] == "authorized"
    assert payment["captured_at"] is None
    assert payment["amount"] == 2980
    assert payment["session"] == session["id"]
    details = payment["payment_details"]
    assert details["type"] == "konbini"
    assert details["store"] == store
    assert details["email"] == "k@example.com"
    assert_deadline(payment, 3)
    assert result["redirect_url"] == details["instructions_url"]
    assert_instructions_page(details["instructions_url"], merchant)
    after = get_session(api, session["id"])
    assert after["status"] == "completed"
    assert after["payment"]["id"] == payment["id"]
    assert after["payment"]["status"] == "authorized"
    assert get_payment(api, payment["id"]) == payment


@pytest.mark.parametrize("ptype", ["bank_transfer", "pay_easy"])
def test_bank_and_pay_easy_sessions(api: httpx.Client, merchant: Merchant, ptype: str) -> None:
    session = create_session(api, amount=5000, return_url=RETURN_URL)
    result = pay_ok(api, session["id"], cash_details(ptype))
    assert result["status"] == "completed"
    payment = result["payment"]
    assert payment["status"] == "authorized"
    assert payment["payment_details"]["type"] == ptype
    assert_deadline(payment, 3)
    url = payment["payment_details"]["instructions_url"]
    assert result["redirect_url"] == url
    assert_instructions_page(url, merchant)
    assert get_session(api, session["id"])["status"] == "completed"


@pytest.mark.parametrize("ptype", CASH_TYPES)
def test_cash_customer_pays_then_captured(
    api: httpx.Client, merchant: Merchant, ptype: str
) -> None:
    session = create_session(api, amount=1234)
    result = pay_ok(api, session["id"], cash_details(ptype))
    payment_id = result["payment"]["id"]
    simulate_cash_payment(merchant.server.base_url, payment_id)
    paid = get_payment(api, payment_id)
    assert paid["status"] == "captured"
    assert paid["captured_at"] is not None
    assert paid["amount"] == 1234
    assert get_session(api, session["id"])["payment"]["status"] == "captured"


@pytest.mark.parametrize("locale", ["ja", "en", "ko"])
def test_instructions_page_in_each_locale(api: httpx.Client, locale: str) -> None:
    payment = create_payment(api, payment_details=cash_details("konbini"), locale=locale)
    url = payment["payment_details"]["instructions_url"]
    page = httpx.get(url, params={"locale": locale}, timeout=30)
    assert page.status_code == 200
    assert f'lang="{locale}"' in page.text


# --- cash types through POST /payments ------------------------------------------------------


@pytest.mark.parametrize("store", KONBINI_STORES)
def test_konbini_payment_each_store(api: httpx.Client, merchant: Merchant, store: str) -> None:
    payment = create_payment(api, amount=800, payment_details=cash_details("konbini", store=store))
    assert payment["status"] == "authorized"
    assert payment["payment_details"]["store"] == store
    assert payment["session"] is None
    assert_deadline(payment, 3)
    assert_instructions_page(payment["payment_details"]["instructions_url"], merchant)


@pytest.mark.parametrize("ptype", ["bank_transfer", "pay_easy"])
def test_bank_and_pay_easy_payments(api: httpx.Client, merchant: Merchant, ptype: str) -> None:
    payment = create_payment(api, payment_details=cash_details(ptype))
    assert payment["status"] == "authorized"
    assert_deadline(payment, 3)
    assert_instructions_page(payment["payment_details"]["instructions_url"], merchant)


@pytest.mark.parametrize("ptype", CASH_TYPES)
@pytest.mark.parametrize("days", [1, 7, 59])
def test_expiry_days_sets_deadline(api: httpx.Client, ptype: str, days: int) -> None:
    payment = create_payment(api, payment_details=cash_details(ptype, expiry_days=days))
    assert payment["status"] == "authorized"
    assert_deadline(payment, days)


@pytest.mark.parametrize("ptype", CASH_TYPES)
def test_expiry_days_out_of_range(api: httpx.Client, ptype: str) -> None:
    for days in (0, 60, -1, 3.5, "soon"):
        resp = post_payment(api, payment_details=cash_details(ptype, expiry_days=days))
        assert_error(resp, 422, "invalid_parameter", "payment_details[expiry_days]")
    session = create_session(api)
    for days in (0, 60):
        resp = pay(api, session["id"], cash_details(ptype, expiry_days=days))
        assert_error(resp, 422, "invalid_parameter", "payment_details[expiry_days]")
    assert get_session(api, session["id"])["status"] == "pending"


def test_expiry_days_through_session(api: httpx.Client) -> None:
    session = create_session(api)
    result = pay_ok(api, session["id"], cash_details("konbini", expiry_days=10))
    assert_deadline(result["payment"], 10)


@pytest.mark.parametrize("field", ["store", "email"])
def test_konbini_missing_field(api: httpx.Client, field: str) -> None:
    details = {k: v for k, v in cash_details("konbini").items() if k != field}
    resp = post_payment(api, payment_details=details)
    assert_error(resp, 422, "missing_parameter", f"payment_details[{field}]")
    session = create_session(api)
    assert_error(
        pay(api, session["id"], details), 422, "missing_parameter", f"payment_details[{field}]"
    )
    assert get_session(api, session["id"])["status"] == "pending"


@pytest.mark.parametrize(
    "field,value", [("store", "circle-k"), ("store", "Lawson"), ("email", "not-an-email")]
)
def test_konbini_bad_field(api: httpx.Client, field: str, value: str) -> None:
    details = cash_details("konbini", **{field: value})
    assert_error(
        post_payment(api, payment_details=details),
        422,
        "invalid_parameter",
        f"payment_details[{field}]",
    )


@pytest.mark.parametrize("ptype", ["bank_transfer", "pay_easy"])
def test_bank_types_need_email(api: httpx.Client, ptype: str) -> None:
    details = {k: v for k, v in cash_details(ptype).items() if k != "email"}
    assert_error(
        post_payment(api, payment_details=details),
        422,
        "missing_parameter",
        "payment_details[email]",
    )


# --- currencies -----------------------------------------------------------------------------


@pytest.mark.parametrize("ptype", ["konbini", "bank_transfer", "pay_easy", "paypay", "paidy"])
def test_jpy_only_types_refuse_usd(api: httpx.Client, ptype: str) -> None:
    details = cash_details(ptype) if ptype in CASH_TYPES else {"type": ptype}
    resp = post_payment(api, currency="USD", payment_details=details)
    assert_error(resp, 422, "invalid_payment_type")
    resp = api.post("/sessions", json={"amount": 1000, "currency": "USD", "payment_types": [ptype]})
    assert_error(resp, 422, "invalid_payment_type", "payment_types")


def test_usd_session_without_types_offers_only_usd_types(api: httpx.Client) -> None:
    session = create_session(api, currency="USD")
    offered = {m["type"] for m in session["payment_methods"]}
    assert "credit_card" in offered
    assert not offered & {"konbini", "bank_transfer", "pay_easy", *WALLETS}, offered
    resp = pay(api, session["id"], cash_details("konbini"))
    assert_error(resp, 422, "invalid_payment_type")
    assert get_session(api, session["id"])["status"] == "pending"


def test_alipay_serves_cny(api: httpx.Client) -> None:
    payment = create_payment(api, amount=100, currency="CNY", payment_details={"type": "alipay"})
    assert payment["status"] == "pending"
    assert payment["currency"] == "CNY"


# --- offsite wallets ------------------------------------------------------------------------


def offsite_url(payment: dict[str, Any], merchant: Merchant) -> str:
    url = payment["payment_details"].get("redirect_url")
    assert url, payment
    parts = urlsplit(url)
    assert parts.netloc == urlsplit(merchant.server.base_url).netloc, url
    assert parts.path == f"/offsite/{payment['id']}", url
    return str(url)


@pytest.mark.parametrize("ptype", WALLETS)
def test_wallet_session_capture(api: httpx.Client, merchant: Merchant, ptype: str) -> None:
    session = create_session(api, amount=3100, return_url=RETURN_URL)
    result = pay_ok(api, session["id"], {"type": ptype})
    payment = result["payment"]
    assert payment["status"] == "pending"
    assert payment["payment_details"]["type"] == ptype
    url = offsite_url(payment, merchant)
    assert result["redirect_url"] == url
    assert result["status"] == "pending"
    waiting = get_session(api, session["id"])
    assert waiting["status"] == "pending"
    assert waiting["completed_at"] is None

    resp = drive_offsite(url, "capture")
    assert resp.status_code == 303, (resp.status_code, resp.text[:300])
    target = resp.headers["location"]
    assert target.startswith("https://shop.example/back"), target
    assert parse_qs(urlsplit(target).query)["session_id"] == [session["id"]]
    assert parse_qs(urlsplit(target).query)["order"] == ["7"]

    paid = get_payment(api, payment["id"])
    assert paid["status"] == "captured"
    assert paid["captured_at"] is not None
    after = get_session(api, session["id"])
    assert after["status"] == "completed"
    assert after["payment"]["id"] == payment["id"]


@pytest.mark.parametrize("ptype", WALLETS)
def test_wallet_session_fail(api: httpx.Client, merchant: Merchant, ptype: str) -> None:
    session = create_session(api, amount=3100, return_url=RETURN_URL)
    result = pay_ok(api, session["id"], {"type": ptype})
    payment = result["payment"]
    drive_offsite(offsite_url(payment, merchant), "fail")
    failed = get_payment(api, payment["id"])
    assert failed["status"] == "failed"
    assert failed["captured_at"] is None
    after = get_session(api, session["id"])
    assert after["status"] == "pending"
    assert after["completed_at"] is None
    # The customer may try again with another method.
    retry = pay_ok(api, session["id"], CARD)
    assert retry["status"] == "completed"
    assert get_session(api, session["id"])["payment"]["id"] == retry["payment"]["id"]


@pytest.mark.parametrize("ptype", WALLETS)
def test_wallet_direct_payment(api: httpx.Client, merchant: Merchant, ptype: str) -> None:
    captured = create_payment(api, amount=700, payment_details={"type": ptype})
    assert captured["status"] == "pending"
    assert captured["payment_deadline"] is None or parse_time(captured["payment_deadline"])
    drive_offsite(offsite_url(captured, merchant), "capture")
    assert get_payment(api, captured["id"])["status"] == "captured"

    failed = create_payment(api, amount=700, payment_details={"type": ptype})
    drive_offsite(offsite_url(failed, merchant), "fail")
    assert get_payment(api, failed["id"])["status"] == "failed"


def test_wallet_direct_payment_returns_to_return_url(api: httpx.Client, merchant: Merchant) -> None:
    payment = create_payment(
        api, payment_details={"type": "rakutenpay"}, return_url="https://shop.example/w?a=b"
    )
    resp = drive_offsite(offsite_url(payment, merchant), "capture")
    assert resp.status_code == 303, resp.text[:300]
    assert resp.headers["location"].startswith("https://shop.example/w?a=b"), resp.headers
    assert get_payment(api, payment["id"])["status"] == "captured"


def test_wallet_page_after_capture_does_not_capture_again(
    api: httpx.Client, merchant: Merchant
) -> None:
    payment = create_payment(api, payment_details={"type": "merpay"})
    url = offsite_url(payment, merchant)
    drive_offsite(url, "capture")
    first = get_payment(api, payment["id"])
    with httpx.Client(timeout=30) as browser:
        page = browser.get(url)
        if page.status_code == 200 and 'name="csrf"' in page.text:
            drive_offsite(url, "fail")
    assert get_payment(api, payment["id"]) == first


def test_wallet_with_capture_false_authorizes(api: httpx.Client, merchant: Merchant) -> None:
    payment = create_payment(api, payment_details={"type": "paypay"}, capture=False)
    assert payment["status"] == "pending"
    drive_offsite(offsite_url(payment, merchant), "capture")
    after = get_payment(api, payment["id"])
    assert after["status"] in ("authorized", "captured")
    if after["status"] == "authorized":
        captured = payment_of(api.post(f"/payments/{payment['id']}/capture"))
        assert captured["status"] == "captured"


def test_offsite_post_without_csrf_changes_nothing(api: httpx.Client, merchant: Merchant) -> None:
    payment = create_payment(api, payment_details={"type": "linepay"})
    url = offsite_url(payment, merchant)
    resp = httpx.post(url, data={"action": "capture", "csrf": "forged"}, timeout=30)
    assert resp.status_code in (303, 400, 403), resp.status_code
    assert get_payment(api, payment["id"])["status"] == "pending"


def test_simulate_without_csrf_changes_nothing(api: httpx.Client, merchant: Merchant) -> None:
    payment = create_payment(api, payment_details=cash_details("konbini"))
    resp = httpx.post(
        f"{merchant.server.base_url}/instructions/{payment['id']}/simulate",
        data={"csrf": "forged", "locale": "ja"},
        timeout=30,
    )
    assert resp.status_code in (303, 400, 403), resp.status_code
    assert get_payment(api, payment["id"])["status"] == "authorized"


# --- payment_types limits what /pay accepts ---------------------------------------------------


def test_session_payment_types_limit_pay(api: httpx.Client) -> None:
    session = create_session(api, payment_types=["konbini"])
    assert [m["type"] for m in session["payment_methods"]] == ["konbini"]
    for details in (CARD, {"type": "paypay"}, cash_details("bank_transfer")):
        assert_error(pay(api, session["id"], details), 422, "invalid_payment_type")
    assert get_session(api, session["id"])["status"] == "pending"
    result = pay_ok(api, session["id"], cash_details("konbini"))
    assert result["payment"]["status"] == "authorized"


def test_session_wallets_only(api: httpx.Client) -> None:
    session = create_session(api, payment_types=["paypay", "aupay"])
    assert {m["type"] for m in session["payment_methods"]} == {"paypay", "aupay"}
    assert_error(pay(api, session["id"], CARD), 422, "invalid_payment_type")
    assert_error(pay(api, session["id"], {"type": "linepay"}), 422, "invalid_payment_type")
    result = pay_ok(api, session["id"], {"type": "aupay"})
    assert result["payment"]["payment_details"]["type"] == "aupay"


def test_session_offers_offsite_flag(api: httpx.Client) -> None:
    session = create_session(api, payment_types=["credit_card", "paypay", "konbini"])
    methods = {m["type"]: m for m in session["payment_methods"]}
    assert set(methods) == {"credit_card", "paypay", "konbini"}
    assert methods["paypay"].get("offsite") is True
    assert not methods["credit_card"].get("offsite")
    assert_schema(session, "Session")


def test_unknown_type_in_pay(api: httpx.Client) -> None:
    session = create_session(api)
    assert_error(pay(api, session["id"], {"type": "cheque"}), 422, "invalid_payment_type")
