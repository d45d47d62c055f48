"""Konbini on the hosted page: store choice, the instructions page, simulated payment."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Server
from tests.e2e.pages import (
    KONBINI_STORES,
    Shop,
    create_session,
    fact,
    get_payment,
    get_session,
    hosted_url,
    in_japan,
    parse_query,
    pay_konbini,
    payment_id_of,
    simulate_payment,
)

pytestmark = pytest.mark.browser

AWAITING = "Please pay by the deadline below. Your order is confirmed once the payment arrives."
RECEIVED = "Payment received. Thank you."


def _assert_authorized_konbini(
    api: httpx.Client, session_id: str, store: str, email: str
) -> dict[str, Any]:
    """The session is completed; its payment is konbini, authorized, awaiting the cash."""
    done = get_session(api, session_id)
    assert done["status"] == "completed", done
    assert done["completed_at"]
    payment = done["payment"]
    assert payment is not None, done
    assert payment["status"] == "authorized", payment
    assert payment["captured_at"] is None
    assert payment["session"] == session_id
    assert payment["payment_deadline"], payment
    deadline = datetime.fromisoformat(payment["payment_deadline"])
    created = datetime.fromisoformat(payment["created_at"])
    assert (
        timedelta(days=3) - timedelta(minutes=1)
        <= deadline - created
        <= timedelta(days=3, minutes=1)
    )
    details = payment["payment_details"]
    assert details["type"] == "konbini", details
    assert details["store"] == store
    assert details["email"] == email
    assert re.fullmatch(r"\d+", details["receipt"]), details
    assert details["instructions_url"].endswith(f"/instructions/{payment['id']}"), details
    return payment


def test_konbini_instructions_then_simulated_payment_captures(
    page: Page, server: Server, api: httpx.Client, shop: Shop, artifacts: Path
) -> None:
    return_url = shop.url("/orders/konbini?order=7")
    session = create_session(api, amount=2480, return_url=return_url)  # the default JPY set
    page.goto(hosted_url(server, session))

    form = page.get_by_test_id("form-konbini")
    expect(form).to_be_visible()
    stores = form.locator("input[type=radio][name=store]")
    expect(stores).to_have_count(len(KONBINI_STORES))
    assert [stores.nth(i).get_attribute("value") for i in range(len(KONBINI_STORES))] == list(
        KONBINI_STORES
    )
    expect(form.locator("input[name=email]")).to_be_visible()  # the session has no email
    expect(form.locator("button[type=submit]")).to_have_text("Pay ¥2,480")

    pay_konbini(page, "lawson", email="hanako@example.com")

    # The instructions page of this payment, still on kessai.
    assert page.url.startswith(f"{server.base_url}/instructions/"), page.url
    payment = _assert_authorized_konbini(api, session["id"], "lawson", "hanako@example.com")
    assert payment_id_of(page.url) == payment["id"]
    assert payment["payment_details"]["instructions_url"] == page.url.split("?")[0]

    expect(page.get_by_test_id("instructions")).to_be_visible()
    expect(page.get_by_test_id("amount")).to_have_text("¥2,480")
    expect(page.get_by_test_id("state")).to_have_text(AWAITING)
    details = payment["payment_details"]
    expect(page.get_by_test_id("receipt")).to_have_text(details["receipt"])
    expect(fact(page, "Confirmation code")).to_have_text(details["confirmation_code"])
    expect(fact(page, "Convenience store")).to_contain_text(re.compile("lawson", re.I))
    deadline = in_japan(payment["payment_deadline"])
    shown = page.get_by_test_id("deadline")
    expect(shown).to_contain_text(f"{deadline:%b} {deadline.day}, {deadline.year}")
    expect(shown).to_contain_text(f":{deadline:%M}:")
    expect(shown).to_contain_text("JST")
    expect(page.get_by_test_id("simulate")).to_have_text("Simulate payment")
    page.screenshot(path=str(artifacts / "konbini-instructions-en.png"), full_page=True)

    # The customer pays at the store (simulated): captured, and the page says so.
    simulate_payment(page)
    assert page.url.startswith(f"{server.base_url}/instructions/{payment['id']}"), page.url
    expect(page.get_by_test_id("state")).to_have_text(RECEIVED)
    expect(page.get_by_test_id("simulate")).to_have_count(0)
    expect(page.get_by_test_id("receipt")).to_have_text(details["receipt"])
    captured = get_payment(api, payment["id"])
    assert captured["status"] == "captured", captured
    assert captured["captured_at"]
    assert get_session(api, session["id"])["status"] == "completed"

    # "Return to the shop" leads to return_url with session_id added, the shop's query kept.
    back = page.get_by_test_id("return")
    expect(back).to_have_text("Return to the shop")
    with page.expect_navigation():
        back.click()
    assert page.url.startswith(shop.url("/orders/konbini?")), page.url
    assert parse_query(page.url) == {"order": ["7"], "session_id": [session["id"]]}
    expect(page.get_by_test_id("shop")).to_be_visible()


def test_konbini_with_session_email_and_only_konbini_offered(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(
        api,
        amount=1200,
        email="buyer@example.com",
        payment_types=["konbini"],
        return_url=shop.url("/back"),
    )
    page.goto(hosted_url(server, session))

    # One form, no menu of methods, no card fields, and no email to type: the session has one.
    expect(page.locator("form.pay")).to_have_count(1)
    expect(page.locator("nav.methods")).to_have_count(0)
    expect(page.locator("input[name=number]")).to_have_count(0)
    form = page.get_by_test_id("form-konbini")
    expect(form.locator("input[name=email]:not([type=hidden])")).to_have_count(0)

    pay_konbini(page, "family-mart", email=None)

    assert page.url.startswith(f"{server.base_url}/instructions/"), page.url
    payment = _assert_authorized_konbini(api, session["id"], "family-mart", "buyer@example.com")
    expect(page.get_by_test_id("receipt")).to_have_text(payment["payment_details"]["receipt"])
    expect(page.get_by_test_id("state")).to_have_text(AWAITING)

    # The session is completed: its page offers no payment form any more.
    page.goto(hosted_url(server, session))
    expect(page.get_by_test_id("status")).to_be_visible()
    expect(page.locator("form")).to_have_count(0)
    assert get_payment(api, payment["id"])["status"] == "authorized"


def test_konbini_with_javascript_disabled(
    new_context: Any, server: Server, api: httpx.Client, shop: Shop
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    session = create_session(api, amount=980, return_url=shop.url("/nojs?order=3"))
    page.goto(hosted_url(server, session))

    pay_konbini(page, "seven-eleven", email="nojs@example.com")

    assert page.url.startswith(f"{server.base_url}/instructions/"), page.url
    payment = _assert_authorized_konbini(api, session["id"], "seven-eleven", "nojs@example.com")
    expect(page.get_by_test_id("receipt")).to_have_text(payment["payment_details"]["receipt"])

    simulate_payment(page)
    expect(page.get_by_test_id("state")).to_have_text(RECEIVED)
    assert get_payment(api, payment["id"])["status"] == "captured"

    with page.expect_navigation():
        page.get_by_test_id("return").click()
    assert parse_query(page.url) == {"order": ["3"], "session_id": [session["id"]]}


def _captured_events(api: httpx.Client, payment_id: str) -> int:
    response = api.get("/events", params={"per_page": 100})
    assert response.status_code == 200, response.text
    return sum(
        1
        for event in response.json()["data"]
        if event["type"] == "payment.captured" and event["data"]["id"] == payment_id
    )


def test_stale_tab_simulating_again_stays_in_the_customers_language(
    context: BrowserContext, server: Server, api: httpx.Client, shop: Shop
) -> None:
    """Two tabs on the same instructions page (English); both press "Simulate payment"."""
    session = create_session(
        api, amount=640, default_locale="en", payment_types=["konbini"], return_url=shop.url("/s")
    )
    first = context.new_page()
    first.goto(hosted_url(server, session))
    pay_konbini(first, "seicomart", email="tabs@example.com")
    second = context.new_page()
    second.goto(first.url)
    payment_id = payment_id_of(first.url)

    simulate_payment(first)
    expect(first.get_by_test_id("state")).to_have_text(RECEIVED)
    simulate_payment(second)

    # The payment is captured once; the stale tab may say it is already received, but in
    # English, the customer's language.
    assert get_payment(api, payment_id)["status"] == "captured"
    assert _captured_events(api, payment_id) == 1
    # The page has loaded; the language switcher's own labels are CJK by design.
    shown = (second.url, _without_switcher(second.locator("body").inner_text()))
    assert second.locator("html").get_attribute("lang") == "en", shown
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", shown[1]), shown


def _without_switcher(text: str) -> str:
    return text.replace("日本語", "").replace("한국어", "")
