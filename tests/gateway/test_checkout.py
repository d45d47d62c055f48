"""A customer in Chromium on the GATEWAY's hosted page, for a live-mode session of G: the
gateway pays upstream, sends the browser to the upstream's own 3-D Secure and wallet pages
and takes it back (`/payments/{id}/return`), shows konbini instructions, and learns of the
konbini payment from the upstream's webhook."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import wait_for
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.e2e.pages import (
    GOOD_CARD,
    THREE_DS_CHALLENGE,
    THREE_DS_PASSWORD,
    answer_offsite,
    continue_to_wallet,
    parse_query,
    pay_konbini,
    simulate_payment,
    submit_card,
    submit_password,
)
from tests.gateway.conftest import Pair, assert_mirrored, delivered, the_upstream_payment
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shop() -> Iterator[Receiver]:
    """The merchant's site the checkout returns to (answers 200 to every GET)."""
    site = Receiver()
    site.up()
    try:
        yield site
    finally:
        site.down()


@pytest.fixture(scope="module")
def browser(pair: Pair) -> Iterator[Browser]:
    # Started after the servers (and closed before them): sync Playwright runs an asyncio
    # loop on this thread while it is open.
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def live_session(pair: Pair, shop: Receiver, **params: Any) -> dict[str, Any]:
    body = {
        "amount": 2000,
        "currency": "JPY",
        "default_locale": "en",
        "return_url": f"{shop.base}/thanks?order=9",
        **params,
    }
    with pair.live() as live:
        resp = live.post("/sessions", json=body)
    assert resp.status_code == 200, resp.text
    session: dict[str, Any] = resp.json()
    assert session["session_url"] == f"{pair.gateway.base_url}/sessions/{session['id']}"
    return session


def gateway_session(pair: Pair, session_id: str) -> dict[str, Any]:
    with pair.live() as live:
        resp = live.get(f"/sessions/{session_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def open_checkout(page: Page, pair: Pair, session: dict[str, Any]) -> list[str]:
    """Open the gateway's page; the URLs the browser then navigates to, redirects too."""
    visited: list[str] = []
    page.on("request", lambda req: visited.append(req.url) if req.is_navigation_request() else None)
    page.goto(session["session_url"])
    expect(page.get_by_test_id("merchant")).to_have_text("Gateway shop")
    expect(page.locator(".testmode")).to_have_count(0)  # a live-mode page
    return visited


def assert_back_at_shop(page: Page, shop: Receiver, session: dict[str, Any]) -> None:
    assert page.url.startswith(f"{shop.base}/thanks?"), page.url
    assert parse_query(page.url) == {"order": ["9"], "session_id": [session["id"]]}


def completed(pair: Pair, session: dict[str, Any], status: str = "captured") -> dict[str, Any]:
    """The gateway session is completed; its payment mirrors the one upstream."""
    done = gateway_session(pair, session["id"])
    assert done["status"] == "completed", done
    payment = done["payment"]
    assert payment is not None and payment["status"] == status, done
    with pair.up() as up:
        assert_mirrored(payment, the_upstream_payment(up, payment["id"]))
    return dict(payment)


def test_card_completes_the_gateway_session(
    page: Page, pair: Pair, shop: Receiver, tmp_path: Path
) -> None:
    session = live_session(pair, shop, amount=1500)
    open_checkout(page, pair, session)
    page.screenshot(path=str(tmp_path / "gateway-checkout.png"), full_page=True)

    submit_card(page, GOOD_CARD)

    assert_back_at_shop(page, shop, session)
    payment = completed(pair, session)
    assert payment["amount"] == 1500
    assert payment["payment_details"]["last_four_digits"] == "1111"
    hook = delivered(pair, "payment.captured", payment["id"]).json()
    assert hook["data"]["session"] == session["id"]


def test_three_d_secure_on_the_upstreams_page_then_back_to_the_gateway(
    page: Page, pair: Pair, shop: Receiver, tmp_path: Path
) -> None:
    session = live_session(pair, shop, amount=2500)
    visited = open_checkout(page, pair, session)

    submit_card(page, THREE_DS_CHALLENGE)

    # The issuer's challenge is the UPSTREAM's page, for the upstream's payment.
    assert page.url.startswith(f"{pair.upstream.base_url}/three_d_secure/"), page.url
    expect(page.get_by_test_id("form-3ds")).to_be_visible()
    expect(page.locator("body")).to_contain_text("2,500")
    page.screenshot(path=str(tmp_path / "upstream-3ds.png"), full_page=True)
    waiting = gateway_session(pair, session["id"])
    assert waiting["status"] == "pending", waiting

    submit_password(page, THREE_DS_PASSWORD)

    assert_back_at_shop(page, shop, session)
    payment = completed(pair, session)
    assert payment["payment_details"]["last_four_digits"] == "5000"
    returns = [u for u in visited if u.startswith(f"{pair.gateway.base_url}/payments/")]
    assert returns and returns[0].split("?")[0].endswith(f"/payments/{payment['id']}/return")
    delivered(pair, "payment.captured", payment["id"])


def test_paypay_on_the_upstreams_page_then_back_to_the_gateway(
    page: Page, pair: Pair, shop: Receiver, tmp_path: Path
) -> None:
    session = live_session(pair, shop, amount=3300, payment_types=["paypay", "credit_card"])
    visited = open_checkout(page, pair, session)

    continue_to_wallet(page, "paypay")

    assert page.url.startswith(f"{pair.upstream.base_url}/offsite/"), page.url
    expect(page.get_by_test_id("amount")).to_contain_text("3,300")
    page.screenshot(path=str(tmp_path / "upstream-paypay.png"), full_page=True)
    assert gateway_session(pair, session["id"])["status"] == "pending"

    answer_offsite(page, "capture")

    assert_back_at_shop(page, shop, session)
    payment = completed(pair, session)
    assert payment["payment_details"]["type"] == "paypay"
    assert any(u.split("?")[0].endswith(f"/payments/{payment['id']}/return") for u in visited)
    delivered(pair, "payment.captured", payment["id"])


def test_konbini_paid_upstream_reaches_the_gateway_by_webhook(
    page: Page, pair: Pair, shop: Receiver, tmp_path: Path
) -> None:
    session = live_session(pair, shop, amount=2480, payment_types=["konbini"])
    open_checkout(page, pair, session)

    pay_konbini(page, "lawson", email="hanako@example.com")

    # The gateway shows the instructions (live mode: nothing to simulate there).
    assert page.url.startswith(f"{pair.gateway.base_url}/instructions/"), page.url
    expect(page.get_by_test_id("instructions")).to_be_visible()
    expect(page.get_by_test_id("amount")).to_have_text("¥2,480")
    expect(page.get_by_test_id("simulate")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "gateway-konbini.png"), full_page=True)
    payment = completed(pair, session, status="authorized")
    assert payment["payment_details"]["store"] == "lawson"
    expect(page.get_by_test_id("receipt")).to_have_text(payment["payment_details"]["receipt"])
    with pair.up() as up:
        upstream = the_upstream_payment(up, payment["id"])
    assert upstream["payment_details"]["receipt"] == payment["payment_details"]["receipt"]
    # The gateway computes its own deadline as the upstream did (the upstream expires it).
    deadlines = [datetime.fromisoformat(p["payment_deadline"]) for p in (upstream, payment)]
    assert abs(deadlines[0] - deadlines[1]) < timedelta(seconds=5), deadlines

    # The customer pays at the store: played on the UPSTREAM's (test-mode) page.
    instructions = page.url
    page.goto(f"{pair.upstream.base_url}/instructions/{upstream['id']}?locale=en")
    simulate_payment(page)
    page.screenshot(path=str(tmp_path / "upstream-konbini-paid.png"), full_page=True)

    def captured() -> dict[str, Any] | None:
        now = gateway_session(pair, session["id"])["payment"]
        return now if now and now["status"] == "captured" else None

    wait_for(captured, what="the upstream's webhook to capture the gateway payment")
    final = completed(pair, session)
    assert final["captured_at"]
    hook = delivered(pair, "payment.captured", payment["id"]).json()
    assert hook["data"]["status"] == "captured"
    assert hook["data"]["payment_details"]["type"] == "konbini"
    delivered(pair, "payment.authorized", payment["id"])
    page.goto(instructions)  # the gateway's own page knows too
    expect(page.get_by_test_id("state")).to_have_text("Payment received. Thank you.")
