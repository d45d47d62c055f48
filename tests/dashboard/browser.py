"""Dashboard pages in Chromium: one browser per test module, a page signed in as a merchant,
and the check every page gets (in its locale, one h1, nothing axe-core objects to, no wider
than the screen, a screenshot in test-artifacts/dashboard/).

A test module imports the `browser` fixture by its function's name, `browser_fixture`
(`# noqa: F401`: pytest finds it in the module; the tests name it `browser`).
Sync Playwright keeps an asyncio loop running on this thread while it is open, so make a
module's data first: name its data fixtures before `browser` in each test's arguments.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.conftest import Merchant, Server
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
LOCALES = ("ja", "en", "ko")
WIDTHS = (1280, 390)
AXE = Axe()


@pytest.fixture(scope="module", name="browser")
def browser_fixture(server: Server) -> Iterator[Browser]:
    # The server is up before Playwright's loop starts on this thread (see tests/e2e).
    pw: Playwright
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def signed_in(
    browser: Browser,
    merchant: Merchant,
    width: int = 1280,
    key: str | None = None,
    locale: str | None = None,
) -> Iterator[Page]:
    """A page `width` px wide, signed in with `key` (the merchant's test secret key by
    default), in `locale` if given; its browser context is closed afterwards."""
    base_url = merchant.server.base_url
    context = browser.new_context(
        locale="en-US", viewport={"width": width, "height": 900}, base_url=base_url
    )
    try:
        context.set_default_timeout(TIMEOUT_MS)
        if locale is not None:
            context.add_cookies(
                [{"name": "kessai_dashboard_locale", "value": locale, "url": base_url}]
            )
        page = context.new_page()
        page.goto("/dashboard/login")
        page.fill("input[name=key]", key or merchant.secret_key)
        page.press("input[name=key]", "Enter")
        page.wait_for_url("**/dashboard/payments")
        yield page
    finally:
        context.close()


def check(page: Page, name: str, locale: str, width: int) -> None:
    """The page is in `locale` with one h1, axe-core finds nothing on it, it is no wider than
    the screen; its screenshot is `name-locale-width.png`."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expect(page.locator("h1")).to_have_count(1)
    results = AXE.run(page)
    assert results.violations_count == 0, f"{name} {locale} {width}:\n" + (
        results.generate_report()
    )
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} ({locale}) is wider than {width} px"
    page.screenshot(path=str(SHOTS / f"{name}-{locale}-{width}.png"), full_page=True)
