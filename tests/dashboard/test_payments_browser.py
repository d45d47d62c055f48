"""The payment pages in Chromium: find a payment made through the API by its external order
number, refund part of it from its page and see the API agree; axe-core finds nothing on
the list and the payment page in ja/en/ko at 1280 and 390 px."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.api.helpers import authorized_payment, cash_details, create_payment, get_payment
from tests.conftest import Merchant, Server
from tests.dashboard.browser import (
    LOCALES,
    SHOTS,
    WIDTHS,
    browser_fixture,  # noqa: F401
    check,
    signed_in,
)

pytestmark = pytest.mark.browser
ORDER = "BROWSER-ORDER-7"


@pytest.fixture(scope="module")
def made(server: Server) -> tuple[Merchant, dict[str, str]]:
    """A merchant with a few payments of each kind (made before Playwright's loop starts)."""
    merchant = server.merchant("Payments Browser Shop")
    with merchant.client() as api:
        ids = {
            "konbini": create_payment(
                api, amount=3200, payment_details=cash_details("konbini"), external_order_num="K-1"
            )["id"],
            "authorized": authorized_payment(api, amount=900, external_order_num="A-1")["id"],
            "usd": create_payment(api, amount=1999, currency="USD", external_order_num="U-1")["id"],
            "disputed": create_payment(api, amount=2400, external_order_num="D-1")["id"],
            "refund_me": create_payment(
                api, amount=5000, external_order_num=ORDER, metadata={"cart": "42"}
            )["id"],
        }
        opened = httpx.post(
            f"{server.base_url}/kessai/v1/chargebacks",
            json={"payment_id": ids["disputed"], "outcome": "lost"},
            auth=(merchant.secret_key, ""),
        )
        assert opened.status_code == 200, opened.text
    return merchant, ids


def test_find_a_payment_and_refund_part_of_it(
    made: tuple[Merchant, dict[str, str]], browser: Browser
) -> None:
    merchant, ids = made
    SHOTS.mkdir(parents=True, exist_ok=True)
    with signed_in(browser, merchant) as page:
        page.fill("[data-testid=search]", ORDER)
        page.press("[data-testid=search]", "Enter")
        rows = page.locator("[data-testid=payment-row]")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(ORDER)
        rows.first.locator(f"a[href='/dashboard/payments/{ids['refund_me']}']").click()
        expect(page.locator("[data-testid=payment-id]")).to_have_text(ids["refund_me"])
        expect(page.locator("#refund-amount")).to_have_value("5000")
        page.fill("#refund-amount", "1,200")
        page.fill("#refund-description", "Returned one of two")
        page.click("[data-testid=refund-form] button[type=submit]")
        expect(page.locator("[data-testid=notice]")).to_have_text("The refund was made.")
        expect(page.locator("[data-testid=refunded]")).to_have_text("¥1,200")
        expect(page.locator("[data-testid=entry][data-kind=refund]")).to_contain_text(
            "Returned one of two"
        )
        expect(page.locator("#refund-amount")).to_have_value("3800")
        page.screenshot(path=str(SHOTS / "payment-refunded-en-1280.png"), full_page=True)

        page.fill("#refund-amount", "3801")
        page.click("[data-testid=refund-form] button[type=submit]")
        expect(page.locator("[data-testid=problem]")).to_contain_text("what is left to refund")
        expect(page.locator("#refund-amount")).to_have_value("3801")
    with merchant.client() as api:
        after = get_payment(api, ids["refund_me"])
    assert after["amount_refunded"] == 1200 and after["status"] == "captured"
    assert [(r["amount"], r["description"]) for r in after["refunds"]] == [
        (1200, "Returned one of two")
    ]


@pytest.mark.parametrize("width", WIDTHS)
def test_pages_pass_axe_in_every_locale(
    made: tuple[Merchant, dict[str, str]], browser: Browser, width: int
) -> None:
    merchant, ids = made
    with signed_in(browser, merchant, width) as page:
        for locale in LOCALES:
            page.goto(f"/dashboard/locale/{locale}?next=/dashboard/payments")
            for name, path in [
                ("payments", "/dashboard/payments"),
                ("payments-problem", "/dashboard/payments?status=nope"),
                ("payment-disputed", f"/dashboard/payments/{ids['disputed']}"),
                ("payment-konbini", f"/dashboard/payments/{ids['konbini']}"),
                ("payment-authorized", f"/dashboard/payments/{ids['authorized']}"),
            ]:
                page.goto(path)
                check(page, name, locale, width)
