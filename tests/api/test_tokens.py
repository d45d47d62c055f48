"""POST /api/v1/tokens and using a token in place of payment_details (contract section 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    ID_RE,
    assert_no_card_secrets,
    card,
    create_payment,
    create_session,
    get_payment,
    get_session,
    parse_time,
    pay,
    pay_ok,
    post_payment,
)
from tests.conftest import CARD, CARD_YEAR, Merchant, Server, assert_error, assert_schema


@pytest.fixture(scope="module")
def other(server: Server) -> Merchant:
    return server.merchant("Other Token Shop")


def token_of(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert_schema(data, "Token")
    assert data["resource"] == "token"
    assert ID_RE.match(data["id"]), data
    return data


def make_token(client: httpx.Client, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return token_of(client.post("/tokens", json={"payment_details": details or CARD}))


# --- creating -------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["publishable", "secret"])
def test_token_with_either_key(merchant: Merchant, which: str) -> None:
    key = merchant.publishable_key if which == "publishable" else merchant.secret_key
    number, cvv = "5555555555554444", "987"
    with merchant.client(key) as client:
        resp = client.post(
            "/tokens", json={"payment_details": card(number, verification_value=cvv)}
        )
    token = token_of(resp)
    assert_no_card_secrets(resp.json(), number, cvv)
    assert token["payment_details"]["type"] == "credit_card"
    created = parse_time(token["created_at"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=5)
    details = token["payment_details"]
    assert "number" not in details
    assert details.get("last_four_digits", "4444") == "4444"


def test_token_from_form_body(public_api: httpx.Client) -> None:
    resp = public_api.post(
        "/tokens",
        data={
            "payment_details[type]": "credit_card",
            "payment_details[number]": "4111111111111111",
            "payment_details[month]": "12",
            "payment_details[year]": str(CARD_YEAR),
            "payment_details[verification_value]": "321",
        },
    )
    token = token_of(resp)
    assert token["payment_details"]["type"] == "credit_card"
    assert_no_card_secrets(resp.json(), "4111111111111111", "321")


def test_tokens_are_distinct(public_api: httpx.Client) -> None:
    assert make_token(public_api)["id"] != make_token(public_api)["id"]


@pytest.mark.parametrize(
    "body,code,param",
    [
        ({}, "missing_parameter", "payment_details"),
        ({"payment_details": {**CARD, "number": "4111111111111112"}}, "invalid_parameter",
         "payment_details[number]"),
        ({"payment_details": {**CARD, "month": 13}}, "invalid_parameter",
         "payment_details[month]"),
        ({"payment_details": {k: v for k, v in CARD.items() if k != "number"}},
         "missing_parameter", "payment_details[number]"),
    ],
    ids=["missing", "luhn", "month", "no-number"],
)  # fmt: skip
def test_bad_token_request_is_422(
    public_api: httpx.Client, body: dict[str, Any], code: str, param: str
) -> None:
    assert_error(public_api.post("/tokens", json=body), 422, code, param)


def test_token_without_key_is_401(merchant: Merchant) -> None:
    with httpx.Client(base_url=f"{merchant.server.base_url}/api/v1", timeout=30) as anon:
        assert_error(anon.post("/tokens", json={"payment_details": CARD}), 401, "unauthorized")


# --- using ----------------------------------------------------------------------------------


def test_token_pays_a_payment_once(api: httpx.Client, public_api: httpx.Client) -> None:
    token = make_token(public_api, card("3530111333300000"))
    payment = create_payment(api, amount=2100, payment_details=token["id"])
    assert payment["status"] == "captured"
    assert payment["amount"] == 2100
    assert payment["payment_details"]["type"] == "credit_card"
    assert payment["payment_details"]["last_four_digits"] == "0000"
    assert payment["payment_details"]["brand"] == "jcb"
    again = post_payment(api, payment_details=token["id"])
    body = assert_error(again, 422, "invalid_parameter")
    assert str(body["error"]["param"]).startswith("payment_details"), body
    assert get_payment(api, payment["id"])["status"] == "captured"


def test_refused_request_does_not_use_up_the_token(
    api: httpx.Client, public_api: httpx.Client
) -> None:
    token = make_token(public_api)
    assert_error(
        post_payment(api, amount=-1, payment_details=token["id"]), 422, "invalid_parameter"
    )
    assert_error(
        post_payment(api, currency="XYZ", payment_details=token["id"]), 422, "invalid_currency"
    )
    payment = create_payment(api, payment_details=token["id"])
    assert payment["status"] == "captured"


def test_token_with_capture_false(api: httpx.Client, public_api: httpx.Client) -> None:
    token = make_token(public_api)
    payment = create_payment(api, payment_details=token["id"], capture=False)
    assert payment["status"] == "authorized"


def test_token_pays_a_session_once(api: httpx.Client, public_api: httpx.Client) -> None:
    token = make_token(public_api, card("5555555555554444"))
    session = create_session(api, amount=1300)
    result = pay_ok(public_api, session["id"], token["id"])
    assert result["status"] == "completed"
    assert result["payment"]["amount"] == 1300
    assert result["payment"]["payment_details"]["last_four_digits"] == "4444"
    assert get_session(api, session["id"])["status"] == "completed"

    second = create_session(api)
    resp = public_api.post(f"/sessions/{second['id']}/pay", json={"payment_details": token["id"]})
    body = assert_error(resp, 422, "invalid_parameter")
    assert str(body["error"]["param"]).startswith("payment_details"), body
    assert get_session(api, second["id"])["status"] == "pending"
    # The used token cannot pay a direct payment either.
    assert_error(post_payment(api, payment_details=token["id"]), 422, "invalid_parameter")


def test_token_saves_a_customer_card(api: httpx.Client, public_api: httpx.Client) -> None:
    token = make_token(public_api, card("378282246310005"))
    resp = api.post("/customers", json={"email": "t@example.com", "payment_details": token["id"]})
    assert resp.status_code == 200, resp.text
    customer = resp.json()
    assert customer["source"]["last_four_digits"] == "0005"
    assert customer["source"]["brand"] == "american_express"
    payment = create_payment(api, customer=customer["id"])
    assert payment["payment_details"]["last_four_digits"] == "0005"
    assert_schema(customer, "Customer")


def test_token_of_decline_card_declines_on_use(api: httpx.Client, public_api: httpx.Client) -> None:
    resp = public_api.post("/tokens", json={"payment_details": card("4123111111111000")})
    if resp.status_code == 402:
        assert_error(resp, 402, "insufficient_funds")
        return
    token = token_of(resp)
    assert_error(post_payment(api, payment_details=token["id"]), 402, "insufficient_funds")


def test_unknown_token_is_422(api: httpx.Client, public_api: httpx.Client) -> None:
    fake = "t" * 25
    body = assert_error(post_payment(api, payment_details=fake), 422, "invalid_parameter")
    assert str(body["error"]["param"]).startswith("payment_details"), body
    session = create_session(api)
    body = assert_error(pay(public_api, session["id"], fake), 422, "invalid_parameter")
    assert str(body["error"]["param"]).startswith("payment_details"), body


def test_token_of_other_merchant_is_unusable(
    api: httpx.Client, public_api: httpx.Client, other: Merchant
) -> None:
    token = make_token(public_api)
    with other.client() as theirs:
        body = assert_error(
            post_payment(theirs, payment_details=token["id"]), 422, "invalid_parameter"
        )
        assert str(body["error"]["param"]).startswith("payment_details"), body
        their_session = create_session(theirs)
        assert_error(pay(theirs, their_session["id"], token["id"]), 422, "invalid_parameter")
        resp = theirs.post("/customers", json={"payment_details": token["id"]})
        assert_error(resp, 422, "invalid_parameter")
        assert get_session(theirs, their_session["id"])["status"] == "pending"
    # The owner can still use it: the other merchant's attempts did not consume it.
    payment = create_payment(api, payment_details=token["id"])
    assert payment["status"] == "captured"
