"""The pay form cannot be submitted without its CSRF token (or with someone else's)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.e2e.pages import (
    EXPIRY_YEAR,
    GOOD_CARD,
    Shop,
    create_session,
    get_session,
    hosted_url,
    submit_card,
)

pytestmark = pytest.mark.browser

FORM_EXPIRED = "Your form expired. Please check your details and try again."


def _card_form(csrf: str | None) -> dict[str, Any]:
    form = {
        "locale": "en",
        "payment_type": "credit_card",
        "name": "Taro Yamada",
        "number": GOOD_CARD,
        "month": "12",
        "year": EXPIRY_YEAR,
        "verification_value": "123",
        "email": "taro@example.com",
    }
    if csrf is not None:
        form["csrf"] = csrf
    return form


def _open(client: httpx.Client, url: str) -> str:
    """GET the hosted page like a browser would; return the form's CSRF token."""
    response = client.get(url)
    assert response.status_code == 200, response.text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', response.text)
    assert found, response.text
    return found.group(1)


def test_pay_post_without_valid_csrf_does_not_pay(
    server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(api, return_url=shop.url("/back"))
    other = create_session(api, return_url=shop.url("/back"))
    url = hosted_url(server, session)
    pay = f"{url}/pay"

    with httpx.Client(timeout=30) as browser, httpx.Client(timeout=30) as stranger:
        token = _open(browser, url)
        other_token = _open(browser, hosted_url(server, other))

        attempts = {
            "no csrf field": browser.post(pay, data=_card_form(None)),
            "empty csrf": browser.post(pay, data=_card_form("")),
            "token of another session": browser.post(pay, data=_card_form(other_token)),
            "token without its cookie": stranger.post(pay, data=_card_form(token)),
            "wrong token": browser.post(pay, data=_card_form("0" * 64)),
        }
        for what, response in attempts.items():
            assert response.status_code == 403, (what, response.status_code)
            assert FORM_EXPIRED in response.text, what
            assert 'data-testid="form-credit_card"' in response.text, what
            after = get_session(api, session["id"])
            assert after["status"] == "pending" and after["payment"] is None, (what, after)

        # Control: the same request with the page's token and cookie does pay.
        ok = browser.post(pay, data=_card_form(token))
        assert ok.status_code == 303, ok.text
        assert ok.headers["location"].startswith(shop.url("/back?session_id=")), ok.headers
    assert get_session(api, session["id"])["status"] == "completed"
    assert get_session(api, other["id"])["status"] == "pending"


def test_form_without_csrf_field_in_browser_is_refused_then_retry_pays(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(api, return_url=shop.url("/back"))
    page.goto(hosted_url(server, session))
    page.evaluate(
        "document.querySelector('[data-testid=form-credit_card] input[name=csrf]').remove()"
    )

    submit_card(page, GOOD_CARD)

    assert page.url.startswith(server.base_url), page.url
    expect(page.get_by_test_id("error")).to_have_text(FORM_EXPIRED)
    after = get_session(api, session["id"])
    assert after["status"] == "pending" and after["payment"] is None, after

    # The refused page offers a fresh form that works.
    submit_card(page, GOOD_CARD)
    assert page.url.startswith(shop.url("/back?")), page.url
    assert get_session(api, session["id"])["status"] == "completed"


def test_three_d_secure_answer_without_csrf_is_ignored(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(api, return_url=shop.url("/back"))
    page.goto(hosted_url(server, session))
    submit_card(page, "4100000000005000")
    challenge = page.url
    assert "/three_d_secure/" in challenge, challenge

    with httpx.Client(timeout=30) as stranger:
        forged = stranger.post(challenge, data={"password": "123456", "locale": "en"})
    assert forged.status_code in (303, 403), forged.status_code
    assert get_session(api, session["id"])["status"] == "pending"

    page.reload()
    expect(page.get_by_test_id("form-3ds")).to_be_visible()  # still answerable by the customer
