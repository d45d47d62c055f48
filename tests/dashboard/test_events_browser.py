"""The events and webhooks pages in Chromium: Redeliver a failed delivery and see the new
attempt after a reload; axe-core finds nothing on the pages in ja/en/ko at 1280 and 390 px."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import Merchant, Server, wait_for
from tests.dashboard.browser import (
    LOCALES,
    SHOTS,
    WIDTHS,
    browser_fixture,  # noqa: F401
    check,
    signed_in,
)
from tests.dashboard.events_helpers import add_endpoint, api_events, deliveries, make_customers
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.browser


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


def test_redeliver_a_failed_delivery(
    shop: tuple[Merchant, str], failing: Receiver, browser: Browser
) -> None:
    merchant, event_id = shop
    with signed_in(browser, merchant) as page:
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


@pytest.mark.parametrize("width", WIDTHS)
def test_pages_pass_axe_in_every_locale(
    shop: tuple[Merchant, str], failing: Receiver, browser: Browser, width: int
) -> None:
    merchant, event_id = shop
    with signed_in(browser, merchant, width) as page:
        for locale in LOCALES:
            page.goto(f"/dashboard/locale/{locale}?next=/dashboard/events")
            for name, path in [
                ("events", "/dashboard/events"),
                ("event", f"/dashboard/events/{event_id}"),
                ("webhooks", "/dashboard/webhooks"),
            ]:
                page.goto(path)
                if name == "event":
                    page.click("details.request summary")  # the request, open
                check(page, name, locale, width)
        # the page that shows a new endpoint's secret, once
        page.fill("#url", f"{failing.base}/added-{width}")
        page.check("input[name=event_types][value=ping]")
        page.click("form.stack button[type=submit]")
        expect(page.locator("[data-testid=secret]")).to_have_text(re.compile("^[0-9a-f]{64}$"))
        check(page, "webhooks-added", "ko", width)
