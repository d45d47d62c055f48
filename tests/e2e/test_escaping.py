"""Every merchant- or customer-supplied string on the hosted page is text, never markup."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Page, expect

from tests.conftest import Merchant, Server
from tests.e2e.pages import (
    DECLINED_CARD,
    Shop,
    create_session,
    hosted_url,
    parse_query,
    submit_card,
)

pytestmark = pytest.mark.browser

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&amp;"
EVIL_ITEM = '"><svg onload=alert(3)></svg><iframe src="javascript:alert(4)"></iframe>'
EVIL_NAME = '"><img src=x onerror=alert(6)>'
EVIL_QUERY = '"><script>alert(5)</script>'


@pytest.fixture(scope="module")
def evil_merchant(server: Server) -> Merchant:
    return server.merchant(f"Shop {EVIL}")


class Watch:
    """What would betray script execution or injected markup."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.csp_violations: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", self._console)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)

    def assert_clean(self) -> None:
        page = self.page
        assert self.dialogs == [], self.dialogs
        # The page itself has no script, image or frame: any such element was injected.
        for tag in ("script", "img", "svg", "iframe", "object", "embed"):
            expect(page.locator(tag)).to_have_count(0)
        assert page.evaluate("document.querySelectorAll('[onerror],[onload]').length") == 0
        # An injected inline script would be refused by the page's CSP and logged.
        assert self.csp_violations == [], self.csp_violations


@pytest.fixture
def watch(page: Page) -> Watch:
    return Watch(page)


def test_merchant_strings_are_shown_as_text(
    page: Page, watch: Watch, server: Server, evil_merchant: Merchant, shop: Shop
) -> None:
    with evil_merchant.client() as api:
        session = create_session(
            api,
            amount=1200,
            return_url=shop.url(f"/back?x={EVIL_QUERY}"),
            line_items=[
                {"description": EVIL, "amount": 1000},
                {"description": EVIL_ITEM, "amount": 200, "external_product_num": EVIL},
            ],
            metadata={"note": EVIL},
            payment_data={"external_order_num": "evil-1", "name": EVIL},
        )
    page.goto(hosted_url(server, session))

    expect(page.get_by_test_id("merchant")).to_have_text(f"Shop {EVIL}")
    assert page.title().endswith(f"Shop {EVIL}"), page.title()
    cells = page.locator("table.items tbody tr td:first-child")
    expect(cells).to_have_text([EVIL, EVIL_ITEM])
    watch.assert_clean()

    # The way back keeps the shop's query value intact (as data, not markup).
    back = page.get_by_role("link", name="Cancel and return to the shop")
    href = back.get_attribute("href") or ""
    assert parse_query(href) == {"x": [EVIL_QUERY], "session_id": [session["id"]]}, href

    # A customer's own input echoed back after a decline is escaped too.
    submit_card(page, DECLINED_CARD, name=EVIL_NAME)
    expect(page.get_by_test_id("error")).to_be_visible()
    expect(page.get_by_test_id("form-credit_card").locator("[name=name]")).to_have_value(EVIL_NAME)
    expect(page.get_by_test_id("merchant")).to_have_text(f"Shop {EVIL}")
    watch.assert_clean()


def test_hostile_query_and_path_are_not_reflected_as_markup(
    page: Page, watch: Watch, server: Server, evil_merchant: Merchant, shop: Shop
) -> None:
    with evil_merchant.client() as api:
        session = create_session(api, return_url=shop.url("/back"))
    url = hosted_url(server, session)

    page.goto(f"{url}?locale={quote(EVIL_QUERY)}&failed={quote(EVIL)}")
    expect(page.get_by_test_id("form-credit_card")).to_be_visible()
    expect(page.get_by_test_id("error")).to_have_count(0)
    watch.assert_clean()

    page.goto(f"{server.base_url}/sessions/{quote(EVIL_QUERY, safe='')}")
    expect(page.locator("body")).not_to_contain_text("alert(5)")
    watch.assert_clean()

    page.goto(f"{server.base_url}/three_d_secure/{quote(EVIL, safe='')}?locale=en")
    expect(page.locator("body")).not_to_contain_text("alert(1)")
    watch.assert_clean()
