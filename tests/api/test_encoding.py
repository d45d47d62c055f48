"""Request encodings and error bodies (contract section 1, Requests / Errors)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.api.helpers import UNKNOWN_ID, create_session, get_session
from tests.conftest import CARD_YEAR, Merchant, assert_error, assert_schema

FORM = "application/x-www-form-urlencoded"
VOLATILE = {"id", "session_url", "created_at", "expires_at"}


def comparable(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if k not in VOLATILE}


def post_raw(api: httpx.Client, path: str, content: bytes | str, content_type: str | None):
    headers = {"Content-Type": content_type} if content_type else {}
    return api.post(path, content=content, headers=headers)


def test_form_and_json_mean_the_same(api: httpx.Client) -> None:
    form = [
        ("amount", "1500"),
        ("currency", "JPY"),
        ("return_url", "https://shop.example/done?x=1"),
        ("default_locale", "en"),
        ("expires_in_seconds", "600"),
        ("email", "taro@example.com"),
        ("metadata[order]", "1"),
        ("metadata[note]", "お茶"),
        ("line_items[0][amount]", "500"),
        ("line_items[0][description]", "Tea"),
        ("line_items[0][quantity]", "2"),
        ("line_items[1][amount]", "500"),
        ("line_items[1][description]", "Cake"),
        ("line_items[1][image]", "https://cdn.example/cake.png"),
        ("payment_types[]", "credit_card"),
        ("payment_data[capture]", "manual"),
        ("payment_data[name]", "Taro Yamada"),
    ]
    json_body = {
        "amount": 1500,
        "currency": "JPY",
        "return_url": "https://shop.example/done?x=1",
        "default_locale": "en",
        "expires_in_seconds": 600,
        "email": "taro@example.com",
        "metadata": {"order": "1", "note": "お茶"},
        "line_items": [
            {"amount": 500, "description": "Tea", "quantity": 2},
            {"amount": 500, "description": "Cake", "image": "https://cdn.example/cake.png"},
        ],
        "payment_types": ["credit_card"],
        "payment_data": {"capture": "manual", "name": "Taro Yamada"},
    }
    by_form = post_raw(api, "/sessions", urlencode(form), FORM)
    assert by_form.status_code == 200, by_form.text
    assert_schema(by_form.json(), "Session")
    by_json = create_session(api, **json_body)
    assert comparable(by_form.json()) == comparable(by_json)
    got = by_form.json()
    assert got["amount"] == 1500 and isinstance(got["amount"], int)
    assert got["metadata"] == {"order": "1", "note": "お茶"}
    assert got["line_items"][0]["quantity"] == 2
    assert [m["type"] for m in got["payment_methods"]] == ["credit_card"]
    assert got["payment_data"]["capture"] == "manual"


def test_form_with_charset_and_indexed_payment_types(api: httpx.Client) -> None:
    body = urlencode({"amount": "900", "currency": "usd", "payment_types[0]": "credit_card"})
    resp = post_raw(api, "/sessions", body, FORM + "; charset=UTF-8")
    assert resp.status_code == 200, resp.text
    assert resp.json()["currency"] == "USD"
    assert [m["type"] for m in resp.json()["payment_methods"]] == ["credit_card"]


def test_form_digit_keys_in_an_object_stay_keys(api: httpx.Client) -> None:
    body = urlencode(
        [("amount", "1000"), ("currency", "JPY"), ("metadata[0]", "zero"), ("metadata[1]", "one")]
    )
    resp = post_raw(api, "/sessions", body, FORM)
    assert resp.status_code == 200, resp.text
    assert resp.json()["metadata"] == {"0": "zero", "1": "one"}


def test_form_list_indexes_keep_their_order(api: httpx.Client) -> None:
    body = urlencode(
        [
            ("amount", "1000"),
            ("currency", "JPY"),
            ("line_items[1][amount]", "200"),
            ("line_items[1][description]", "second"),
            ("line_items[0][amount]", "100"),
            ("line_items[0][description]", "first"),
        ]
    )
    resp = post_raw(api, "/sessions", body, FORM)
    assert resp.status_code == 200, resp.text
    items = resp.json()["line_items"]
    assert [(i["description"], i["amount"]) for i in items] == [("first", 100), ("second", 200)]


def test_form_errors_name_params_in_bracket_form(api: httpx.Client) -> None:
    body = urlencode([("amount", "1000"), ("currency", "JPY"), ("line_items[0][amount]", "-5")])
    assert_error(
        post_raw(api, "/sessions", body, FORM), 422, "invalid_parameter", "line_items[0][amount]"
    )
    body = urlencode([("amount", "ten"), ("currency", "JPY")])
    assert_error(post_raw(api, "/sessions", body, FORM), 422, "invalid_parameter", "amount")


def test_form_encoded_pay(api: httpx.Client) -> None:
    session = create_session(api)
    body = urlencode(
        {
            "payment_details[type]": "credit_card",
            "payment_details[number]": "4111111111111111",
            "payment_details[month]": "12",
            "payment_details[year]": str(CARD_YEAR),
            "payment_details[verification_value]": "123",
            "payment_details[name]": "Taro Yamada",
        }
    )
    resp = post_raw(api, f"/sessions/{session['id']}/pay", body, FORM)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "completed"
    assert resp.json()["payment"]["payment_details"]["month"] == 12
    assert get_session(api, session["id"])["status"] == "completed"


def test_json_with_charset(api: httpx.Client) -> None:
    resp = post_raw(
        api, "/sessions", '{"amount": 1000, "currency": "JPY"}', "application/json; charset=utf-8"
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    "content,content_type",
    [
        (b'{"amount": 1000, "currency": ', "application/json"),
        (b"{'amount': 1000}", "application/json"),
        (b"amount=1000&currency=JPY", "application/json"),
        (b'{"amount": 1000, "currency": "JPY", "metadata": {"a": "\xff\xfe"}}', "application/json"),
        (b'{"amount": 1000, "currency": "JPY"}', "text/plain"),
        (b"<session><amount>1000</amount></session>", "application/xml"),
        (b'{"amount": 1000, "currency": "JPY"}', None),
    ],
    ids=[
        "truncated",
        "single-quotes",
        "form-as-json",
        "bad-utf8",
        "text-plain",
        "xml",
        "no-content-type",
    ],
)
def test_bad_body_is_400(api: httpx.Client, content: bytes, content_type: str | None) -> None:
    resp = post_raw(api, "/sessions", content, content_type)
    if content_type is None and resp.status_code == 200:
        return  # sniffing JSON without a content type is acceptable
    assert_error(resp, 400, "bad_request")


@pytest.mark.parametrize(
    "content",
    [b"[1, 2]", b'"amount"', b"null", b"42"],
    ids=["array", "string", "null", "number"],
)
def test_json_that_is_not_an_object_is_refused(api: httpx.Client, content: bytes) -> None:
    resp = post_raw(api, "/sessions", content, "application/json")
    assert resp.status_code in (400, 422), resp.text
    assert_schema(resp.json(), "APIError")


@pytest.mark.parametrize(
    "content",
    [
        b'{"amount": NaN, "currency": "JPY"}',
        b'{"amount": Infinity, "currency": "JPY"}',
        b'{"amount": 1e400, "currency": "JPY"}',
        b'{"amount": -0.0, "currency": "JPY"}',
        b'{"amount": 100000000000000000000000000000000, "currency": "JPY"}',
    ],
    ids=["nan", "infinity", "huge-float", "negative-zero", "huge-int"],
)
def test_non_integer_numbers_refused(api: httpx.Client, content: bytes) -> None:
    resp = post_raw(api, "/sessions", content, "application/json")
    assert resp.status_code in (400, 422), resp.text
    body = resp.json()
    assert_schema(body, "APIError")
    if resp.status_code == 422:
        assert body["error"]["code"] == "invalid_parameter" and body["error"]["param"] == "amount"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 1000, "currency": ["JPY"]},
        {"amount": 1000, "currency": {"code": "JPY"}},
        {"amount": 1000, "currency": 392},
        {"amount": 1000, "currency": "JPY", "line_items": [None]},
        {"amount": 1000, "currency": "JPY", "line_items": {"0": {"amount": 1}}},
        {"amount": 1000, "currency": "JPY", "payment_data": []},
        {"amount": 1000, "currency": "JPY", "payment_data": {"external_order_num": 5}},
        {"amount": 1000, "currency": "JPY", "payment_types": "credit_card,konbini"},
        {"amount": 1000, "currency": "JPY", "payment_types": [None]},
        {"amount": 1000, "currency": "JPY", "payment_types": [["credit_card"]]},
        {"amount": 1000, "currency": "JPY", "metadata": {"a": {"nested": "x"}}},
        {"amount": 1000, "currency": "JPY", "email": ["a@example.com"]},
        {"amount": 1000, "currency": "JPY", "default_locale": None},
        {"amount": 1000, "currency": "JPY", "expires_in_seconds": "1e9"},
        {"amount": 1000, "currency": "JPY", "return_url": "https://" + "é" * 3000},
        {"amount": 1000, "currency": "JPY", "customer_id": "nope"},
        {"amount": 1000, "currency": "JPY", "mode": None},
    ],
)
def test_odd_shapes_never_500(api: httpx.Client, body: dict[str, Any]) -> None:
    resp = api.post("/sessions", json=body)
    assert resp.status_code != 500 and resp.status_code < 500, resp.text
    if resp.status_code == 200:
        assert_schema(resp.json(), "Session")
    else:
        assert resp.status_code in (400, 404, 422), resp.text
        assert_schema(resp.json(), "APIError")


@pytest.mark.parametrize(
    "body",
    [
        {"payment_details": "tok_doesnotexist"},
        {"payment_details": None},
        {"payment_details": []},
        {"payment_details": {"type": "credit_card"}},
        {"payment_details": {"type": "bitcoin", "number": "4111111111111111"}},
        {"payment_details": {"number": "4111111111111111", "month": 12, "year": CARD_YEAR}},
        {
            "payment_details": {
                "type": "credit_card",
                "number": 4111111111111111,
                "month": 12,
                "year": CARD_YEAR,
            }
        },
        {
            "payment_details": {
                "type": "credit_card",
                "number": "4111111111111111",
                "month": 12,
                "year": 99999,
            }
        },
        {
            "payment_details": {
                "type": "credit_card",
                "number": "4111111111111111",
                "month": 12,
                "year": CARD_YEAR,
                "verification_value": 123,
            }
        },
        {
            "payment_details": {
                "type": "credit_card",
                "number": "4111111111111111",
                "month": 12,
                "year": CARD_YEAR,
            },
            "capture": "sometimes",
        },
    ],
    ids=[
        "token-unknown",
        "null",
        "list",
        "type-only",
        "unknown-type",
        "no-type",
        "number-int",
        "year-huge",
        "cvv-int",
        "capture-unknown",
    ],
)
def test_odd_pay_bodies_never_500(api: httpx.Client, body: dict[str, Any]) -> None:
    session = create_session(api)
    resp = api.post(f"/sessions/{session['id']}/pay", json=body)
    assert resp.status_code < 500, resp.text
    if resp.status_code == 200:
        assert_schema(resp.json(), "PaySessionResponse")
    else:
        assert resp.status_code in (400, 402, 404, 422), resp.text
        assert_schema(resp.json(), "APIError")


def test_form_with_bad_percent_encoding(api: httpx.Client) -> None:
    resp = post_raw(api, "/sessions", b"amount=1000&currency=JPY&metadata[a]=%FF%FE", FORM)
    assert resp.status_code in (200, 400, 422), resp.text
    body = resp.json()
    assert_schema(body, "Session" if resp.status_code == 200 else "APIError")


def test_form_with_conflicting_shapes(api: httpx.Client) -> None:
    content = b"amount=1000&currency=JPY&metadata=x&metadata[a]=b&line_items[x][amount]=1"
    resp = post_raw(api, "/sessions", content, FORM)
    assert resp.status_code in (200, 400, 422), resp.text
    assert_schema(resp.json(), "Session" if resp.status_code == 200 else "APIError")


def test_unicode_round_trips(api: httpx.Client) -> None:
    text = "日本語のテキスト 🍵 <script>&amp;\"'"
    session = create_session(
        api, metadata={"note": text}, line_items=[{"amount": 1000, "description": text}]
    )
    got = get_session(api, session["id"])
    assert got["metadata"]["note"] == text
    assert got["line_items"][0]["description"] == text


# --- routes and error format ----------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/nope"),
        ("POST", "/nope"),
        ("GET", "/sessions/{sid}/nope"),
        ("POST", "/sessions/{sid}/refund"),
        ("GET", "/"),
        ("GET", "/sessions/{sid}/pay/extra"),
    ],
)
def test_unknown_route_is_json_404(api: httpx.Client, method: str, path: str) -> None:
    session_id = create_session(api)["id"] if "{sid}" in path else ""
    resp = api.request(method, path.format(sid=session_id))
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    assert_error(resp, 404, "not_found")


def test_unknown_route_without_key_is_json(merchant: Merchant) -> None:
    resp = httpx.get(f"{merchant.server.base_url}/api/v1/nope", timeout=30)
    assert resp.status_code in (401, 404)
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    assert_schema(resp.json(), "APIError")


@pytest.mark.parametrize(
    "method,path",
    [
        ("DELETE", "/sessions/{sid}"),
        ("PUT", "/sessions/{sid}"),
        ("GET", "/sessions/{sid}/pay"),
        ("PATCH", "/sessions/{sid}/cancel"),
    ],
)
def test_wrong_method_is_json_error(api: httpx.Client, method: str, path: str) -> None:
    session = create_session(api)
    resp = api.request(method, path.format(sid=session["id"]))
    assert resp.status_code in (404, 405), resp.text
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    assert_schema(resp.json(), "APIError")
    assert get_session(api, session["id"])["status"] == "pending"


def test_error_message_is_a_sentence_not_a_trace(api: httpx.Client) -> None:
    resp = api.post(
        "/sessions", content=b'{"amount":', headers={"Content-Type": "application/json"}
    )
    body = assert_error(resp, 400, "bad_request")
    message = body["error"]["message"]
    assert "Traceback" not in message and 'File "' not in message
    assert len(message) > 10
    assert isinstance(body["error"]["details"], dict)


def test_unknown_session_404_is_json(api: httpx.Client) -> None:
    resp = api.get(f"/sessions/{UNKNOWN_ID}")
    assert resp.headers["content-type"].startswith("application/json")
    assert_error(resp, 404, "not_found")


@pytest.mark.parametrize("depth", [1200, 20000])
def test_deeply_nested_json_is_not_a_server_error(merchant: Merchant, depth: int) -> None:
    """An unknown parameter is ignored, however it is shaped; a hostile body is a 4xx."""
    content = b'{"amount": 1000, "currency": "JPY", "x": ' + b"[" * depth + b"]" * depth + b"}"
    with merchant.client() as api:
        resp = post_raw(api, "/sessions", content, "application/json")
        assert resp.status_code in (200, 400, 413, 422), (resp.status_code, resp.text[:300])
        assert_schema(resp.json(), "Session" if resp.status_code == 200 else "APIError")
        # the connection is still good for the next request
        assert api.get(f"/sessions/{UNKNOWN_ID}").status_code == 404


@pytest.mark.parametrize("depth", [500, 5000])
def test_deeply_nested_form_key_is_not_a_server_error(merchant: Merchant, depth: int) -> None:
    content = b"amount=1000&currency=JPY&x" + b"[a]" * depth + b"=1"
    with merchant.client() as api:
        resp = post_raw(api, "/sessions", content, FORM)
        assert resp.status_code in (200, 400, 413, 422), (resp.status_code, resp.text[:300])
        assert_schema(resp.json(), "Session" if resp.status_code == 200 else "APIError")
        assert api.get(f"/sessions/{UNKNOWN_ID}").status_code == 404


def test_body_over_limit_is_a_client_error(api: httpx.Client) -> None:
    content = b'{"amount": 1000, "currency": "JPY", "metadata": {"n": "' + b"x" * (3 << 20) + b'"}}'
    resp = post_raw(api, "/sessions", content, "application/json")
    assert resp.status_code in (400, 413, 422), (resp.status_code, resp.text[:300])
    assert_schema(resp.json(), "APIError")
