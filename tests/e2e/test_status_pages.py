"""Expired, cancelled and completed sessions show a status page, never a payment form."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import CARD, Merchant, Server
from tests.e2e.pages import (
    GOOD_CARD,
    Shop,
    create_session,
    fill_card,
    get_session,
    hosted_url,
    parse_query,
)

pytestmark = pytest.mark.browser


def _assert_status_page(
    page: Page, state: str, heading: str, shop_url: str, session_id: str
) -> Locator:
    """A status page for `state`: no payment form, and a link back to the shop."""
    status = page.get_by_test_id("status")
    expect(status).to_be_visible()
    expect(status).to_have_class(re.compile(rf"\bstatus-{state}\b"))
    expect(status.locator("h1")).to_have_text(heading)
    expect(page.locator("form")).to_have_count(0)
    expect(page.locator("input[name=number]")).to_have_count(0)
    back = page.get_by_test_id("return")
    expect(back).to_be_visible()
    href = back.get_attribute("href") or ""
    assert href.startswith(f"{shop_url}?"), href
    assert parse_query(href) == {"order": ["9"], "session_id": [session_id]}
    return back


@pytest.fixture
def expiring(server: Server) -> Iterator[tuple[Merchant, httpx.Client]]:
    """A merchant of this test's own (its clock moves, nobody else's) and its API client."""
    merchant = server.merchant("Expiring Shop")
    with merchant.client() as client:
        yield merchant, client


def advance_clock(merchant: Merchant, seconds: int) -> None:
    """Move `merchant`'s test clock forward (`POST /kessai/v1/clock`)."""
    merchant.move_clock(advance_seconds=seconds)


def test_expired_session_says_so_and_links_back_to_shop(
    page: Page, server: Server, expiring: tuple[Merchant, httpx.Client], shop: Shop
) -> None:
    merchant, api = expiring
    session = create_session(api, expires_in_seconds=600, return_url=shop.url("/cart?order=9"))
    page.goto(hosted_url(server, session))
    fill_card(page, GOOD_CARD)  # the customer starts filling the form in time...
    advance_clock(merchant, 601)
    assert get_session(api, session["id"])["expired"] is True

    # ...but submits after expiry: nothing is paid, the page says it expired.
    with page.expect_navigation():
        page.get_by_test_id("form-credit_card").locator("button[type=submit]").click()
    _assert_status_page(page, "expired", "Payment expired", shop.url("/cart"), session["id"])
    expect(page.get_by_test_id("status")).to_contain_text("expired")
    after = get_session(api, session["id"])
    assert after["status"] == "pending" and after["expired"] is True, after
    assert after["payment"] is None

    # Opening the link again shows the same, and the link leads back to the shop.
    page.goto(hosted_url(server, session))
    back = _assert_status_page(page, "expired", "Payment expired", shop.url("/cart"), session["id"])
    with page.expect_navigation():
        back.click()
    assert page.url.startswith(shop.url("/cart?")), page.url
    expect(page.get_by_test_id("shop")).to_be_visible()


def test_cancelled_session_shows_cancelled_page(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(api, return_url=shop.url("/cart?order=9"))
    cancelled = api.post(f"/sessions/{session['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"

    page.goto(hosted_url(server, session))
    _assert_status_page(page, "cancelled", "Payment cancelled", shop.url("/cart"), session["id"])
    expect(page.get_by_test_id("amount")).to_have_count(0)


def test_completed_session_shows_completed_page(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(api, return_url=shop.url("/cart?order=9"))
    paid = api.post(f"/sessions/{session['id']}/pay", json={"payment_details": CARD})
    assert paid.status_code == 200, paid.text
    assert get_session(api, session["id"])["status"] == "completed"

    page.goto(hosted_url(server, session))
    _assert_status_page(page, "completed", "Payment complete", shop.url("/cart"), session["id"])

    # The same in Japanese.
    page.goto(f"{hosted_url(server, session)}?locale=ja")
    expect(page.get_by_test_id("status").locator("h1")).to_have_text("お支払い完了")
    expect(page.locator("form")).to_have_count(0)
