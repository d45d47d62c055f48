"""Offsite wallets from the hosted page: the test wallet page, Capture and Fail."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Server
from tests.e2e.pages import (
    GOOD_CARD,
    Shop,
    answer_offsite,
    continue_to_wallet,
    create_session,
    get_payment,
    get_session,
    hosted_url,
    parse_query,
    payment_id_of,
    submit_card,
)

pytestmark = pytest.mark.browser

NAMES = {"paypay": "PayPay", "merpay": "Merpay", "linepay": "LINE Pay", "rakutenpay": "Rakuten Pay"}


def _to_offsite_page(page: Page, server: Server, payment_type: str, amount: str) -> str:
    """Click "Continue to <wallet>" and check the offsite test page; its payment id."""
    name = NAMES[payment_type]
    form = page.get_by_test_id(f"form-{payment_type}")
    expect(form.locator("button[type=submit]")).to_have_text(f"Continue to {name}")
    expect(form.locator("input[name=number]")).to_have_count(0)
    continue_to_wallet(page, payment_type)

    assert page.url.startswith(f"{server.base_url}/offsite/"), page.url
    expect(page.locator("h1")).to_have_text(name)
    expect(page.get_by_test_id("amount")).to_have_text(amount)
    expect(page.get_by_test_id("capture")).to_be_visible()
    expect(page.get_by_test_id("capture")).to_have_text("Capture")
    expect(page.get_by_test_id("fail")).to_be_visible()
    expect(page.get_by_test_id("fail")).to_have_text("Fail")
    return payment_id_of(page.url)


@pytest.mark.parametrize("payment_type", ["paypay", "merpay"])
def test_wallet_capture_returns_to_shop_and_completes_session(
    page: Page, server: Server, api: httpx.Client, shop: Shop, payment_type: str
) -> None:
    session = create_session(api, amount=3300, return_url=shop.url("/wallet/done?order=5"))
    page.goto(hosted_url(server, session))

    payment_id = _to_offsite_page(page, server, payment_type, "¥3,300")
    offsite_url = page.url.split("?")[0]

    # While the customer is on the wallet's page: the payment is pending, the session too.
    waiting = get_payment(api, payment_id)
    assert waiting["status"] == "pending", waiting
    assert waiting["session"] == session["id"]
    assert waiting["payment_details"]["type"] == payment_type
    assert waiting["payment_details"]["redirect_url"] == offsite_url
    assert get_session(api, session["id"])["status"] == "pending"

    answer_offsite(page, "capture")

    assert page.url.startswith(shop.url("/wallet/done?")), page.url
    assert parse_query(page.url) == {"order": ["5"], "session_id": [session["id"]]}
    expect(page.get_by_test_id("shop")).to_be_visible()
    done = get_session(api, session["id"])
    assert done["status"] == "completed", done
    payment = done["payment"]
    assert payment is not None and payment["id"] == payment_id, done
    assert payment["status"] == "captured", payment
    assert payment["captured_at"]
    assert payment["amount"] == 3300
    assert payment["payment_details"]["type"] == payment_type
    assert "redirect_url" not in payment["payment_details"]

    # The wallet page is finished: opening it again offers no buttons.
    page.goto(offsite_url)
    expect(page.get_by_test_id("capture")).to_have_count(0)
    expect(page.get_by_test_id("fail")).to_have_count(0)
    assert get_payment(api, payment_id)["status"] == "captured"


def test_wallet_fail_returns_to_shop_then_card_pays(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(api, amount=1500, return_url=shop.url("/wallet/back?order=6"))
    page.goto(hosted_url(server, session))
    payment_id = _to_offsite_page(page, server, "paypay", "¥1,500")

    answer_offsite(page, "fail")

    # Back at the merchant; the wallet payment failed and the session can still be paid.
    assert page.url.startswith(shop.url("/wallet/back?")), page.url
    assert parse_query(page.url) == {"order": ["6"], "session_id": [session["id"]]}
    failed = get_payment(api, payment_id)
    assert failed["status"] == "failed", failed
    assert failed["captured_at"] is None
    pending = get_session(api, session["id"])
    assert pending["status"] == "pending", pending
    assert pending["payment"] is None
    assert pending["completed_at"] is None

    # The customer comes back to the checkout page and pays with a card instead.
    page.goto(hosted_url(server, session))
    expect(page.get_by_test_id("form-paypay")).to_be_visible()
    submit_card(page, GOOD_CARD)

    assert parse_query(page.url) == {"order": ["6"], "session_id": [session["id"]]}
    done = get_session(api, session["id"])
    assert done["status"] == "completed", done
    assert done["payment"]["id"] != payment_id
    assert done["payment"]["status"] == "captured"
    assert done["payment"]["payment_details"]["type"] == "credit_card"
    assert get_payment(api, payment_id)["status"] == "failed"


def test_wallet_with_javascript_disabled(
    new_context: Any, server: Server, api: httpx.Client, shop: Shop
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    session = create_session(
        api, amount=700, payment_types=["linepay", "credit_card"], return_url=shop.url("/nojs")
    )
    page.goto(hosted_url(server, session))

    payment_id = _to_offsite_page(page, server, "linepay", "¥700")
    answer_offsite(page, "capture")

    assert page.url.startswith(shop.url("/nojs?")), page.url
    assert parse_query(page.url) == {"session_id": [session["id"]]}
    done = get_session(api, session["id"])
    assert done["status"] == "completed"
    assert done["payment"]["id"] == payment_id
    assert done["payment"]["status"] == "captured"


def test_stale_tab_answering_again_stays_in_the_customers_language(
    context: BrowserContext, server: Server, api: httpx.Client, shop: Shop
) -> None:
    """Two tabs on the same wallet page (English): Capture in one, then Fail in the other."""
    session = create_session(
        api, amount=2200, default_locale="en", return_url=shop.url("/wallet/stale")
    )
    first = context.new_page()
    first.goto(hosted_url(server, session))
    payment_id = _to_offsite_page(first, server, "paypay", "¥2,200")
    second = context.new_page()
    second.goto(first.url)

    answer_offsite(first, "capture")
    assert parse_query(first.url) == {"session_id": [session["id"]]}
    answer_offsite(second, "fail")

    # The late "Fail" changes nothing, and whatever the stale tab shows is in English.
    payment = get_payment(api, payment_id)
    assert payment["status"] == "captured", payment
    assert get_session(api, session["id"])["status"] == "completed"
    if second.url.startswith(server.base_url):
        # The page has loaded; the language switcher's own labels are CJK by design.
        shown = (second.url, _without_switcher(second.locator("body").inner_text()))
        assert second.locator("html").get_attribute("lang") == "en", shown
        assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", shown[1]), shown


def _without_switcher(text: str) -> str:
    return text.replace("日本語", "").replace("한국어", "")
