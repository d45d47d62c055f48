"""Paying on the hosted page with a card: success, decline then retry, and no double charge."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.conftest import Server
from tests.e2e.pages import (
    DECLINED_CARD,
    GOOD_CARD,
    Shop,
    create_session,
    get_session,
    hosted_url,
    parse_query,
    submit_card,
)

pytestmark = pytest.mark.browser


def test_pay_with_card_returns_to_shop_and_completes_session(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    return_url = shop.url("/orders/complete?order=42")
    session = create_session(
        api,
        amount=1500,
        return_url=return_url,
        line_items=[
            {"description": "Green tea", "amount": 500, "quantity": 2},
            {"description": "Tea cup", "amount": 500},
        ],
        metadata={"order": "42", "channel": "web"},
    )

    page.goto(hosted_url(server, session))
    expect(page.get_by_test_id("merchant")).to_have_text("Test Shop")
    expect(page.get_by_test_id("amount")).to_have_text("¥1,500")
    items = page.locator("table.items tbody tr")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("Green tea")
    expect(items.nth(0)).to_contain_text("¥1,000")
    expect(items.nth(1)).to_contain_text("Tea cup")

    submit_card(page, GOOD_CARD)

    # The browser is back on the shop, with the shop's own query kept and session_id added.
    assert page.url.startswith(shop.url("/orders/complete?")), page.url
    assert parse_query(page.url) == {"order": ["42"], "session_id": [session["id"]]}
    expect(page.get_by_test_id("shop")).to_be_visible()
    assert f"/orders/complete?order=42&session_id={session['id']}" in shop.requests

    done = get_session(api, session["id"])
    assert done["status"] == "completed", done
    assert done["completed_at"]
    assert done["expired"] is False
    assert done["metadata"] == {"order": "42", "channel": "web"}
    assert [i["description"] for i in done["line_items"]] == ["Green tea", "Tea cup"]
    payment = done["payment"]
    assert payment is not None
    assert payment["status"] == "captured", payment
    assert payment["captured_at"]
    assert payment["amount"] == 1500 and payment["currency"] == "JPY"
    assert payment["session"] == session["id"]
    details = payment["payment_details"]
    assert details["type"] == "credit_card"
    assert details["last_four_digits"] == "1111"
    assert details["name"] == "Taro Yamada"
    assert GOOD_CARD not in json.dumps(done)


def test_declined_card_shows_error_keeps_session_pending_then_good_card_pays(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(api, return_url=shop.url("/back"))
    page.goto(hosted_url(server, session))

    submit_card(page, DECLINED_CARD, name="Hanako Sato", email="hanako@example.com")

    # Still on kessai's page, with the decline said in the page and the form offered again.
    assert page.url.startswith(f"{server.base_url}/sessions/{session['id']}"), page.url
    expect(page.get_by_test_id("error")).to_have_text("The card was declined. Try another card.")
    form = page.get_by_test_id("form-credit_card")
    expect(form).to_be_visible()
    expect(form.locator("[name=name]")).to_have_value("Hanako Sato")
    expect(form.locator("[name=number]")).to_have_value("")  # never echoed back
    assert DECLINED_CARD not in page.content()
    assert get_session(api, session["id"])["status"] == "pending"

    submit_card(page, GOOD_CARD)

    assert parse_query(page.url) == {"session_id": [session["id"]]}
    assert page.url.startswith(shop.url("/back?")), page.url
    done = get_session(api, session["id"])
    assert done["status"] == "completed"
    assert done["payment"]["status"] == "captured"
    assert done["payment"]["payment_details"]["last_four_digits"] == "1111"


def test_second_tab_cannot_pay_a_completed_session_again(
    context: BrowserContext, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(api, return_url=shop.url("/back"))
    first, second = context.new_page(), context.new_page()
    first.goto(hosted_url(server, session))
    second.goto(hosted_url(server, session))

    submit_card(first, GOOD_CARD)
    assert first.url.startswith(shop.url("/back?")), first.url
    submit_card(second, "5555555555554444")

    # The stale tab shows the completed page, not a payment form, and nothing is charged twice.
    assert second.url.startswith(f"{server.base_url}/sessions/{session['id']}"), second.url
    expect(second.get_by_test_id("status")).to_be_visible()
    expect(second.locator("form")).to_have_count(0)
    done = get_session(api, session["id"])
    assert done["status"] == "completed"
    assert done["payment"]["payment_details"]["last_four_digits"] == "1111"  # the first tab's
