"""A secure token's 3-D Secure challenge in a real browser (API.md section 7).

The shop creates the token, sends the customer to `authentication_url`, gets them back at
its `return_url` with `secure_token_id`, and pays with the token id.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import CARD, Server, assert_error, assert_schema
from tests.e2e.pages import (
    THREE_DS_CHALLENGE,
    THREE_DS_CHALLENGE_FAILS,
    THREE_DS_FAILS_ON_RETURN,
    THREE_DS_PASSWORD,
    Shop,
    parse_query,
)

pytestmark = pytest.mark.browser


def create_token(api: httpx.Client, shop: Shop, number: str) -> dict[str, Any]:
    response = api.post(
        "/secure_tokens",
        json={
            "amount": 1000,
            "currency": "JPY",
            "return_url": shop.url("/thanks?order=9"),
            "payment_details": {**CARD, "number": number},
        },
    )
    assert response.status_code == 200, response.text
    token: dict[str, Any] = response.json()
    assert_schema(token, "SecureToken")
    assert token["verification_status"] == "NEEDS_VERIFY", token
    return token


def show_token(api: httpx.Client, token_id: str) -> dict[str, Any]:
    response = api.get(f"/secure_tokens/{token_id}")
    assert response.status_code == 200, response.text
    token: dict[str, Any] = response.json()
    assert_schema(token, "SecureToken")
    return token


def pay_with(api: httpx.Client, token_id: str) -> httpx.Response:
    return api.post(
        "/payments", json={"amount": 1000, "currency": "JPY", "payment_details": token_id}
    )


def challenge(page: Page, server: Server, token: dict[str, Any], password: str) -> None:
    """Open the challenge page in English, check it, and answer it."""
    page.goto(f"{token['authentication_url']}?locale=en")
    assert page.url.startswith(f"{server.base_url}/secure_tokens/{token['id']}/"), page.url
    form = page.get_by_test_id("form-secure-token")
    expect(form).to_be_visible()
    expect(page.locator("body")).to_contain_text("¥1,000")
    last_four = token["payment_details"]["last_four_digits"]
    expect(page.get_by_test_id("card-ending")).to_have_text(f"Card ending in {last_four}")
    form.locator("[name=password]").fill(password)
    with page.expect_navigation(wait_until="load"):
        form.locator("button[type=submit]").click()


def test_right_password_then_one_payment(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    token = create_token(api, shop, THREE_DS_CHALLENGE)
    assert_error(pay_with(api, token["id"]), 422, "invalid_parameter", "payment_details")

    challenge(page, server, token, THREE_DS_PASSWORD)

    assert page.url.startswith(shop.url("/thanks?")), page.url
    assert parse_query(page.url) == {"order": ["9"], "secure_token_id": [token["id"]]}
    expect(page.get_by_test_id("shop")).to_be_visible()
    done = show_token(api, token["id"])
    assert done["verification_status"] == "OK"
    assert done["three_ds_auth_result"]["transStatus"] == "Y"

    paid = pay_with(api, token["id"])
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "captured"
    assert paid.json()["payment_details"]["last_four_digits"] == "5000"
    again = pay_with(api, token["id"])
    assert_error(again, 422, "invalid_parameter", "payment_details")

    # The answered page cannot be answered again: it sends the customer back.
    page.goto(token["authentication_url"])
    assert page.url.startswith(shop.url("/thanks?")), page.url
    expect(page.get_by_test_id("form-secure-token")).to_have_count(0)


@pytest.mark.parametrize(
    ("number", "password"),
    [
        pytest.param(THREE_DS_CHALLENGE, "111111", id="wrong-password"),
        pytest.param(THREE_DS_CHALLENGE_FAILS, THREE_DS_PASSWORD, id="challenge-fails"),
        pytest.param(THREE_DS_FAILS_ON_RETURN, THREE_DS_PASSWORD, id="fails-on-return"),
    ],
)
def test_failed_challenge_is_errored_and_cannot_pay(
    page: Page, server: Server, api: httpx.Client, shop: Shop, number: str, password: str
) -> None:
    token = create_token(api, shop, number)

    challenge(page, server, token, password)

    assert parse_query(page.url) == {"order": ["9"], "secure_token_id": [token["id"]]}
    assert show_token(api, token["id"])["verification_status"] == "ERRORED"
    assert_error(pay_with(api, token["id"]), 422, "invalid_parameter", "payment_details")
