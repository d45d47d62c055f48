"""The events and webhooks pages in Chromium: Redeliver a failed delivery and see the new
attempt after a reload; axe-core finds nothing on the pages in ja/en/ko at 1280 and 390 px."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.conftest import Merchant, Server, wait_for
from tests.dashboard.events_helpers import add_endpoint, api_events, deliveries, make_customers
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:
    # The server is up before Playwright's loop starts on this thread (see tests/e2e).
    pw: Playwright
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def failing() -> Iterator[Receiver]:
    recv = Receiver()
    recv.fail_paths.add("/hook")
    recv.up()
    try:
        yield recv
    finally:
        recv.down()


@pytest.fixture(scope="module")
def shop(server: Server, failing: Receiver) -> tuple[Merchant, str]:
    """A merchant whose endpoint answered 500 to a `customer.created` event; its id."""
    merchant = server.merchant("Events Browser Shop")
    add_endpoint(merchant, failing.url)
    make_customers(merchant, 1)
    [event] = [e for e in api_events(merchant) if e["type"] == "customer.created"]
    wait_for(lambda: deliveries(merchant, event["id"])[0]["attempts"], what="the failed attempt")
    return merchant, str(event["id"])


def signed_in_page(browser: Browser, merchant: Merchant, width: int) -> Page:
    context = browser.new_context(
        locale="en-US", viewport={"width": width, "height": 900}, base_url=merchant.server.base_url
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/dashboard/login")
    page.fill("input[name=key]", merchant.secret_key)
    page.press("input[name=key]", "Enter")
    page.wait_for_url("**/dashboard/payments")
    return page


def test_redeliver_a_failed_delivery(
    browser: Browser, shop: tuple[Merchant, str], failing: Receiver
) -> None:
    merchant, event_id = shop
    page = signed_in_page(browser, merchant, 1280)
    try:
        page.goto("/dashboard/events")
        page.click(f"a[href='/dashboard/events/{event_id}']")
        attempts = page.locator("[data-testid=attempts] tbody tr")
        expect(attempts).to_have_count(1)
        expect(attempts.nth(0).locator("[data-testid=code]")).to_have_text("500")
        expect(page.locator("[data-testid=delivery-status]")).to_have_text("pending")

        failing.fail_paths.clear()
        page.click("[data-testid=redeliver]")
        expect(page.locator("[data-testid=notice]")).to_contain_text("Queued for delivery again")

        def reloaded() -> bool:
            page.reload()
            return attempts.count() == 2

        wait_for(reloaded, what="the new attempt after Redeliver")
        expect(attempts.nth(1).locator("[data-testid=code]")).to_have_text("200")
        expect(page.locator("[data-testid=delivery-status]")).to_have_text("delivered")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "event-redelivered-en-1280.png"), full_page=True)
    finally:
        page.context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_pages_pass_axe_in_every_locale(
    browser: Browser, shop: tuple[Merchant, str], failing: Receiver, width: int
) -> None:
    merchant, event_id = shop
    page = signed_in_page(browser, merchant, width)
    axe = Axe()
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        for locale in ("ja", "en", "ko"):
            page.goto(f"/dashboard/locale/{locale}?next=/dashboard/events")
            for name, path in [
                ("events", "/dashboard/events"),
                ("event", f"/dashboard/events/{event_id}"),
                ("webhooks", "/dashboard/webhooks"),
            ]:
                page.goto(path)
                expect(page.locator("html")).to_have_attribute("lang", locale)
                if name == "event":
                    page.click("details.request summary")  # the request, open
                results = axe.run(page)
                assert results.violations_count == 0, results.generate_report()
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{name} ({locale}) is wider than {width} px"
                page.screenshot(path=str(SHOTS / f"{name}-{locale}-{width}.png"), full_page=True)
        # the page that shows a new endpoint's secret, once
        page.fill("#url", f"{failing.base}/added-{width}")
        page.check("input[name=event_types][value=ping]")
        page.click("form.stack button[type=submit]")
        expect(page.locator("[data-testid=secret]")).to_have_text(re.compile("^[0-9a-f]{64}$"))
        results = axe.run(page)
        assert results.violations_count == 0, results.generate_report()
        page.screenshot(path=str(SHOTS / f"webhooks-added-ko-{width}.png"), full_page=True)
    finally:
        page.context.close()
