"""The sessions, customers and subscriptions pages in Chromium: axe-core finds nothing on
each list and detail page in ja/en/ko at 1280 and 390 px, no page is wider than the
screen, and the filter forms (plain GET forms: the pages have no scripts) work."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.api.helpers import create_session, pay_ok
from tests.conftest import CARD, Merchant, Server
from tests.dashboard.browser import (
    LOCALES,
    WIDTHS,
    browser_fixture,  # noqa: F401
    check,
    signed_in,
)

pytestmark = pytest.mark.browser
ORDER = "OBJECTS-BROWSER-1"


@pytest.fixture(scope="module")
def made(server: Server) -> tuple[Merchant, dict[str, str]]:
    """A merchant with one of each object (made before Playwright's loop starts)."""
    merchant = server.merchant("Objects Browser Shop")
    with merchant.client() as api:
        paid = create_session(
            api,
            amount=4200,
            return_url="https://shop.example/return?order=1",
            payment_data={"external_order_num": ORDER},
            line_items=[
                {"amount": 2000, "quantity": 2, "description": "抹茶 (Matcha) 100g"},
                {"amount": 200, "description": "Gift wrapping"},
            ],
            metadata={"cart": "42", "note": "長いメモ" * 10},
        )
        pay_ok(api, paid["id"])
        pending = create_session(api, amount=990)
        customer = api.post(
            "/customers",
            json={
                "email": "hanako.yamada.with.a.long.address@example.co.jp",
                "currency": "JPY",
                "locale": "ja",
                "metadata": {"tier": "gold"},
                "payment_details": CARD,
            },
        ).json()
        subscription = api.post(
            "/subscriptions",
            json={
                "customer": customer["id"],
                "amount": 1980,
                "currency": "JPY",
                "period": "monthly",
            },
        ).json()
        deleted = api.post("/customers", json={"email": "gone@example.com"}).json()
        assert api.delete(f"/customers/{deleted['id']}").status_code == 200
    return merchant, {
        "paid": paid["id"],
        "pending": pending["id"],
        "customer": customer["id"],
        "deleted": deleted["id"],
        "subscription": subscription["id"],
    }


@pytest.mark.parametrize("width", WIDTHS)
def test_object_pages_pass_axe_in_every_locale(
    made: tuple[Merchant, dict[str, str]], browser: Browser, width: int
) -> None:
    merchant, ids = made
    with signed_in(browser, merchant, width) as page:
        page.goto("/dashboard/locale/en?next=/dashboard/sessions")
        page.fill("#q", ORDER)
        page.press("#q", "Enter")
        rows = page.locator("[data-testid=sessions] tbody tr")
        expect(rows).to_have_count(1)
        rows.first.locator("a").click()
        expect(page.locator("[data-testid=order]")).to_have_text(ORDER)
        page.goto("/dashboard/subscriptions")
        page.select_option("#status", "retrying")
        page.click("form.filters button[type=submit]")
        expect(page.locator("[data-testid=empty]")).to_be_visible()

        for locale in LOCALES:
            page.goto(f"/dashboard/locale/{locale}?next=/dashboard/sessions")
            for name, path in [
                ("sessions", "/dashboard/sessions"),
                ("sessions-problem", "/dashboard/sessions?status=nope"),
                ("session-paid", f"/dashboard/sessions/{ids['paid']}"),
                ("session-pending", f"/dashboard/sessions/{ids['pending']}"),
                ("customers", "/dashboard/customers"),
                ("customer", f"/dashboard/customers/{ids['customer']}"),
                ("customer-deleted", f"/dashboard/customers/{ids['deleted']}"),
                ("subscriptions", "/dashboard/subscriptions"),
                ("subscription", f"/dashboard/subscriptions/{ids['subscription']}"),
            ]:
                page.goto(path)
                check(page, f"objects-{name}", locale, width)
