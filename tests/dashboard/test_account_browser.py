"""The balances, settlements, keys and clock pages in Chromium: move the test clock from
the clock page and see a konbini payment past its deadline expired; roll the keys and sign
in with the new one; axe-core finds nothing on any of these pages in ja/en/ko at 1280 and
390 px, and none is wider than the screen. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.api.helpers import cash_details, create_payment, get_payment, parse_time
from tests.conftest import CARD, Merchant, Server
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
LOCALES = ("ja", "en", "ko")
WIDTHS = (1280, 390)


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


@pytest.fixture(scope="module")
def browser(shop: dict[str, Any]) -> Iterator[Browser]:
    pw: Playwright
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def signed_in(browser: Browser, merchant: Merchant, key: str, locale: str = "en") -> Iterator[Page]:
    context = browser.new_context(
        locale="en-US", viewport={"width": 1280, "height": 900}, base_url=merchant.server.base_url
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.add_cookies(
        [{"name": "kessai_dashboard_locale", "value": locale, "url": merchant.server.base_url}]
    )
    page = context.new_page()
    try:
        page.goto("/dashboard/login")
        page.fill("input[name=key]", key)
        page.press("input[name=key]", "Enter")
        page.wait_for_url("**/dashboard/payments")
        yield page
    finally:
        context.close()


def check(page: Page, name: str, locale: str) -> None:
    """axe-core at each width, nothing wider than the screen, and a screenshot of each."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        expect(page.locator("html")).to_have_attribute("lang", locale)
        expect(page.locator("h1")).to_have_count(1)
        results = Axe().run(page)
        assert results.violations_count == 0, f"{name} {locale} {width}:\n" + (
            results.generate_report()
        )
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} {locale} {width}: the page is {wide} px wide"
        page.screenshot(path=str(SHOTS / f"{name}-{locale}-{width}.png"), full_page=True)


def test_moving_the_clock_from_the_clock_page_expires_a_konbini_payment(
    browser: Browser, shop: dict[str, Any]
) -> None:
    merchant: Merchant = shop["merchant"]
    with merchant.client() as api:
        assert get_payment(api, shop["konbini"])["status"] == "authorized"
    with signed_in(browser, merchant, merchant.secret_key) as page:
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


def test_pages_pass_axe_in_every_locale_and_width(browser: Browser, shop: dict[str, Any]) -> None:
    merchant: Merchant = shop["merchant"]
    pages = {
        "balances": "/dashboard/balances",
        "settlements": "/dashboard/settlements",
        "settlement": f"/dashboard/settlements/{shop['settlement']}",
        "keys": "/dashboard/keys",
        "clock": "/dashboard/clock",
    }
    for locale in LOCALES:
        with signed_in(browser, merchant, merchant.secret_key, locale) as page:
            for name, path in pages.items():
                page.goto(path)
                check(page, name, locale)
            # The refusals, shown on the page with the field marked.
            page.goto("/dashboard/clock")
            page.get_by_test_id("clock-now").wait_for()
            page.fill("#amount", "99999")
            page.click("form[action='/dashboard/clock'] button[type=submit]")
            expect(page.get_by_test_id("field-problem")).to_be_visible()
            check(page, "clock-refused", locale)
            page.goto("/dashboard/keys")
            page.click("form[action='/dashboard/keys/roll'] button[type=submit]")
            expect(page.get_by_test_id("field-problem")).to_be_visible()
            check(page, "keys-refused", locale)
    with signed_in(browser, merchant, merchant.live_secret_key or "", "ja") as page:
        page.goto("/dashboard/clock")
        expect(page.get_by_test_id("live-clock")).to_be_visible()
        check(page, "clock-live", "ja")


def test_roll_the_keys_and_sign_in_with_the_new_one(browser: Browser, server: Server) -> None:
    merchant = server.merchant("Browser Roll")
    key = merchant.secret_key
    for locale in LOCALES:
        with signed_in(browser, merchant, key, locale) as page:
            page.goto("/dashboard/keys")
            page.check("#confirm")
            page.click("form[action='/dashboard/keys/roll'] button[type=submit]")
            new = page.get_by_test_id("new-secret-key").inner_text()
            assert new.startswith("sk_test_") and new != key
            check(page, "keys-rolled", locale)
            page.goto("/dashboard/keys")
            assert page.url.endswith("/dashboard/login")  # signed out
        assert httpx.get(f"{server.base_url}/api/v1/payments", auth=(key, "")).status_code == 401
        key = new
    with signed_in(browser, merchant, key) as page:
        page.goto("/dashboard/keys")
        expect(page.get_by_test_id("hint").first).to_have_text(f"{key[:8]}…{key[-4:]}")
