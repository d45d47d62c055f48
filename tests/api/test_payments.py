"""POST/GET /api/v1/payments: creating, showing and listing payments (contract sections 1, 3, 6)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.helpers import (
    DECLINES,
    ID_RE,
    UNKNOWN_ID,
    answer_3ds,
    assert_list,
    assert_no_card_secrets,
    card,
    create_payment,
    get_payment,
    parse_time,
    payment_of,
    post_payment,
)
from tests.conftest import (
    CARD,
    CARD_YEAR,
    EXPIRED_YEAR,
    Merchant,
    Server,
    assert_error,
    assert_schema,
    moment_after,
)

CHALLENGE = ["4100000000005000", "5100000000005007", "3528000000005006"]
FRICTIONLESS = ["4100000000000100", "5100000000000107", "3528000000000106"]


def order_num() -> str:
    return "ord-" + secrets.token_hex(8)


# --- creating with a card -------------------------------------------------------------------


def test_card_payment_is_captured(api: httpx.Client) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    resp = post_payment(api, amount=2500, payment_details=card("5555555555554444"))
    payment = payment_of(resp)
    assert_no_card_secrets(resp.json(), "5555555555554444", CARD["verification_value"])
    assert payment["status"] == "captured"
    assert payment["amount"] == 2500 and payment["currency"] == "JPY"
    assert payment["tax"] == 0
    assert payment["total"] == 2500 + payment["payment_method_fee"]
    assert payment["amount_refunded"] == 0
    assert payment["refunds"] == [] and payment["refund_requests"] == []
    assert payment["customer"] is None and payment["session"] is None
    assert payment["captured_at"] is not None
    created = parse_time(payment["created_at"])
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=5)
    assert parse_time(payment["captured_at"]) >= created
    details = payment["payment_details"]
    assert details["type"] == "credit_card"
    assert details["brand"] == "master"
    assert details["last_four_digits"] == "4444"
    assert (details["month"], details["year"]) == (12, CARD_YEAR)
    assert details["verification_value"] == "Approved"
    assert get_payment(api, payment["id"]) == payment


def test_card_without_cvv_is_not_supplied(api: httpx.Client) -> None:
    details = {k: v for k, v in CARD.items() if k != "verification_value"}
    payment = create_payment(api, payment_details=details)
    assert payment["status"] == "captured"
    assert payment["payment_details"]["verification_value"] == "Not Supplied"


def test_capture_false_authorizes(api: httpx.Client) -> None:
    payment = create_payment(api, amount=1500, capture=False)
    assert payment["status"] == "authorized"
    assert payment["captured_at"] is None
    assert payment["amount"] == 1500
    assert get_payment(api, payment["id"])["status"] == "authorized"


def test_form_encoded_create_means_the_same(api: httpx.Client) -> None:
    resp = api.post(
        "/payments",
        data={
            "amount": "1200",
            "currency": "JPY",
            "capture": "false",
            "payment_details[type]": "credit_card",
            "payment_details[number]": "4111111111111111",
            "payment_details[month]": "12",
            "payment_details[year]": str(CARD_YEAR),
            "payment_details[verification_value]": "123",
            "metadata[order]": "77",
        },
    )
    payment = payment_of(resp)
    assert payment["status"] == "authorized"
    assert payment["amount"] == 1200
    assert payment["metadata"] == {"order": "77"}
    assert payment["payment_details"]["last_four_digits"] == "1111"


def test_usd_amount_is_in_cents(api: httpx.Client) -> None:
    payment = create_payment(api, amount=1999, currency="usd")
    assert payment["amount"] == 1999
    assert payment["currency"] == "USD"


def test_optional_fields_are_kept(api: httpx.Client) -> None:
    order = order_num()
    payment = create_payment(
        api,
        amount=1000,
        tax=100,
        description="Two mugs",
        external_order_num=order,
        metadata={"order": "42", "count": 3, "gift": True},
        locale="en",
        return_url="https://shop.example/done",
    )
    assert payment["tax"] == 100
    assert payment["total"] == 1100 + payment["payment_method_fee"]
    assert payment["description"] == "Two mugs"
    assert payment["external_order_num"] == order
    assert payment["metadata"] == {"order": "42", "count": "3", "gift": "true"}
    assert payment["locale"] == "en"
    assert get_payment(api, payment["id"]) == payment


def test_defaults(api: httpx.Client) -> None:
    payment = create_payment(api)
    assert payment["tax"] == 0
    assert payment["description"] is None
    assert payment["external_order_num"] is None
    assert payment["metadata"] == {}
    assert payment["locale"] in ("ja", "en", "ko")


def test_fields_a_merchant_must_not_set_are_ignored(api: httpx.Client) -> None:
    payment = create_payment(
        api,
        id="a" * 25,
        status="refunded",
        amount_refunded=500,
        captured_at="2001-01-01T00:00:00Z",
        created_at="2001-01-01T00:00:00Z",
        total=1,
    )
    assert payment["id"] != "a" * 25
    assert payment["status"] == "captured"
    assert payment["amount_refunded"] == 0
    assert payment["total"] == 1000 + payment["payment_method_fee"]
    assert parse_time(payment["created_at"]).year >= 2024
    assert_error(api.get(f"/payments/{'a' * 25}"), 404, "not_found")


def test_ids_are_unique_and_well_formed(api: httpx.Client) -> None:
    ids = {create_payment(api)["id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(ID_RE.match(i) for i in ids)


# --- 3-D Secure -----------------------------------------------------------------------------


@pytest.mark.parametrize("number", FRICTIONLESS)
def test_3ds_frictionless_is_captured(api: httpx.Client, number: str) -> None:
    payment = create_payment(api, payment_details=card(number))
    assert payment["status"] == "captured"


@pytest.mark.parametrize("number", CHALLENGE)
def test_3ds_challenge_is_pending_with_redirect(
    api: httpx.Client, merchant: Merchant, number: str
) -> None:
    payment = create_payment(api, payment_details=card(number))
    assert payment["status"] == "pending"
    assert payment["captured_at"] is None
    url = payment["payment_details"].get("redirect_url")
    assert url, payment
    assert urlsplit(url).netloc == urlsplit(merchant.server.base_url).netloc, url
    page = httpx.get(url, timeout=30)
    assert page.status_code == 200, (url, page.status_code)
    assert page.headers["content-type"].startswith("text/html")
    assert get_payment(api, payment["id"])["status"] == "pending"


def test_3ds_challenge_right_password_captures(api: httpx.Client) -> None:
    payment = create_payment(api, payment_details=card("4100000000005000"))
    resp = answer_3ds(payment["payment_details"]["redirect_url"], "123456")
    assert resp.status_code in (200, 303), resp.text[:500]
    after = get_payment(api, payment["id"])
    assert after["status"] == "captured", after
    assert after["captured_at"] is not None


def test_3ds_challenge_returns_to_return_url(api: httpx.Client) -> None:
    payment = create_payment(
        api, payment_details=card("4100000000005000"), return_url="https://shop.example/r?x=1"
    )
    resp = answer_3ds(payment["payment_details"]["redirect_url"], "123456")
    assert resp.status_code == 303, resp.text[:300]
    assert resp.headers["location"].startswith("https://shop.example/r?x=1"), resp.headers
    assert get_payment(api, payment["id"])["status"] == "captured"


def test_3ds_challenge_with_capture_false_authorizes(api: httpx.Client) -> None:
    payment = create_payment(api, payment_details=card("5100000000005007"), capture=False)
    assert payment["status"] == "pending"
    answer_3ds(payment["payment_details"]["redirect_url"], "123456")
    assert get_payment(api, payment["id"])["status"] == "authorized"


def test_3ds_challenge_wrong_password_fails(api: httpx.Client) -> None:
    payment = create_payment(api, payment_details=card("3528000000005006"))
    answer_3ds(payment["payment_details"]["redirect_url"], "000000")
    assert get_payment(api, payment["id"])["status"] == "failed"


# --- declines -------------------------------------------------------------------------------


@pytest.mark.parametrize("number,code", list(DECLINES.items()))
def test_decline_is_402_and_records_failed_payment(
    api: httpx.Client, number: str, code: str
) -> None:
    order = order_num()
    resp = post_payment(
        api,
        amount=3333,
        external_order_num=order,
        payment_details=card(number, verification_value="987"),
    )
    body = assert_error(resp, 402, code)
    assert_no_card_secrets(body, number, "987")
    failed = body["error"]["details"].get("payment")
    assert failed, body
    assert_schema(failed, "Payment")
    assert failed["status"] == "failed"
    stored = get_payment(api, failed["id"])
    assert stored["status"] == "failed"
    assert stored["amount"] == 3333
    assert stored["captured_at"] is None
    assert stored["external_order_num"] == order
    assert stored["payment_details"]["last_four_digits"] == number[-4:]


def test_decline_with_capture_false_also_fails(api: httpx.Client) -> None:
    resp = post_payment(api, capture=False, payment_details=card("4123111111111059"))
    body = assert_error(resp, 402, "card_declined")
    assert get_payment(api, body["error"]["details"]["payment"]["id"])["status"] == "failed"


# --- payment_details / customer: exactly one ------------------------------------------------


def test_neither_payment_details_nor_customer(api: httpx.Client) -> None:
    resp = api.post("/payments", json={"amount": 1000, "currency": "JPY"})
    body = assert_error(resp, 422, "missing_parameter")
    assert body["error"]["param"] in ("payment_details", "customer"), body


def test_both_payment_details_and_customer(api: httpx.Client) -> None:
    customer = api.post("/customers", json={"payment_details": CARD})
    assert customer.status_code == 200, customer.text
    resp = post_payment(api, payment_details=CARD, customer=customer.json()["id"])
    body = assert_error(resp, 422, "invalid_parameter")
    assert body["error"]["param"] in ("payment_details", "customer"), body


# --- parameter rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params,code,param",
    [
        ({"amount": None}, "missing_parameter", "amount"),
        ({"amount": -1}, "invalid_parameter", "amount"),
        ({"amount": 10.5}, "invalid_parameter", "amount"),
        ({"amount": 1000.0}, "invalid_parameter", "amount"),
        ({"amount": True}, "invalid_parameter", "amount"),
        ({"amount": "ten"}, "invalid_parameter", "amount"),
        ({"currency": None}, "missing_parameter", "currency"),
        ({"currency": "XYZ"}, "invalid_currency", "currency"),
        ({"currency": "JP"}, "invalid_currency", "currency"),
        ({"tax": -5}, "invalid_parameter", "tax"),
        ({"tax": 1.5}, "invalid_parameter", "tax"),
        ({"capture": "sometimes"}, "invalid_parameter", "capture"),
        ({"locale": "fr"}, "invalid_parameter", "locale"),
        ({"external_order_num": "x" * 256}, "invalid_parameter", "external_order_num"),
        ({"metadata": "order=1"}, "invalid_parameter", "metadata"),
        ({"return_url": "javascript:alert(1)"}, "invalid_parameter", "return_url"),
        ({"return_url": "/relative"}, "invalid_parameter", "return_url"),
        ({"payment_details": {"type": "bitcoin"}}, "invalid_payment_type", None),
        ({"payment_details": {**CARD, "number": "4111111111111112"}}, "invalid_parameter", None),
        ({"payment_details": {**CARD, "month": 13}}, "invalid_parameter", None),
        ({"payment_details": {**CARD, "year": EXPIRED_YEAR}}, "invalid_parameter", None),
        ({"payment_details": {"number": "4111111111111111"}}, "missing_parameter", None),
    ],
    ids=[
        "amount-missing",
        "amount-negative",
        "amount-float",
        "amount-float-integral",
        "amount-bool",
        "amount-word",
        "currency-missing",
        "currency-unknown",
        "currency-short",
        "tax-negative",
        "tax-float",
        "capture-word",
        "locale-fr",
        "order-num-too-long",
        "metadata-string",
        "return-url-javascript",
        "return-url-relative",
        "unknown-type",
        "luhn",
        "month-13",
        "past-year",
        "card-without-type",
    ],
)
def test_bad_parameter_is_422(
    api: httpx.Client, params: dict[str, Any], code: str, param: str | None
) -> None:
    body: dict[str, Any] = {"amount": 1000, "currency": "JPY", "payment_details": CARD}
    body.update(params)
    body = {k: v for k, v in body.items() if v is not None}
    resp = api.post("/payments", json=body)
    err = assert_error(resp, 422, code)
    if param is not None:
        assert err["error"]["param"] == param, err
    else:
        assert str(err["error"]["param"]).startswith("payment_details"), err


def test_amount_as_digit_string_is_accepted(api: httpx.Client) -> None:
    payment = create_payment(api, amount="1500")
    assert payment["amount"] == 1500


@pytest.mark.parametrize(
    "metadata",
    [
        {"k" * 31: "v"},
        {"k": "v" * 2001},
        {f"k{i}": "v" for i in range(51)},
        {"nested": {"a": "b"}},
        {"list": ["a"]},
    ],
    ids=["key-too-long", "value-too-long", "too-many-keys", "nested-object", "array"],
)
def test_bad_metadata_is_422(api: httpx.Client, metadata: dict[str, Any]) -> None:
    resp = post_payment(api, metadata=metadata)
    body = assert_error(resp, 422, "invalid_parameter")
    assert str(body["error"]["param"]).startswith("metadata"), body


def test_metadata_at_the_limits_is_accepted(api: httpx.Client) -> None:
    metadata = {f"{i:02d}" + "k" * 28: "v" * 2000 for i in range(50)}
    payment = create_payment(api, metadata=metadata)
    assert payment["metadata"] == metadata


def test_unknown_customer_is_422(api: httpx.Client) -> None:
    resp = api.post("/payments", json={"amount": 1000, "currency": "JPY", "customer": UNKNOWN_ID})
    assert_error(resp, 422, "invalid_parameter", "customer")


def test_bad_request_body(api: httpx.Client) -> None:
    resp = api.post("/payments", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "bad_request")


# --- auth -----------------------------------------------------------------------------------


def test_publishable_key_cannot_use_payments(public_api: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api)
    assert_error(post_payment(public_api), 403, "forbidden")
    assert_error(public_api.get("/payments"), 403, "forbidden")
    assert_error(public_api.get(f"/payments/{payment['id']}"), 403, "forbidden")


def test_no_key_is_401(merchant: Merchant) -> None:
    with httpx.Client(base_url=f"{merchant.server.base_url}/api/v1", timeout=30) as anon:
        assert_error(anon.get("/payments"), 401, "unauthorized")
        assert_error(post_payment(anon), 401, "unauthorized")


def test_unknown_payment_is_404(api: httpx.Client) -> None:
    assert_error(api.get(f"/payments/{UNKNOWN_ID}"), 404, "not_found")


# --- listing --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop(server: Server) -> dict[str, Any]:
    """A merchant of its own with 13 known payments, oldest first."""
    m = server.merchant("List Shop")
    made: list[dict[str, Any]] = []
    # marks[i]: a moment after payment i-1 was created and before payment i was (the server
    # reads the same clock), so time windows between marks select known payments.
    marks: list[datetime] = []
    with m.client() as client:
        for i in range(13):
            marks.append(moment_after(made[-1]["created_at"] if made else None))
            moment_after(marks[-1].isoformat())  # strictly before: end_time is inclusive
            params: dict[str, Any] = {"amount": 100 + i, "external_order_num": f"list-{i}"}
            if i % 4 == 1:
                params["capture"] = False
            if i % 5 == 3:
                params["currency"] = "USD"
            if i == 6:
                resp = post_payment(client, payment_details=card("4123111111111059"), **params)
                assert resp.status_code == 402, resp.text
                made.append(get_payment(client, resp.json()["error"]["details"]["payment"]["id"]))
                continue
            made.append(create_payment(client, **params))
    return {"merchant": m, "payments": made, "marks": marks}


def _list(shop: dict[str, Any], **params: Any) -> dict[str, Any]:
    with shop["merchant"].client() as client:
        resp = client.get("/payments", params=params)
    assert resp.status_code == 200, (params, resp.text)
    body = resp.json()
    shop.setdefault("bodies", []).append(body)
    return body


def _ids(body: dict[str, Any]) -> list[str]:
    return [p["id"] for p in body["data"]]


def _expect(shop: dict[str, Any], pred: Any) -> list[str]:
    return [p["id"] for p in reversed(shop["payments"]) if pred(p)]


def test_list_default_page_is_newest_ten(shop: dict[str, Any]) -> None:
    body = _list(shop)
    data = assert_list(body, total=13, page=1, per_page=10)
    newest_first = _expect(shop, lambda p: True)
    assert [p["id"] for p in data] == newest_first[:10]
    times = [parse_time(p["created_at"]) for p in data]
    assert times == sorted(times, reverse=True)
    assert_schema(body, "PaymentList")


def test_list_pages(shop: dict[str, Any]) -> None:
    newest_first = _expect(shop, lambda p: True)
    seen: list[str] = []
    bodies = []
    for page in (1, 2, 3):
        body = _list(shop, page=page, per_page=5)
        seen += [p["id"] for p in assert_list(body, total=13, page=page, per_page=5)]
        bodies.append(body)
    assert seen == newest_first
    second = _list(shop, page=2)
    assert (
        assert_list(second, total=13, page=2, per_page=10) == _list(shop, per_page=100)["data"][10:]
    )
    assert _ids(second) == newest_first[10:]
    beyond = _list(shop, page=4, per_page=5)
    assert assert_list(beyond, total=13, page=4, per_page=5) == []
    for body in [*bodies, second, beyond]:
        assert_schema(body, "PaymentList")


def test_list_per_page_100(shop: dict[str, Any]) -> None:
    body = _list(shop, per_page=100)
    data = assert_list(body, total=13, page=1, per_page=100)
    assert _ids(body) == _expect(shop, lambda p: True)
    by_id = {p["id"]: p for p in shop["payments"]}
    for item in data:
        assert item == by_id[item["id"]]
    assert_schema(body, "PaymentList")


@pytest.mark.parametrize(
    "status",
    ["captured", "authorized", "failed", "authorized,failed", "captured,authorized,failed"],
)
def test_list_filter_status(shop: dict[str, Any], status: str) -> None:
    wanted = set(status.split(","))
    expected = _expect(shop, lambda p: p["status"] in wanted)
    assert expected
    body = _list(shop, status=status, per_page=100)
    assert_list(body, total=len(expected), page=1, per_page=100)
    assert _ids(body) == expected
    assert_schema(body, "PaymentList")


def test_list_filter_status_with_no_match(shop: dict[str, Any]) -> None:
    body = _list(shop, status="refunded")
    assert body["total"] == 0 and body["data"] == []
    assert_schema(body, "PaymentList")


def test_list_filter_currency(shop: dict[str, Any]) -> None:
    expected = _expect(shop, lambda p: p["currency"] == "USD")
    assert expected
    body = _list(shop, currency="USD", per_page=100)
    assert_list(body, total=len(expected), page=1, per_page=100)
    assert _ids(body) == expected
    jpy = _list(shop, currency="JPY", per_page=100)
    assert jpy["total"] == 13 - len(expected)
    assert all(p["currency"] == "JPY" for p in jpy["data"])
    assert_schema(body, "PaymentList")


def test_list_filter_external_order_num(shop: dict[str, Any]) -> None:
    body = _list(shop, external_order_num="list-7")
    assert_list(body, total=1, page=1, per_page=10)
    assert _ids(body) == [shop["payments"][7]["id"]]
    assert _list(shop, external_order_num="list-99")["total"] == 0
    assert_schema(body, "PaymentList")


def test_list_filters_combine(shop: dict[str, Any]) -> None:
    expected = _expect(shop, lambda p: p["currency"] == "JPY" and p["status"] == "authorized")
    body = _list(shop, currency="JPY", status="authorized", per_page=100)
    assert _ids(body) == expected
    assert body["total"] == len(expected)
    assert_schema(body, "PaymentList")


def test_list_time_window(shop: dict[str, Any]) -> None:
    payments, marks = shop["payments"], shop["marks"]
    start, end = marks[4].isoformat(), marks[10].isoformat()
    expected = [p["id"] for p in reversed(payments[4:10])]
    body = _list(shop, start_time=start, end_time=end, per_page=100)
    assert _ids(body) == expected
    assert body["total"] == 6
    after = _list(shop, start_time=start, per_page=100)
    assert _ids(after) == [p["id"] for p in reversed(payments[4:])]
    before = _list(shop, end_time=end, per_page=100)
    assert _ids(before) == [p["id"] for p in reversed(payments[:10])]
    zulu = _list(shop, start_time=marks[12].strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    assert _ids(zulu) == [payments[12]["id"]]
    jst = timezone(timedelta(hours=9))
    shifted = _list(
        shop,
        start_time=marks[4].astimezone(jst).isoformat(),
        end_time=marks[10].astimezone(jst).isoformat(),
        per_page=100,
    )
    assert _ids(shifted) == expected
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert _list(shop, start_time=future)["total"] == 0
    assert_schema(body, "PaymentList")


def test_list_far_page_is_empty(shop: dict[str, Any]) -> None:
    body = _list(shop, page=10**9, per_page=100)
    assert body["data"] == [] and body["total"] == 13
    assert body["page"] == 10**9
    assert_schema(body, "PaymentList")


@pytest.mark.parametrize(
    "params,param",
    [
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"per_page": -1}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"per_page": "1.5"}, "per_page"),
        ({"page": 0}, "page"),
        ({"page": -2}, "page"),
        ({"page": "first"}, "page"),
        ({"status": "paid"}, "status"),
        ({"status": "captured,bogus"}, "status"),
        ({"start_time": "yesterday"}, "start_time"),
        ({"end_time": "2024-13-45"}, "end_time"),
    ],
)
def test_list_bad_params_are_422(api: httpx.Client, params: dict[str, Any], param: str) -> None:
    assert_error(api.get("/payments", params=params), 422, "invalid_parameter", param)


def test_list_bad_currency_is_422(api: httpx.Client) -> None:
    assert_error(api.get("/payments", params={"currency": "XYZ"}), 422, "invalid_currency")
