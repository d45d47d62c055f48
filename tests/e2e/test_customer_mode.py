"""Customer modes on the hosted page: saving a card (and paying with it) for the merchant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.e2e.pages import (
    DECLINED_CARD,
    EXPIRY_YEAR,
    GOOD_CARD,
    Shop,
    answer_offsite,
    create_session,
    get_session,
    hosted_url,
    parse_query,
    submit_card,
)

pytestmark = pytest.mark.browser

SAVED_ONLY = "Your card will be saved for future payments to this shop. You are not charged now."
SAVED_TOO = "Your card will also be saved for future payments to this shop."


def _saving_session(api: httpx.Client, **params: Any) -> dict[str, Any]:
    """A customer-mode session: no amount at all (it is optional there)."""
    body = {"mode": "customer", "currency": "JPY", "default_locale": "en", **params}
    response = api.post("/sessions", json=body)
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    assert session["mode"] == "customer" and session["amount"] == 0, session
    return session


def _customer(api: httpx.Client, customer_id: str) -> httpx.Response:
    return api.get(f"/customers/{customer_id}")


def _assert_saved_card(
    api: httpx.Client, customer_id: str, brand: str, last_four: str, email: str
) -> dict[str, Any]:
    response = _customer(api, customer_id)
    assert response.status_code == 200, response.text
    customer: dict[str, Any] = response.json()
    assert customer["id"] == customer_id
    source = customer["source"]
    assert source is not None, customer
    assert source["brand"] == brand, source
    assert source["last_four_digits"] == last_four, source
    assert str(source["month"]) == "12" and str(source["year"]) == EXPIRY_YEAR, source
    assert customer["email"] == email, customer
    return customer


def test_customer_mode_saves_card_without_charging(
    page: Page, server: Server, api: httpx.Client, shop: Shop, artifacts: Path
) -> None:
    session = _saving_session(api, return_url=shop.url("/account/cards?user=12"))
    customer_id = session["customer_id"]
    assert customer_id
    page.goto(hosted_url(server, session))

    # The page says the card is saved and nothing is charged: no amount, no "Pay" button.
    expect(page.locator("h1").first).to_have_text("Save your card")
    expect(page.locator("main")).to_contain_text(SAVED_ONLY)
    expect(page.get_by_test_id("amount")).to_have_count(0)
    button = page.get_by_test_id("form-credit_card").locator("button[type=submit]")
    expect(button).to_have_text("Save card")
    expect(page.locator("main")).not_to_contain_text("Pay ¥")
    assert _customer(api, customer_id).status_code == 404  # nothing saved yet
    page.screenshot(path=str(artifacts / "customer-mode-en.png"), full_page=True)

    submit_card(page, GOOD_CARD, email="saver@example.com")

    assert page.url.startswith(shop.url("/account/cards?")), page.url
    assert parse_query(page.url) == {"user": ["12"], "session_id": [session["id"]]}
    expect(page.get_by_test_id("shop")).to_be_visible()
    done = get_session(api, session["id"])
    assert done["status"] == "completed", done
    assert done["customer_id"] == customer_id
    assert done["payment"] is None, done  # customer mode creates no payment
    _assert_saved_card(api, customer_id, "visa", "1111", "saver@example.com")


def test_customer_payment_mode_charges_and_saves_card(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(
        api, mode="customer_payment", amount=1800, return_url=shop.url("/orders/77")
    )
    customer_id = session["customer_id"]
    assert customer_id
    page.goto(hosted_url(server, session))

    expect(page.get_by_test_id("amount")).to_have_text("¥1,800")
    expect(page.locator("main")).to_contain_text(SAVED_TOO)
    button = page.get_by_test_id("form-credit_card").locator("button[type=submit]")
    expect(button).to_have_text("Pay ¥1,800")

    submit_card(page, GOOD_CARD, email="both@example.com")

    assert page.url.startswith(shop.url("/orders/77?")), page.url
    assert parse_query(page.url) == {"session_id": [session["id"]]}
    done = get_session(api, session["id"])
    assert done["status"] == "completed", done
    payment = done["payment"]
    assert payment is not None, done
    assert payment["status"] == "captured", payment
    assert payment["amount"] == 1800
    assert payment["customer"] == customer_id, payment
    assert payment["payment_details"]["last_four_digits"] == "1111"
    _assert_saved_card(api, customer_id, "visa", "1111", "both@example.com")


def test_customer_mode_declined_card_shows_error_and_saves_nothing(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = _saving_session(api, return_url=shop.url("/cards"))
    customer_id = session["customer_id"]
    page.goto(hosted_url(server, session))

    submit_card(page, DECLINED_CARD, name="Jiro Suzuki", email="jiro@example.com")

    assert page.url.startswith(f"{server.base_url}/sessions/{session['id']}"), page.url
    expect(page.get_by_test_id("error")).to_have_text("The card was declined. Try another card.")
    form = page.get_by_test_id("form-credit_card")
    expect(form).to_be_visible()
    expect(form.locator("[name=name]")).to_have_value("Jiro Suzuki")
    expect(form.locator("[name=number]")).to_have_value("")
    expect(form.locator("button[type=submit]")).to_have_text("Save card")
    assert DECLINED_CARD not in page.content()
    pending = get_session(api, session["id"])
    assert pending["status"] == "pending", pending
    assert pending["payment"] is None
    assert _customer(api, customer_id).status_code == 404
    assert shop.requests.count(f"/cards?session_id={session['id']}") == 0

    # Another card then saves.
    submit_card(page, "5555555555554444", email="jiro@example.com")
    assert parse_query(page.url) == {"session_id": [session["id"]]}
    _assert_saved_card(api, customer_id, "master", "4444", "jiro@example.com")


def test_customer_mode_updates_an_existing_customer(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    created = api.post("/customers", json={"email": "known@example.com"})
    assert created.status_code == 200, created.text
    customer_id = created.json()["id"]
    assert created.json()["source"] is None
    session = _saving_session(api, customer_id=customer_id, return_url=shop.url("/x"))
    assert session["customer_id"] == customer_id
    page.goto(hosted_url(server, session))

    submit_card(page, GOOD_CARD, email="known@example.com")

    assert parse_query(page.url) == {"session_id": [session["id"]]}
    assert get_session(api, session["id"])["status"] == "completed"
    _assert_saved_card(api, customer_id, "visa", "1111", "known@example.com")


@pytest.mark.parametrize("mode", ["customer", "customer_payment"])
def test_customer_modes_offer_only_methods_that_can_complete(
    page: Page, server: Server, api: httpx.Client, shop: Shop, mode: str
) -> None:
    """Every form the page shows must lead somewhere: a method that can never complete the
    session in this mode (e.g. a wallet when a card must be saved) must not be offered."""
    if mode == "customer":
        session = _saving_session(api, return_url=shop.url("/cards"))
    else:
        session = create_session(api, mode=mode, amount=900, return_url=shop.url("/cards"))
    offered = [m["type"] for m in session["payment_methods"]]
    assert "credit_card" in offered, offered
    page.goto(hosted_url(server, session))
    slugs = [
        (form.get_attribute("data-testid") or "").removeprefix("form-")
        for form in page.locator("form.pay").all()
    ]
    assert slugs == offered

    for slug in offered:
        if slug == "credit_card":
            continue
        page.goto(hosted_url(server, session))
        form = page.get_by_test_id(f"form-{slug}")
        with page.expect_navigation(wait_until="load"):
            form.locator("button[type=submit]").click()
        # A wallet goes to its offsite page; it must not come back refused.
        errors = page.get_by_test_id("error").all_inner_texts()  # the page has loaded
        assert errors == [], (slug, errors, page.locator("form.pay button").all_inner_texts())
        assert page.url.startswith(f"{server.base_url}/offsite/"), (slug, page.url)
        answer_offsite(page, "fail")
