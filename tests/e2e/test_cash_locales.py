"""Konbini, instructions and wallet pages in Japanese and Korean, with screenshots.

The screenshots (test-artifacts/) are for people to look at: CJK text, layout of the
checkout page with every JPY payment type, the instructions page and the wallet page.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.e2e.pages import (
    Shop,
    answer_offsite,
    continue_to_wallet,
    create_session,
    fact,
    get_payment,
    get_session,
    hosted_url,
    in_japan,
    parse_query,
    pay_konbini,
    payment_id_of,
    simulate_payment,
)

pytestmark = pytest.mark.browser

STORES_JA = (
    "セブン-イレブン",
    "ローソン",
    "ファミリーマート",
    "ミニストップ",
    "デイリーヤマザキ",
    "セイコーマート",
)
STORES_KO = ("세븐일레븐", "로손", "패밀리마트", "미니스톱", "데일리 야마자키", "세이코마트")
LINE_ITEMS = [
    {"description": "抹茶ラテ (Matcha latte) 말차 라떼", "amount": 600, "quantity": 3},
    {"description": "どら焼き詰め合わせ", "amount": 2180},
]


def _store_labels(page: Page) -> list[str]:
    labels = page.get_by_test_id("form-konbini").locator("label.choice")
    return [text.strip() for text in labels.all_inner_texts()]


def test_konbini_in_japanese(
    page: Page, server: Server, api: httpx.Client, shop: Shop, artifacts: Path
) -> None:
    session = create_session(
        api,
        amount=3980,
        default_locale="ja",
        line_items=LINE_ITEMS,
        return_url=shop.url("/ja/thanks"),
    )
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(hosted_url(server, session))

    # Every JPY payment type, in Japanese.
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    methods = page.locator("nav.methods")
    for name in ("クレジットカード", "コンビニ", "銀行振込", "ペイジー", "PayPay", "メルペイ"):
        expect(methods).to_contain_text(name)
    form = page.get_by_test_id("form-konbini")
    expect(form.locator("h2")).to_have_text("コンビニ")
    expect(form.locator("legend")).to_have_text("コンビニ")
    assert _store_labels(page) == list(STORES_JA)
    expect(form).to_contain_text("メールアドレス")
    expect(form.locator("button[type=submit]")).to_have_text("￥3,980 を支払う")
    expect(page.get_by_test_id("form-paypay").locator("button")).to_have_text("PayPay で支払う")
    expect(page.get_by_test_id("form-merpay").locator("button")).to_have_text("メルペイ で支払う")
    expect(page.locator("main")).not_to_contain_text("Convenience store")
    page.screenshot(path=str(artifacts / "checkout-types-ja.png"), full_page=True)

    pay_konbini(page, "lawson", email="taro@example.com")

    # The instructions page, in Japanese, with the deadline in Japan time.
    assert page.url.startswith(f"{server.base_url}/instructions/"), page.url
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    payment = get_payment(api, payment_id_of(page.url))
    assert payment["status"] == "authorized" and payment["locale"] == "ja", payment
    expect(page.locator("h1")).to_have_text("コンビニ")
    expect(page.get_by_test_id("amount")).to_have_text("￥3,980")
    expect(page.get_by_test_id("state")).to_have_text(
        "下記の期限までにお支払いください。入金確認後にご注文が確定します。"
    )
    expect(page.locator("dl.facts")).to_contain_text("お支払い期限")
    deadline = in_japan(payment["payment_deadline"])
    expect(page.get_by_test_id("deadline")).to_have_text(
        f"{deadline:%Y/%m/%d} {deadline.hour}:{deadline:%M:%S} JST"
    )
    expect(fact(page, "コンビニ")).to_have_text("ローソン")
    expect(fact(page, "受付番号")).to_have_text(payment["payment_details"]["receipt"])
    expect(page.get_by_test_id("simulate")).to_have_text("支払いをシミュレートする")
    expect(page.get_by_test_id("return")).to_have_text("ショップに戻る")
    page.screenshot(path=str(artifacts / "konbini-instructions-ja.png"), full_page=True)

    simulate_payment(page)
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_test_id("state")).to_have_text(
        "お支払いを確認しました。ありがとうございます。"
    )
    assert get_payment(api, payment["id"])["status"] == "captured"
    page.screenshot(path=str(artifacts / "konbini-paid-ja.png"), full_page=True)

    # The language links on the instructions page stay on it.
    url = page.url.split("?")[0]
    with page.expect_navigation():
        page.get_by_role("link", name="English").click()
    assert page.url == f"{url}?locale=en"
    expect(page.get_by_test_id("state")).to_have_text("Payment received. Thank you.")


def test_konbini_in_korean(
    page: Page, server: Server, api: httpx.Client, shop: Shop, artifacts: Path
) -> None:
    # Japanese by default; the customer switches to Korean before paying.
    session = create_session(
        api,
        amount=3980,
        default_locale="ja",
        line_items=LINE_ITEMS,
        return_url=shop.url("/ko/thanks"),
    )
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(hosted_url(server, session))
    with page.expect_navigation():
        page.get_by_role("link", name="한국어").click()

    expect(page.locator("html")).to_have_attribute("lang", "ko")
    form = page.get_by_test_id("form-konbini")
    expect(form.locator("legend")).to_have_text("편의점")
    assert _store_labels(page) == list(STORES_KO)
    expect(form).to_contain_text("이메일")
    expect(page.get_by_test_id("form-merpay").locator("button")).to_contain_text("메르페이")
    expect(page.locator("main")).not_to_contain_text("ローソン")
    page.screenshot(path=str(artifacts / "checkout-types-ko.png"), full_page=True)

    pay_konbini(page, "ministop", email="kim@example.com")

    # The payment and its instructions keep the customer's language.
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    payment = get_payment(api, payment_id_of(page.url))
    assert payment["locale"] == "ko", payment
    assert payment["payment_details"]["store"] == "ministop"
    expect(page.locator("h1")).to_have_text("편의점 결제")
    expect(page.locator("dl.facts")).to_contain_text("결제 기한")
    deadline = in_japan(payment["payment_deadline"])
    shown = page.get_by_test_id("deadline")
    expect(shown).to_contain_text(f"{deadline.year}. {deadline.month}. {deadline.day}.")
    expect(shown).to_contain_text("JST")
    expect(fact(page, "편의점")).to_have_text("미니스톱")
    expect(fact(page, "접수 번호")).to_have_text(payment["payment_details"]["receipt"])
    expect(page.get_by_test_id("state")).to_have_text(
        "아래 기한까지 결제해 주세요. 입금이 확인되면 주문이 확정됩니다."
    )
    page.screenshot(path=str(artifacts / "konbini-instructions-ko.png"), full_page=True)

    simulate_payment(page)
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_test_id("state")).to_have_text("결제가 확인되었습니다. 감사합니다.")
    with page.expect_navigation():
        page.get_by_test_id("return").click()
    assert parse_query(page.url) == {"session_id": [session["id"]]}
    assert get_session(api, session["id"])["payment"]["status"] == "captured"


@pytest.mark.parametrize(
    ("locale", "payment_type", "name", "capture", "fail"),
    [
        pytest.param(
            "ja",
            "paypay",
            "PayPay",
            "決済を承認する（Capture）",
            "決済を失敗させる（Fail）",
            id="ja",
        ),
        pytest.param(
            "ko", "merpay", "메르페이", "결제 승인 (Capture)", "결제 실패 (Fail)", id="ko"
        ),
    ],
)
def test_offsite_page_in_japanese_and_korean(
    page: Page,
    server: Server,
    api: httpx.Client,
    shop: Shop,
    artifacts: Path,
    locale: str,
    payment_type: str,
    name: str,
    capture: str,
    fail: str,
) -> None:
    session = create_session(
        api, amount=5000, default_locale=locale, return_url=shop.url(f"/{locale}/wallet")
    )
    page.set_viewport_size({"width": 800, "height": 900})
    page.goto(hosted_url(server, session))
    continue_to_wallet(page, payment_type)

    assert page.url.startswith(f"{server.base_url}/offsite/"), page.url
    expect(page.locator("html")).to_have_attribute("lang", locale)
    expect(page.locator("h1")).to_have_text(name)
    expect(page.get_by_test_id("amount")).to_contain_text("5,000")
    expect(page.get_by_test_id("capture")).to_have_text(capture)
    expect(page.get_by_test_id("fail")).to_have_text(fail)
    page.screenshot(path=str(artifacts / f"offsite-{locale}.png"), full_page=True)

    answer_offsite(page, "capture")
    assert page.url.startswith(shop.url(f"/{locale}/wallet?")), page.url
    assert get_session(api, session["id"])["payment"]["status"] == "captured"
