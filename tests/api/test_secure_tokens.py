"""Secure tokens (contract section 7): 3-D Secure before a direct payment, black-box.

The challenge page is driven with plain HTTP here (tests/e2e drives it with Chromium).
Expiry is seen by moving the merchant's test clock, never by sleeping.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.api.helpers import (
    ID_RE,
    UNKNOWN_ID,
    answer_3ds,
    assert_no_card_secrets,
    card,
    create_payment,
    create_session,
    get_session,
    post_payment,
)
from tests.conftest import CARD, EXPIRED_YEAR, Merchant, Server, assert_error, assert_schema

FRICTIONLESS = "4100000000000100"
CHALLENGE = "4100000000005000"
CHALLENGE_FAILS = "5100000000300002"
FAILS_ON_RETURN = "3528000000500006"
PASSWORD = "123456"
RETURN_URL = "https://shop.example/done?order=7"


def token_of(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert_schema(data, "SecureToken")
    assert ID_RE.match(data["id"]), data
    assert data["resource"] == "secure_token"
    assert ("authentication_url" in data) == (data["verification_status"] == "NEEDS_VERIFY")
    return dict(data)


def create(client: httpx.Client, number: str = CARD["number"], **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"amount": 1000, "currency": "JPY", "return_url": RETURN_URL}
    if "customer" not in params:
        body["payment_details"] = card(number)
    return token_of(client.post("/secure_tokens", json={**body, **params}))


def show(client: httpx.Client, token_id: str) -> dict[str, Any]:
    return token_of(client.get(f"/secure_tokens/{token_id}"))


def authenticate(token: dict[str, Any], password: str) -> httpx.Response:
    """The customer on the challenge page; the answer is the redirect back to the shop."""
    resp = answer_3ds(token["authentication_url"], password)
    assert resp.status_code == 303, (resp.status_code, resp.text[:500])
    return resp


def assert_returned(resp: httpx.Response, token_id: str) -> None:
    target = urlsplit(resp.headers["location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "shop.example", "/done")
    assert parse_qs(target.query) == {"order": ["7"], "secure_token_id": [token_id]}


@pytest.fixture(scope="module")
def other(server: Server) -> Merchant:
    return server.merchant("Other Secure Shop")


# --- creating ---------------------------------------------------------------------------------


def test_frictionless_card_is_authenticated_at_once(api: httpx.Client) -> None:
    resp = api.post(
        "/secure_tokens",
        json={
            "amount": 1000,
            "currency": "JPY",
            "return_url": RETURN_URL,
            "payment_details": card(FRICTIONLESS, verification_value="987"),
        },
    )
    token = token_of(resp)
    assert_no_card_secrets(resp.json(), FRICTIONLESS, "987")
    assert token["verification_status"] == "OK"
    result = token["three_ds_auth_result"]
    assert result["transStatus"] == "Y"
    assert result["eci"] == "05"  # Visa, authenticated
    assert result["authenticationValue"] and result["dsTransID"] and result["messageVersion"]
    assert token["payment_details"]["last_four_digits"] == "0100"
    assert show(api, token["id"]) == token


def test_plain_card_skips_3ds(api: httpx.Client) -> None:
    token = create(api)
    assert token["verification_status"] == "SKIPPED"
    assert "three_ds_auth_result" not in token


def test_challenge_card_needs_the_page(api: httpx.Client, server: Server) -> None:
    token = create(api, CHALLENGE)
    assert token["verification_status"] == "NEEDS_VERIFY"
    url = token["authentication_url"]
    assert url == f"{server.base_url}/secure_tokens/{token['id']}/authenticate"
    page = httpx.get(f"{url}?locale=en", timeout=30)
    assert page.status_code == 200
    assert "¥1,000" in page.text and "Card ending in 5000" in page.text
    assert CHALLENGE not in page.text


def test_form_body_and_publishable_key(merchant: Merchant) -> None:
    with merchant.client(merchant.publishable_key) as client:
        resp = client.post(
            "/secure_tokens",
            data={
                "amount": "1000",
                "currency": "JPY",
                "return_url": RETURN_URL,
                "payment_details[type]": "credit_card",
                "payment_details[number]": CHALLENGE,
                "payment_details[month]": "12",
                "payment_details[year]": str(CARD["year"]),
            },
        )
        token = token_of(resp)
        assert token["verification_status"] == "NEEDS_VERIFY"
        # Reading one, and creating one for a saved customer, take the secret key.
        assert_error(client.get(f"/secure_tokens/{token['id']}"), 403, "forbidden")
        resp = client.post(
            "/secure_tokens",
            json={"amount": 1, "currency": "JPY", "return_url": RETURN_URL, "customer": UNKNOWN_ID},
        )
        assert_error(resp, 422, "invalid_parameter", "customer")


@pytest.mark.parametrize(
    ("change", "status", "code", "param"),
    [
        ({"return_url": None}, 422, "missing_parameter", "return_url"),
        ({"amount": None}, 422, "missing_parameter", "amount"),
        ({"amount": True}, 422, "invalid_parameter", "amount"),
        ({"amount": 10.5}, 422, "invalid_parameter", "amount"),
        ({"currency": "XXX"}, 422, "invalid_currency", "currency"),
        ({"return_url": "javascript:alert(1)"}, 422, "invalid_parameter", "return_url"),
        ({"payment_details": None}, 422, "missing_parameter", "payment_details"),
        ({"customer": UNKNOWN_ID}, 422, "invalid_parameter", "customer"),
        ({"payment_details": "tok"}, 422, "invalid_parameter", "payment_details"),
        (
            {"payment_details": card("4111111111111112")},
            422,
            "invalid_parameter",
            "payment_details[number]",
        ),
        (
            {"payment_details": card(CHALLENGE, year=EXPIRED_YEAR)},
            422,
            "invalid_parameter",
            "payment_details[year]",
        ),
        (
            {"payment_details": {"type": "konbini", "store": "lawson", "email": "a@b.example"}},
            422,
            "invalid_parameter",
            "payment_details[type]",
        ),
    ],
)
def test_bad_requests_name_the_parameter(
    api: httpx.Client, change: dict[str, Any], status: int, code: str, param: str
) -> None:
    body = {"amount": 1000, "currency": "JPY", "return_url": RETURN_URL, "payment_details": CARD}
    body = {k: v for k, v in {**body, **change}.items() if v is not None}
    assert_error(api.post("/secure_tokens", json=body), status, code, param)


def test_unknown_customer_and_customer_without_card(api: httpx.Client) -> None:
    base = {"amount": 1000, "currency": "JPY", "return_url": RETURN_URL}
    resp = api.post("/secure_tokens", json={**base, "customer": UNKNOWN_ID})
    assert_error(resp, 422, "invalid_parameter", "customer")
    bare = api.post("/customers", json={"email": "bare@example.com"}).json()
    resp = api.post("/secure_tokens", json={**base, "customer": bare["id"]})
    assert_error(resp, 422, "invalid_parameter", "customer")


def test_idempotent_create_returns_the_same_token(api: httpx.Client) -> None:
    body = {
        "amount": 1000,
        "currency": "JPY",
        "return_url": RETURN_URL,
        "payment_details": card(CHALLENGE),
    }
    headers = {"X-KOMOJU-IDEMPOTENCY": f"secure-{uuid.uuid4()}"}
    first = token_of(api.post("/secure_tokens", json=body, headers=headers))
    again = token_of(api.post("/secure_tokens", json=body, headers=headers))
    assert again == first


def test_other_merchant_sees_nothing(api: httpx.Client, other: Merchant) -> None:
    token = create(api, FRICTIONLESS)
    with other.client() as client:
        assert_error(client.get(f"/secure_tokens/{token['id']}"), 404, "not_found")
        resp = post_payment(client, payment_details=token["id"])
        assert_error(resp, 422, "invalid_parameter", "payment_details")
    assert_error(api.get(f"/secure_tokens/{UNKNOWN_ID}"), 404, "not_found")
    # Still unused: its own merchant can pay with it.
    assert create_payment(api, payment_details=token["id"])["status"] == "captured"


# --- the challenge page -------------------------------------------------------------------


def test_right_password_authenticates_and_returns_to_the_shop(api: httpx.Client) -> None:
    token = create(api, CHALLENGE)
    assert_returned(authenticate(token, PASSWORD), token["id"])
    done = show(api, token["id"])
    assert done["verification_status"] == "OK"
    result = done["three_ds_auth_result"]
    assert (result["transStatus"], result["eci"], result["authenticationType"]) == ("Y", "05", "02")
    # Answered: the page now sends the customer straight back.
    again = httpx.get(token["authentication_url"], timeout=30)
    assert again.status_code == 303
    assert_returned(again, token["id"])


@pytest.mark.parametrize(
    ("number", "password"),
    [
        pytest.param(CHALLENGE, "111111", id="wrong-password"),
        pytest.param(CHALLENGE, "", id="no-password"),
        pytest.param(CHALLENGE_FAILS, PASSWORD, id="challenge-fails"),
        pytest.param(FAILS_ON_RETURN, PASSWORD, id="fails-on-return"),
    ],
)
def test_failed_challenge_is_errored(api: httpx.Client, number: str, password: str) -> None:
    token = create(api, number)
    assert_returned(authenticate(token, password), token["id"])
    done = show(api, token["id"])
    assert done["verification_status"] == "ERRORED"
    assert done["three_ds_auth_result"]["transStatus"] == "N"
    assert "authenticationValue" not in done["three_ds_auth_result"]
    resp = post_payment(api, payment_details=token["id"])
    body = assert_error(resp, 422, "invalid_parameter", "payment_details")
    assert "3-D Secure" in body["error"]["message"]


def test_challenge_form_needs_its_csrf_token(api: httpx.Client) -> None:
    token = create(api, CHALLENGE)
    url = token["authentication_url"]
    with httpx.Client(timeout=30) as browser:
        browser.get(url)
        resp = browser.post(url, data={"password": PASSWORD, "csrf": "0" * 64})
    assert resp.status_code == 303
    assert resp.headers["location"].startswith(f"/secure_tokens/{token['id']}/authenticate")
    assert show(api, token["id"])["verification_status"] == "NEEDS_VERIFY"


def test_unknown_page_is_404(server: Server) -> None:
    resp = httpx.get(f"{server.base_url}/secure_tokens/{UNKNOWN_ID}/authenticate", timeout=30)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/html")


# --- paying with it --------------------------------------------------------------------------


def test_authenticated_token_pays_once_without_3ds(api: httpx.Client) -> None:
    token = create(api, CHALLENGE)
    authenticate(token, PASSWORD)
    payment = create_payment(api, payment_details=token["id"])
    assert payment["status"] == "captured"  # no second challenge
    details = payment["payment_details"]
    assert (details["type"], details["last_four_digits"]) == ("credit_card", "5000")
    assert "redirect_url" not in details
    resp = post_payment(api, payment_details=token["id"])
    body = assert_error(resp, 422, "invalid_parameter", "payment_details")
    assert "already used" in body["error"]["message"]


def test_unauthenticated_token_is_refused(api: httpx.Client) -> None:
    token = create(api, CHALLENGE)
    body = assert_error(
        post_payment(api, payment_details=token["id"]), 422, "invalid_parameter", "payment_details"
    )
    assert "authentication_url" in body["error"]["message"]


def test_skipped_token_pays_and_a_decline_card_still_declines(api: httpx.Client) -> None:
    assert create_payment(api, payment_details=create(api)["id"])["status"] == "captured"
    declining = create(api, "4123111111111059")
    assert declining["verification_status"] == "SKIPPED"
    assert_error(post_payment(api, payment_details=declining["id"]), 402, "card_declined")


@pytest.mark.parametrize(
    "payment", [{"amount": 999}, {"amount": 1000, "currency": "USD"}], ids=["amount", "currency"]
)
def test_payment_must_match_the_token(api: httpx.Client, payment: dict[str, Any]) -> None:
    token = create(api, FRICTIONLESS)
    resp = post_payment(api, payment_details=token["id"], **payment)
    assert_error(resp, 422, "invalid_parameter", "payment_details")
    # Refused before it was used: the right payment still works.
    assert create_payment(api, payment_details=token["id"])["status"] == "captured"


def test_tax_counts_toward_the_authenticated_total(api: httpx.Client) -> None:
    token = create(api, FRICTIONLESS)
    resp = post_payment(api, payment_details=token["id"], amount=1000, tax=100)
    assert_error(resp, 422, "invalid_parameter", "payment_details")
    payment = create_payment(api, payment_details=token["id"], amount=900, tax=100)
    assert payment["total"] == 1000


def test_concurrent_payments_with_one_token_make_one_payment(merchant: Merchant) -> None:
    with merchant.client() as client:
        token = create(client, FRICTIONLESS)

    def attempt(_: int) -> int:
        with merchant.client() as client:
            return post_payment(client, payment_details=token["id"]).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [200] + [422] * 7, statuses


def test_session_pay_takes_a_token(api: httpx.Client, public_api: httpx.Client) -> None:
    token = create(api, CHALLENGE)
    authenticate(token, PASSWORD)
    session = create_session(api)
    resp = public_api.post(f"/sessions/{session['id']}/pay", json={"payment_details": token["id"]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["payment"]["status"] == "captured"
    assert get_session(api, session["id"])["status"] == "completed"


def test_customer_card_token(api: httpx.Client) -> None:
    customer = api.post("/customers", json={"payment_details": card(CHALLENGE)}).json()
    token = create(api, customer=customer["id"])
    assert token["verification_status"] == "NEEDS_VERIFY"
    assert token["payment_details"]["last_four_digits"] == "5000"
    authenticate(token, PASSWORD)
    payment = create_payment(api, payment_details=token["id"])
    assert (payment["status"], payment["customer"]) == ("captured", customer["id"])
    plain = api.post("/customers", json={"payment_details": CARD}).json()
    assert create(api, customer=plain["id"])["verification_status"] == "SKIPPED"


# --- expiry, on the merchant's test clock --------------------------------------------------------


def test_unused_tokens_expire_after_a_day(server: Server) -> None:
    shop = server.merchant("Secure Clock Shop")
    with shop.client() as client:
        waiting = create(client, CHALLENGE)
        ready = create(client, FRICTIONLESS)
        used = create(client, FRICTIONLESS)
        create_payment(client, payment_details=used["id"])
        shop.move_clock(advance_seconds=86400)
        assert show(client, waiting["id"])["verification_status"] == "EXPIRED"
        assert show(client, ready["id"])["verification_status"] == "EXPIRED"
        assert show(client, used["id"])["verification_status"] == "OK"  # it did its job
        body = assert_error(
            post_payment(client, payment_details=ready["id"]),
            422,
            "invalid_parameter",
            "payment_details",
        )
        assert "expired" in body["error"]["message"]
    page = httpx.get(waiting["authentication_url"], timeout=30)
    assert page.status_code == 303  # nothing left to authenticate: back to the shop
    assert_returned(page, waiting["id"])
