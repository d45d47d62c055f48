"""The hosted page speaks Japanese by default and switches to English and Korean."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.e2e.pages import DECLINED_CARD, Shop, create_session, hosted_url, submit_card

pytestmark = pytest.mark.browser


def test_japanese_page_switches_to_english_and_korean(
    page: Page, server: Server, api: httpx.Client, shop: Shop, artifacts: Path
) -> None:
    session = create_session(
        api,
        amount=1000,
        default_locale="ja",
        return_url=shop.url("/shop"),
        line_items=[
            {"description": "抹茶ラテ (Matcha latte) 말차 라떼", "amount": 600},
            {"description": "どら焼き", "amount": 200, "quantity": 2},
        ],
    )
    page.set_viewport_size({"width": 800, "height": 900})
    url = hosted_url(server, session)
    page.goto(url)

    # Japanese by default: yen with a thousands separator and no decimals, Japanese labels.
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_test_id("amount")).to_have_text("￥1,000")
    form = page.get_by_test_id("form-credit_card")
    expect(form).to_contain_text("カード番号")
    expect(form).to_contain_text("セキュリティコード")
    expect(form.locator("button[type=submit]")).to_contain_text("￥1,000")
    expect(page.locator("body")).not_to_contain_text("Card number")
    page.screenshot(path=str(artifacts / "checkout-ja.png"), full_page=True)

    # English through the language links.
    with page.expect_navigation():
        page.get_by_role("link", name="English").click()
    assert page.url == f"{url}?locale=en"
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_test_id("amount")).to_have_text("¥1,000")
    expect(form).to_contain_text("Card number")
    expect(form).to_contain_text("Security code")
    expect(page.locator("body")).not_to_contain_text("カード番号")

    # Korean.
    with page.expect_navigation():
        page.get_by_role("link", name="한국어").click()
    assert page.url == f"{url}?locale=ko"
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_test_id("amount")).to_contain_text("1,000")
    expect(form).to_contain_text("카드 번호")
    expect(form).to_contain_text("보안 코드")
    expect(page.locator("body")).not_to_contain_text("Card number")
    page.screenshot(path=str(artifacts / "checkout-ko.png"), full_page=True)


def test_language_survives_a_decline_and_can_still_be_switched(
    page: Page, server: Server, api: httpx.Client, shop: Shop, artifacts: Path
) -> None:
    session = create_session(api, default_locale="ja", return_url=shop.url("/shop"))
    url = hosted_url(server, session)
    page.goto(f"{url}?locale=ko")

    # The chosen language survives a form submission: the decline is said in Korean.
    submit_card(page, DECLINED_CARD)
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_test_id("error")).to_have_text(
        "카드가 거절되었습니다. 다른 카드를 사용해 주세요."
    )
    expect(page.get_by_test_id("form-credit_card")).to_contain_text("카드 번호")
    page.screenshot(path=str(artifacts / "checkout-ko-declined.png"), full_page=True)

    # The language links still lead to the checkout page after the decline.
    with page.expect_navigation():
        page.get_by_role("link", name="日本語").click()
    expect(page.get_by_test_id("amount")).to_have_text("￥1,000")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_test_id("form-credit_card")).to_contain_text("カード番号")
