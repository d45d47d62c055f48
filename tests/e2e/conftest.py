"""Real-browser fixtures for the hosted checkout page.

One headless Chromium (Debian's, never a downloaded one) per test session, a fresh browser
context per test, and a tiny local "shop" HTTP server that the checkout sends customers
back to (`return_url`). Everything runs on 127.0.0.1; nothing touches the network.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.conftest import Server
from tests.e2e.pages import Shop

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
TIMEOUT_MS = 10_000


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


# --- the shop -------------------------------------------------------------------------


class _ShopHandler(BaseHTTPRequestHandler):
    shop: Shop

    def do_GET(self) -> None:
        self.shop.requests.append(self.path)
        body = (
            b"<!doctype html><html><head><meta charset='utf-8'><title>Shop</title></head>"
            b"<body><h1 data-testid='shop'>Thanks for shopping</h1></body></html>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def shop() -> Iterator[Shop]:
    handler = type("ShopHandler", (_ShopHandler,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.shop = Shop(f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler.shop
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --- the browser ----------------------------------------------------------------------


@pytest.fixture(scope="package")
def playwright(server: Server) -> Iterator[Playwright]:
    # Sync Playwright keeps an asyncio loop running on this thread while it is open, which
    # stops asyncio.run() and pytest-asyncio elsewhere: so it lives only while tests/e2e
    # runs, and the store and the server are set up before it starts.
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ (git-ignored): screenshots, plus one per failed browser test."""
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in ARTIFACTS.glob("failed-*.png"):
        stale.unlink()
    return ARTIFACTS


def _new_context(browser: Browser, **kwargs: Any) -> BrowserContext:
    context = browser.new_context(locale="en-US", **kwargs)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Any]:
    """A factory for extra contexts (e.g. with JavaScript disabled); all closed at teardown."""
    made: list[BrowserContext] = []

    def make(**kwargs: Any) -> BrowserContext:
        made.append(_new_context(browser, **kwargs))
        return made[-1]

    yield make
    for context in made:
        context.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = _new_context(browser)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(
    context: BrowserContext, request: pytest.FixtureRequest, artifacts: Path
) -> Iterator[Page]:
    """A page in a fresh context; screenshotted into test-artifacts/ if the test fails."""
    page = context.new_page()
    yield page
    if request.node.stash.get(_FAILED, False) and not page.is_closed():
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        page.screenshot(path=str(artifacts / f"failed-{name}.png"), full_page=True)
