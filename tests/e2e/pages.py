"""Helpers shared by the browser tests: test cards, API shortcuts, form filling."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import Locator, Page

if TYPE_CHECKING:
    from tests.conftest import Server

# Test cards (API.md section 6).
GOOD_CARD = "4111111111111111"
DECLINED_CARD = "4123111111111059"
THREE_DS_CHALLENGE = "4100000000005000"
THREE_DS_CHALLENGE_FAILS = "4100000000300005"
THREE_DS_FAILS_ON_RETURN = "4100000000500000"
THREE_DS_FRICTIONLESS = "4100000000000100"
THREE_DS_PASSWORD = "123456"
EXPIRY_YEAR = str(date.today().year + 5)


@dataclass
class Shop:
    """A merchant's site: answers 200 to every GET and remembers what it was asked for."""

    base_url: str
    requests: list[str] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return f"{self.base_url}{path}"

    @property
    def netloc(self) -> str:
        return urlsplit(self.base_url).netloc


def create_session(api: httpx.Client, **params: Any) -> dict[str, Any]:
    body = {"amount": 1000, "currency": "JPY", "default_locale": "en", **params}
    response = api.post("/sessions", json=body)
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


def get_session(api: httpx.Client, session_id: str) -> dict[str, Any]:
    response = api.get(f"/sessions/{session_id}")
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


def hosted_url(server: Server, session: dict[str, Any]) -> str:
    """The page the customer is sent to; it must be the server's own `/sessions/{id}`."""
    url = session["session_url"]
    assert url == f"{server.base_url}/sessions/{session['id']}", url
    return str(url)


def fill_card(
    page: Page,
    number: str,
    *,
    name: str = "Taro Yamada",
    email: str | None = "taro@example.com",
    cvc: str = "123",
) -> None:
    form = page.get_by_test_id("form-credit_card")
    form.locator("[name=name]").fill(name)
    form.locator("[name=number]").fill(number)
    form.locator("select[name=month]").select_option("12")
    form.locator("select[name=year]").select_option(EXPIRY_YEAR)
    form.locator("[name=verification_value]").fill(cvc)
    if email is not None and form.locator("[name=email]").count():
        form.locator("[name=email]").fill(email)


def submit_card(page: Page, number: str, **kwargs: Any) -> None:
    """Fill the card form and submit it, waiting for the resulting page to load."""
    fill_card(page, number, **kwargs)
    with page.expect_navigation(wait_until="load"):
        page.get_by_test_id("form-credit_card").locator("button[type=submit]").click()


def parse_query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def submit_password(page: Page, password: str) -> None:
    form = page.get_by_test_id("form-3ds")
    form.locator("[name=password]").fill(password)
    with page.expect_navigation(wait_until="load"):
        form.locator("button[type=submit]").click()


# --- cash types and offsite wallets (API.md section 6) --------------------------------

KONBINI_STORES = (
    "seven-eleven",
    "lawson",
    "family-mart",
    "ministop",
    "daily-yamazaki",
    "seicomart",
)
WALLETS = ("paypay", "linepay", "merpay", "rakutenpay", "aupay", "alipay", "wechatpay", "paidy")


def get_payment(api: httpx.Client, payment_id: str) -> dict[str, Any]:
    response = api.get(f"/payments/{payment_id}")
    assert response.status_code == 200, response.text
    payment: dict[str, Any] = response.json()
    return payment


def submit_form(page: Page, test_id: str, button: str = "button[type=submit]") -> None:
    """Click a form's submit button, waiting for the resulting page to load."""
    with page.expect_navigation(wait_until="load"):
        page.get_by_test_id(test_id).locator(button).click()


def pay_konbini(
    page: Page, store: str = "lawson", *, email: str | None = "taro@example.com"
) -> None:
    """Choose a store (and give an email when the page asks for one), then pay."""
    form = page.get_by_test_id("form-konbini")
    form.locator(f"input[name=store][value='{store}']").check()
    if email is not None and form.locator("[name=email]").count():
        form.locator("[name=email]").fill(email)
    submit_form(page, "form-konbini")


def pay_cash(
    page: Page,
    payment_type: str,
    *,
    family_name: str = "Yamada",
    given_name: str = "Taro",
    email: str | None = "taro@example.com",
) -> None:
    """Pay with bank_transfer or pay_easy from the checkout page."""
    form = page.get_by_test_id(f"form-{payment_type}")
    form.locator("[name=family_name]").fill(family_name)
    form.locator("[name=given_name]").fill(given_name)
    if email is not None and form.locator("[name=email]").count():
        form.locator("[name=email]").fill(email)
    submit_form(page, f"form-{payment_type}")


def continue_to_wallet(page: Page, payment_type: str) -> None:
    """Click the wallet's "Continue to ..." button; lands on the offsite test page."""
    submit_form(page, f"form-{payment_type}")


def answer_offsite(page: Page, action: str) -> None:
    """On the offsite wallet test page: "capture" or "fail"."""
    with page.expect_navigation(wait_until="load"):
        page.get_by_test_id(action).click()


def simulate_payment(page: Page) -> None:
    """On a cash-type instructions page (test mode): play the customer paying."""
    with page.expect_navigation(wait_until="load"):
        page.get_by_test_id("simulate").click()


def fact(page: Page, label: str) -> Locator:
    """The value next to `label` in the instructions page's list of facts."""
    return page.locator(
        f"xpath=//dl[contains(@class, 'facts')]/dt[normalize-space()='{label}']"
        "/following-sibling::dd[1]"
    )


def payment_id_of(url: str) -> str:
    """The payment id in an /offsite/{id} or /instructions/{id} page's URL."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def in_japan(timestamp: str) -> datetime:
    """An API timestamp in Japan time, as cash-payment deadlines are shown on the pages."""
    return datetime.fromisoformat(timestamp).astimezone(ZoneInfo("Asia/Tokyo"))
