"""POST /api/v1/sessions: the parameter rules of contract section 2."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.helpers import ID_RE, create_session, get_session, parse_time
from tests.conftest import Merchant, assert_error, assert_schema

CURRENCIES = [
    "JPY", "USD", "EUR", "TWD", "KRW", "PLN", "GBP", "HKD", "SGD", "NZD",
    "AUD", "IDR", "MYR", "PHP", "THB", "CNY", "BRL", "CHF", "CAD", "VND",
]  # fmt: skip
BASE: dict[str, Any] = {"amount": 1000, "currency": "JPY"}


def post(api: httpx.Client, body: Any) -> httpx.Response:
    return api.post("/sessions", json=body)


def assert_param_error(
    resp: httpx.Response, code: str, params: str | tuple[str, ...]
) -> dict[str, Any]:
    body = assert_error(resp, 422, code)
    allowed = (params,) if isinstance(params, str) else params
    assert body["error"]["param"] in allowed, body
    return body


# --- a minimal session and the shape of the object ---------------------------------------


def test_minimal_session(api: httpx.Client, merchant: Merchant) -> None:
    before = datetime.now(UTC)
    session = create_session(api)
    assert ID_RE.match(session["id"]), session["id"]
    assert session["resource"] == "session"
    assert session["mode"] == "payment"
    assert session["amount"] == 1000
    assert session["currency"] == "JPY"
    assert session["status"] == "pending"
    assert session["expired"] is False
    assert session["payment"] is None
    assert session["cancelled_at"] is None
    assert session["completed_at"] is None
    assert session["return_url"] is None
    assert session["default_locale"] == "ja"
    assert session["metadata"] == {}
    assert session["merchant"] == {"name": merchant.name}
    assert session["payment_data"]["capture"] == "auto"
    assert session.get("secure_token") is None
    assert session["session_url"] == f"{merchant.server.base_url}/sessions/{session['id']}"
    created = parse_time(session["created_at"])
    assert before - timedelta(seconds=5) < created < datetime.now(UTC) + timedelta(seconds=5)
    # default expiry: 24 hours
    expires = parse_time(session["expires_at"])
    assert abs((expires - created).total_seconds() - 86400) < 2
    assert session["payment_methods"], session
    for method in session["payment_methods"]:
        assert method["amount"] == 1000 and method["currency"] == "JPY", method
        assert isinstance(method["exchange_rate"], int | float), method
    assert "credit_card" in [m["type"] for m in session["payment_methods"]]


def test_ids_are_random(api: httpx.Client) -> None:
    ids = {create_session(api)["id"] for _ in range(3)}
    assert len(ids) == 3


def test_amount_is_returned_as_integer_and_zero_allowed(api: httpx.Client) -> None:
    assert create_session(api, amount=0)["amount"] == 0
    session = create_session(api, amount="1500")
    assert session["amount"] == 1500 and isinstance(session["amount"], int)


@pytest.mark.parametrize("mode", ["payment", "customer", "customer_payment"])
def test_modes_accepted(api: httpx.Client, mode: str) -> None:
    session = create_session(api, mode=mode)
    assert session["mode"] == mode
    assert session["amount"] == 1000


def test_customer_mode_amount_defaults_to_zero(api: httpx.Client) -> None:
    resp = post(api, {"mode": "customer", "currency": "JPY"})
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "Session")
    assert resp.json()["amount"] == 0
    assert resp.json()["mode"] == "customer"
    assert {m["type"] for m in resp.json()["payment_methods"]} <= {"credit_card", "paypay"}


@pytest.mark.parametrize("currency", CURRENCIES)
def test_every_contract_currency_accepted(api: httpx.Client, currency: str) -> None:
    session = create_session(api, currency=currency, amount=500)
    assert session["currency"] == currency
    for method in session["payment_methods"]:
        assert method["amount"] >= 0


@pytest.mark.parametrize("given,wire", [("usd", "USD"), ("jpy", "JPY"), ("Eur", "EUR")])
def test_currency_case_insensitive_returned_upper(api: httpx.Client, given: str, wire: str) -> None:
    session = create_session(api, currency=given)
    assert session["currency"] == wire
    assert all(m["currency"] == wire for m in session["payment_methods"])
    assert get_session(api, session["id"])["currency"] == wire


# --- refused parameters -------------------------------------------------------------------

LONG_URL = "https://shop.example/" + "a" * (2049 - len("https://shop.example/"))

INVALID: list[tuple[str, dict[str, Any], str, str | tuple[str, ...]]] = [
    # (id, overrides, code, param)
    ("mode-unknown", {"mode": "subscription"}, "invalid_parameter", "mode"),
    ("mode-int", {"mode": 1}, "invalid_parameter", "mode"),
    ("amount-negative", {"amount": -1}, "invalid_parameter", "amount"),
    ("amount-float", {"amount": 10.5}, "invalid_parameter", "amount"),
    ("amount-float-integral", {"amount": 1000.0}, "invalid_parameter", "amount"),
    ("amount-true", {"amount": True}, "invalid_parameter", "amount"),
    ("amount-false", {"amount": False}, "invalid_parameter", "amount"),
    ("amount-letters", {"amount": "abc"}, "invalid_parameter", "amount"),
    ("amount-digits-letters", {"amount": "12a"}, "invalid_parameter", "amount"),
    ("amount-decimal-string", {"amount": "10.5"}, "invalid_parameter", "amount"),
    ("amount-negative-string", {"amount": "-5"}, "invalid_parameter", "amount"),
    ("amount-exponent-string", {"amount": "1e3"}, "invalid_parameter", "amount"),
    ("amount-empty-string", {"amount": ""}, "invalid_parameter", ("amount",)),
    ("amount-list", {"amount": [1000]}, "invalid_parameter", "amount"),
    (
        "amount-fullwidth-digits",
        {"amount": "\uff11\uff10\uff10\uff10"},
        "invalid_parameter",
        "amount",
    ),
    ("amount-arabic-indic-digits", {"amount": "\u0661\u0660\u0660"}, "invalid_parameter", "amount"),
    ("amount-underscore", {"amount": "1_000"}, "invalid_parameter", "amount"),
    ("amount-spaces", {"amount": " 1000 "}, "invalid_parameter", "amount"),
    ("amount-plus", {"amount": "+1000"}, "invalid_parameter", "amount"),
    ("amount-object", {"amount": {"value": 1000}}, "invalid_parameter", "amount"),
    ("currency-unknown", {"currency": "XYZ"}, "invalid_currency", "currency"),
    ("currency-unknown-lower", {"currency": "abc"}, "invalid_currency", "currency"),
    ("currency-not-offered", {"currency": "SEK"}, "invalid_currency", "currency"),
    (
        "return-url-javascript",
        {"return_url": "javascript:alert(1)"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-javascript-case",
        {"return_url": "JavaScript:alert(1)//https://x"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-data",
        {"return_url": "data:text/html,<script>alert(1)</script>"},
        "invalid_parameter",
        "return_url",
    ),
    ("return-url-relative", {"return_url": "/thanks"}, "invalid_parameter", "return_url"),
    ("return-url-bare-word", {"return_url": "thanks"}, "invalid_parameter", "return_url"),
    (
        "return-url-protocol-relative",
        {"return_url": "//evil.example/thanks"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-ftp",
        {"return_url": "ftp://shop.example/thanks"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-newline",
        {"return_url": "https://shop.example/\r\nSet-Cookie: a=b"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-nul",
        {"return_url": "https://shop.example/\x00"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-tab",
        {"return_url": "https://shop.example/\tthanks"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-del",
        {"return_url": "https://shop.example/\x7fthanks"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-c1-nel",
        {"return_url": "https://shop.example/\u0085thanks"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-c1-csi",
        {"return_url": "https://shop.example/\u009bthanks"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-space-in-host",
        {"return_url": "https://shop example/thanks"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-bad-ipv6",
        {"return_url": "https://[::1/thanks"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-empty-host-port",
        {"return_url": "http://:8080/thanks"},
        "invalid_parameter",
        "return_url",
    ),
    (
        "return-url-bad-port",
        {"return_url": "https://shop.example:99999/thanks"},
        "invalid_parameter",
        "return_url",
    ),
    ("return-url-too-long", {"return_url": LONG_URL}, "invalid_parameter", "return_url"),
    ("return-url-no-host", {"return_url": "https://"}, "invalid_parameter", "return_url"),
    ("return-url-int", {"return_url": 5}, "invalid_parameter", "return_url"),
    ("email-no-at", {"email": "not-an-email"}, "invalid_parameter", "email"),
    ("email-no-domain", {"email": "taro@"}, "invalid_parameter", "email"),
    ("email-spaces", {"email": "taro yamada@example.com"}, "invalid_parameter", "email"),
    (
        "email-too-long",
        {"email": "a" * 64 + "@" + ("b" * 60 + ".") * 3 + "c" * 8 + ".com"},
        "invalid_parameter",
        "email",
    ),
    ("expires-zero", {"expires_in_seconds": 0}, "invalid_parameter", "expires_in_seconds"),
    ("expires-negative", {"expires_in_seconds": -5}, "invalid_parameter", "expires_in_seconds"),
    ("expires-too-big", {"expires_in_seconds": 86401}, "invalid_parameter", "expires_in_seconds"),
    ("expires-float", {"expires_in_seconds": 60.5}, "invalid_parameter", "expires_in_seconds"),
    ("expires-bool", {"expires_in_seconds": True}, "invalid_parameter", "expires_in_seconds"),
    (
        "expires-fullwidth",
        {"expires_in_seconds": "\uff16\uff10\uff10"},
        "invalid_parameter",
        "expires_in_seconds",
    ),
    ("expires-letters", {"expires_in_seconds": "soon"}, "invalid_parameter", "expires_in_seconds"),
    (
        "external-customer-id-too-long",
        {"external_customer_id": "c" * 256},
        "invalid_parameter",
        "external_customer_id",
    ),
    (
        "payment-types-unknown",
        {"payment_types": ["bitcoin"]},
        "invalid_payment_type",
        ("payment_types", "payment_types[0]"),
    ),
    (
        "payment-types-unknown-second",
        {"payment_types": ["credit_card", "bitcoin"]},
        "invalid_payment_type",
        ("payment_types", "payment_types[1]"),
    ),
    ("locale-unknown", {"default_locale": "fr"}, "invalid_parameter", "default_locale"),
    ("locale-upper", {"default_locale": "EN-US"}, "invalid_parameter", "default_locale"),
    ("line-items-not-list", {"line_items": "tea"}, "invalid_parameter", "line_items"),
    ("line-item-not-object", {"line_items": [5]}, "invalid_parameter", "line_items[0]"),
    (
        "line-item-amount-negative",
        {"line_items": [{"amount": -1, "description": "x"}]},
        "invalid_parameter",
        "line_items[0][amount]",
    ),
    (
        "line-item-amount-float",
        {"line_items": [{"amount": 1.5, "description": "x"}]},
        "invalid_parameter",
        "line_items[0][amount]",
    ),
    (
        "line-item-amount-bool",
        {"line_items": [{"amount": True, "description": "x"}]},
        "invalid_parameter",
        "line_items[0][amount]",
    ),
    (
        "line-item-amount-letters",
        {"line_items": [{"amount": "ten", "description": "x"}]},
        "invalid_parameter",
        "line_items[0][amount]",
    ),
    (
        "line-item-second-amount",
        {"line_items": [{"amount": 100, "description": "ok"}, {"amount": -3, "description": "x"}]},
        "invalid_parameter",
        "line_items[1][amount]",
    ),
    (
        "line-item-quantity-zero",
        {"line_items": [{"amount": 100, "quantity": 0}]},
        "invalid_parameter",
        "line_items[0][quantity]",
    ),
    (
        "line-item-quantity-negative",
        {"line_items": [{"amount": 100, "quantity": -2}]},
        "invalid_parameter",
        "line_items[0][quantity]",
    ),
    (
        "line-item-quantity-float",
        {"line_items": [{"amount": 100, "quantity": 1.5}]},
        "invalid_parameter",
        "line_items[0][quantity]",
    ),
    (
        "line-item-image-javascript",
        {"line_items": [{"amount": 100, "image": "javascript:alert(1)"}]},
        "invalid_parameter",
        "line_items[0][image]",
    ),
    (
        "line-item-image-data",
        {"line_items": [{"amount": 100, "image": "data:image/png;base64,AAAA"}]},
        "invalid_parameter",
        "line_items[0][image]",
    ),
    (
        "line-item-image-relative",
        {"line_items": [{"amount": 100, "image": "/img/tea.png"}]},
        "invalid_parameter",
        "line_items[0][image]",
    ),
    (
        "line-item-image-c1",
        {"line_items": [{"amount": 100, "image": "https://cdn.example/\u0085.png"}]},
        "invalid_parameter",
        "line_items[0][image]",
    ),
    (
        "line-item-quantity-fullwidth",
        {"line_items": [{"amount": 100, "quantity": "\uff12"}]},
        "invalid_parameter",
        "line_items[0][quantity]",
    ),
    (
        "line-item-image-ftp",
        {"line_items": [{"amount": 100, "image": "ftp://cdn.example/tea.png"}]},
        "invalid_parameter",
        "line_items[0][image]",
    ),
    ("metadata-not-object", {"metadata": "order=1"}, "invalid_parameter", "metadata"),
    ("metadata-list", {"metadata": ["a"]}, "invalid_parameter", "metadata"),
    (
        "metadata-key-too-long",
        {"metadata": {"k" * 31: "v"}},
        "invalid_parameter",
        ("metadata", "metadata[" + "k" * 31 + "]"),
    ),
    (
        "metadata-value-too-long",
        {"metadata": {"note": "v" * 2001}},
        "invalid_parameter",
        ("metadata", "metadata[note]"),
    ),
    (
        "metadata-too-many-keys",
        {"metadata": {f"k{i}": "v" for i in range(51)}},
        "invalid_parameter",
        "metadata",
    ),
    ("payment-data-not-object", {"payment_data": "manual"}, "invalid_parameter", "payment_data"),
    (
        "capture-unknown",
        {"payment_data": {"capture": "later"}},
        "invalid_parameter",
        "payment_data[capture]",
    ),
    (
        "capture-bool",
        {"payment_data": {"capture": True}},
        "invalid_parameter",
        "payment_data[capture]",
    ),
    (
        "external-order-num-too-long",
        {"payment_data": {"external_order_num": "o" * 256}},
        "invalid_parameter",
        "payment_data[external_order_num]",
    ),
]


@pytest.mark.parametrize(
    "overrides,code,param", [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_parameter(
    api: httpx.Client, overrides: dict[str, Any], code: str, param: str | tuple[str, ...]
) -> None:
    assert_param_error(post(api, {**BASE, **overrides}), code, param)


@pytest.mark.parametrize("mode", ["payment", "customer_payment"])
def test_amount_required_in_payment_modes(api: httpx.Client, mode: str) -> None:
    assert_param_error(post(api, {"mode": mode, "currency": "JPY"}), "missing_parameter", "amount")


def test_amount_null_refused(api: httpx.Client) -> None:
    resp = post(api, {"amount": None, "currency": "JPY"})
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert_schema(body, "APIError")
    assert body["error"]["code"] in ("missing_parameter", "invalid_parameter"), body
    assert body["error"]["param"] == "amount", body


def test_amount_too_big_for_storage_is_not_a_server_error(api: httpx.Client) -> None:
    resp = post(api, {"amount": 2**63, "currency": "JPY"})
    if resp.status_code == 200:
        assert resp.json()["amount"] == 2**63
        assert get_session(api, resp.json()["id"])["amount"] == 2**63
    else:
        assert_param_error(resp, "invalid_parameter", "amount")


@pytest.mark.parametrize("mode", ["payment", "customer", "customer_payment"])
def test_currency_required(api: httpx.Client, mode: str) -> None:
    assert_param_error(post(api, {"mode": mode, "amount": 1000}), "missing_parameter", "currency")


def test_empty_object_names_a_missing_parameter(api: httpx.Client) -> None:
    body = assert_error(post(api, {}), 422, "missing_parameter")
    assert body["error"]["param"] in ("amount", "currency"), body


# --- accepted parameters and boundaries -----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/thanks",
        "http://localhost:3000/thanks?order=1&x=%20y",
        "https://shop.example/" + "a" * (2048 - len("https://shop.example/")),
    ],
    ids=["https", "http-with-query", "exactly-2048"],
)
def test_return_url_accepted(api: httpx.Client, url: str) -> None:
    assert create_session(api, return_url=url)["return_url"] == url


def test_email_accepted_and_returned(api: httpx.Client) -> None:
    session = create_session(api, email="taro.yamada+shop@example.co.jp")
    assert session["email"] == "taro.yamada+shop@example.co.jp"
    assert get_session(api, session["id"])["email"] == "taro.yamada+shop@example.co.jp"


@pytest.mark.parametrize("seconds", [1, 600, 86400])
def test_expires_in_seconds_bounds(api: httpx.Client, seconds: int) -> None:
    session = create_session(api, expires_in_seconds=seconds)
    delta = parse_time(session["expires_at"]) - parse_time(session["created_at"])
    assert abs(delta.total_seconds() - seconds) < 2, session


def test_external_customer_id_at_limit(api: httpx.Client) -> None:
    create_session(api, external_customer_id="c" * 255)


def test_payment_types_restricts_offer(api: httpx.Client) -> None:
    session = create_session(api, payment_types=["credit_card"], currency="USD", amount=1250)
    assert [m["type"] for m in session["payment_methods"]] == ["credit_card"]
    method = session["payment_methods"][0]
    assert method["currency"] == "USD" and method["amount"] == 1250


@pytest.mark.parametrize(
    "overrides",
    [
        {"currency": "USD", "payment_types": ["konbini"]},
        {"currency": "EUR", "payment_types": ["credit_card", "konbini"]},
        {"currency": "USD", "payment_types": ["pay_easy"]},
        {"mode": "customer", "currency": "JPY", "payment_types": ["konbini"]},
    ],
    ids=["konbini-usd", "konbini-eur-mixed", "pay-easy-usd", "konbini-customer-mode"],
)
def test_payment_type_that_cannot_serve_is_refused(
    api: httpx.Client, overrides: dict[str, Any]
) -> None:
    resp = post(api, {**BASE, **overrides})
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert_schema(body, "APIError")
    assert body["error"]["code"] in ("invalid_payment_type", "invalid_parameter"), body
    assert body["error"]["param"] is not None
    assert body["error"]["param"].startswith("payment_types"), body


@pytest.mark.parametrize("locale", ["ja", "en", "ko"])
def test_default_locale(api: httpx.Client, locale: str) -> None:
    assert create_session(api, default_locale=locale)["default_locale"] == locale


def test_line_items_returned_with_default_quantity(api: httpx.Client) -> None:
    items = [
        {"amount": 600, "description": "Green tea", "image": "https://cdn.example/tea.png"},
        {"amount": 200, "description": "Mochi", "quantity": 2, "external_product_num": "SKU-9"},
        {"amount": 0, "description": "Free sample", "image": "http://cdn.example/s.png"},
    ]
    session = create_session(api, line_items=items)
    got = session["line_items"]
    assert len(got) == 3
    assert got[0]["amount"] == 600 and got[0]["quantity"] == 1
    assert got[0]["description"] == "Green tea"
    assert got[0]["image"] == "https://cdn.example/tea.png"
    assert got[1]["quantity"] == 2 and got[1]["external_product_num"] == "SKU-9"
    assert got[2]["amount"] == 0
    assert get_session(api, session["id"])["line_items"] == got


def test_metadata_at_limits(api: httpx.Client) -> None:
    metadata = {f"k{i:02d}" + "x" * 27: "v" * 2000 for i in range(49)}
    metadata["order"] = "日本語 🍵"
    assert len(metadata) == 50 and all(len(k) <= 30 for k in metadata)
    assert any(len(k) == 30 for k in metadata)
    session = create_session(api, metadata=metadata)
    assert session["metadata"] == metadata
    assert get_session(api, session["id"])["metadata"] == metadata


def test_payment_data_returned(api: httpx.Client) -> None:
    order = "order-" + secrets.token_hex(6)
    session = create_session(
        api,
        payment_data={
            "capture": "manual",
            "external_order_num": order,
            "name": "Taro Yamada",
            "name_kana": "ヤマダ タロウ",
        },
    )
    assert session["payment_data"]["capture"] == "manual"
    assert session["payment_data"]["external_order_num"] == order
    assert get_session(api, session["id"])["payment_data"]["capture"] == "manual"


def test_external_order_num_at_limit(api: httpx.Client) -> None:
    order = secrets.token_hex(8) + "o" * 239
    assert len(order) == 255
    session = create_session(api, payment_data={"external_order_num": order})
    assert session["payment_data"]["external_order_num"] == order


def test_external_order_num_unique_per_merchant(api: httpx.Client) -> None:
    order = "dup-" + secrets.token_hex(6)
    create_session(api, payment_data={"external_order_num": order})
    resp = post(api, {**BASE, "payment_data": {"external_order_num": order}})
    assert_param_error(resp, "invalid_parameter", "payment_data[external_order_num]")


def test_external_order_num_unique_even_after_cancel(api: httpx.Client) -> None:
    order = "dup-" + secrets.token_hex(6)
    first = create_session(api, payment_data={"external_order_num": order})
    assert api.post(f"/sessions/{first['id']}/cancel").status_code == 200
    resp = post(api, {**BASE, "payment_data": {"external_order_num": order}})
    assert_param_error(resp, "invalid_parameter", "payment_data[external_order_num]")


# --- what the request cannot set, and what it may add ---------------------------------------


def test_server_owned_fields_are_ignored(api: httpx.Client, merchant: Merchant) -> None:
    session = create_session(
        api,
        id="aaaaaaaaaaaaaaaaaaaaaaaaa",
        resource="payment",
        status="completed",
        created_at="2001-01-01T00:00:00Z",
        completed_at="2001-01-01T00:00:00Z",
        cancelled_at="2001-01-01T00:00:00Z",
        expired=True,
        session_url="https://evil.example/pay",
        merchant={"name": "Evil Corp"},
        payment={"id": "x", "status": "captured"},
    )
    assert session["id"] != "aaaaaaaaaaaaaaaaaaaaaaaaa"
    assert ID_RE.match(session["id"])
    assert session["resource"] == "session"
    assert session["status"] == "pending"
    assert session["expired"] is False
    assert session["completed_at"] is None and session["cancelled_at"] is None
    assert parse_time(session["created_at"]).year >= 2024
    assert session["session_url"] == f"{merchant.server.base_url}/sessions/{session['id']}"
    assert session["merchant"] == {"name": merchant.name}
    assert session["payment"] is None
    resp = api.get("/sessions/aaaaaaaaaaaaaaaaaaaaaaaaa")
    assert_error(resp, 404, "not_found")


def test_unknown_and_unused_komoju_parameters_are_accepted(api: httpx.Client) -> None:
    session = create_session(
        api,
        favourite_colour="green",
        fraud_details={"customer_ip": "192.0.2.1"},
        platform_details={"fee": 1},
        intent="one_time",
        nested={"deep": [1, {"x": None}]},
    )
    assert session["status"] == "pending"
    assert "favourite_colour" not in session


def test_api_version_header_accepted(api: httpx.Client) -> None:
    resp = api.post("/sessions", json=BASE, headers={"X-KOMOJU-API-VERSION": "2025-01-28"})
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "Session")


def test_response_is_utf8_json(api: httpx.Client) -> None:
    resp = post(api, {**BASE, "metadata": {"note": "お茶"}})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert "お茶" in resp.content.decode("utf-8")
