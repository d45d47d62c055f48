"""The balances, settlements, keys and clock pages in Chromium: move the test clock from
the clock page and see a konbini payment past its deadline expired; roll the keys and sign
in with the new one; axe-core finds nothing on any of these pages in ja/en/ko at 1280 and
390 px, and none is wider than the screen. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.helpers import cash_details, create_payment, get_payment, parse_time
from tests.conftest import CARD, Merchant, Server
from tests.dashboard.browser import (
    LOCALES,
    SHOTS,
    WIDTHS,
    browser_fixture,  # noqa: F401
    check,
    signed_in,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shop(server: Server) -> dict[str, Any]:
    """A merchant with a settled week (two currencies), later payments and a konbini
    payment due in a day. Made before Playwright's loop starts on this thread."""
    merchant = server.merchant("Ledger Browser Shop")
    settings = httpx.get(
        f"{server.base_url}/kessai/v1/ledger/settings", auth=(merchant.secret_key, "")
    ).json()
    cutoff = parse_time(settings["next_cutoff_at"])
    merchant.move_clock(now=(cutoff + timedelta(hours=1)).isoformat())
    with merchant.client() as api:
        for amount, currency in ((1200, "JPY"), (3400, "JPY"), (990, "USD")):
            body = {"amount": amount, "currency": currency, "payment_details": CARD}
            assert api.post("/payments", json=body).status_code == 200
        merchant.move_clock(advance_seconds=8 * 86400)
        body = {"amount": 5600, "currency": "JPY", "payment_details": CARD}
        paid = api.post("/payments", json=body).json()["id"]
        assert api.post(f"/payments/{paid}/refund", json={"amount": 600}).status_code == 200
        konbini = create_payment(
            api, amount=2000, currency="JPY", payment_details=cash_details("konbini", expiry_days=1)
        )
        settlement = next(
            s for s in api.get("/settlements").json()["data"] if s["currency"] == "JPY"
        )
    return {"merchant": merchant, "konbini": konbini["id"], "settlement": settlement["id"]}


def check_widths(page: Page, name: str, locale: str) -> None:
    """The page passes `check` at each width."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        check(page, name, locale, width)


def test_moving_the_clock_from_the_clock_page_expires_a_konbini_payment(
    shop: dict[str, Any], browser: Browser
) -> None:
    merchant: Merchant = shop["merchant"]
    with merchant.client() as api:
        assert get_payment(api, shop["konbini"])["status"] == "authorized"
    with signed_in(browser, merchant, locale="en") as page:
        page.get_by_role("link", name="Test clock").click()
        expect(page.get_by_test_id("clock-ahead")).to_contain_text("days")  # the week moved
        page.get_by_label("How far").fill("2")
        page.get_by_label("Unit").select_option("days")
        page.get_by_role("button", name="Move forward").click()
        expect(page.get_by_test_id("notice")).to_contain_text("The clock moved forward")
        page.screenshot(path=str(SHOTS / "clock-moved-en-1280.png"), full_page=True)
        shown = page.goto(f"/dashboard/payments/{shop['konbini']}")
        if shown is not None and shown.status == 200:  # the payment page, where it exists
            expect(page.locator(".s-expired").first).to_be_visible()
    with merchant.client() as api:
        assert get_payment(api, shop["konbini"])["status"] == "expired"


def test_pages_pass_axe_in_every_locale_and_width(shop: dict[str, Any], browser: Browser) -> None:
    merchant: Merchant = shop["merchant"]
    pages = {
        "balances": "/dashboard/balances",
        "settlements": "/dashboard/settlements",
        "settlement": f"/dashboard/settlements/{shop['settlement']}",
        "keys": "/dashboard/keys",
        "clock": "/dashboard/clock",
    }
    for locale in LOCALES:
        with signed_in(browser, merchant, locale=locale) as page:
            for name, path in pages.items():
                page.goto(path)
                check_widths(page, name, locale)
            # The refusals, shown on the page with the field marked.
            page.goto("/dashboard/clock")
            page.get_by_test_id("clock-now").wait_for()
            page.fill("#amount", "99999")
            page.click("form[action='/dashboard/clock'] button[type=submit]")
            expect(page.get_by_test_id("field-problem")).to_be_visible()
            check_widths(page, "clock-refused", locale)
            page.goto("/dashboard/keys")
            page.click("form[action='/dashboard/keys/roll'] button[type=submit]")
            expect(page.get_by_test_id("field-problem")).to_be_visible()
            check_widths(page, "keys-refused", locale)
    with signed_in(browser, merchant, key=merchant.live_secret_key, locale="ja") as page:
        page.goto("/dashboard/clock")
        expect(page.get_by_test_id("live-clock")).to_be_visible()
        check_widths(page, "clock-live", "ja")


def test_roll_the_keys_and_sign_in_with_the_new_one(server: Server, browser: Browser) -> None:
    merchant = server.merchant("Browser Roll")
    key = merchant.secret_key
    for locale in LOCALES:
        with signed_in(browser, merchant, key=key, locale=locale) as page:
            page.goto("/dashboard/keys")
            page.check("#confirm")
            page.click("form[action='/dashboard/keys/roll'] button[type=submit]")
            new = page.get_by_test_id("new-secret-key").inner_text()
            assert new.startswith("sk_test_") and new != key
            check_widths(page, "keys-rolled", locale)
            page.goto("/dashboard/keys")
            assert page.url.endswith("/dashboard/login")  # signed out
        assert httpx.get(f"{server.base_url}/api/v1/payments", auth=(key, "")).status_code == 401
        key = new
    with signed_in(browser, merchant, key=key, locale="en") as page:
        page.goto("/dashboard/keys")
        expect(page.get_by_test_id("hint").first).to_have_text(f"{key[:8]}…{key[-4:]}")
