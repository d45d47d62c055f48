"""Bank transfer and Pay-easy from the hosted page: instructions, then a simulated payment."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.e2e.pages import (
    Shop,
    create_session,
    fact,
    get_payment,
    get_session,
    hosted_url,
    in_japan,
    parse_query,
    pay_cash,
    payment_id_of,
    simulate_payment,
)

pytestmark = pytest.mark.browser

# What each instructions page shows (label -> payment_details field).
FACTS = {
    "bank_transfer": {
        "Bank": "bank_name",
        "Branch": "account_branch_name",
        "Account number": "account_number",
        "Account name": "account_name",
        "Reference": "order_id",
    },
    "pay_easy": {
        "Collection agency number": "bank_id",
        "Customer number": "customer_id",
        "Confirmation number": "confirmation_id",
    },
}
TITLES = {"bank_transfer": "Bank Transfer", "pay_easy": "Pay-easy"}


@pytest.mark.parametrize("payment_type", ["bank_transfer", "pay_easy"])
def test_cash_type_instructions_then_simulated_payment_captures(
    page: Page,
    server: Server,
    api: httpx.Client,
    shop: Shop,
    artifacts: Path,
    payment_type: str,
) -> None:
    session = create_session(
        api,
        amount=12800,
        payment_types=["credit_card", "konbini", "bank_transfer", "pay_easy", "paypay"],
        return_url=shop.url("/orders/cash?order=11"),
    )
    page.goto(hosted_url(server, session))
    form = page.get_by_test_id(f"form-{payment_type}")
    expect(form.locator("h2")).to_have_text(TITLES[payment_type])
    expect(form.locator("input[name=email]")).to_have_attribute("required", "")
    expect(form.locator("button[type=submit]")).to_have_text("Pay ¥12,800")

    pay_cash(page, payment_type, family_name="山田", given_name="花子", email="hanako@example.com")

    assert page.url.startswith(f"{server.base_url}/instructions/"), page.url
    done = get_session(api, session["id"])
    assert done["status"] == "completed", done
    payment = done["payment"]
    assert payment is not None and payment["id"] == payment_id_of(page.url), done
    assert payment["status"] == "authorized", payment
    assert payment["payment_deadline"], payment
    details = payment["payment_details"]
    assert details["type"] == payment_type, details
    assert details["email"] == "hanako@example.com"
    assert details["instructions_url"] == page.url.split("?")[0]

    expect(page.locator("h1")).to_have_text(TITLES[payment_type])
    expect(page.get_by_test_id("amount")).to_have_text("¥12,800")
    expect(page.get_by_test_id("state")).to_contain_text("Please pay by the deadline below.")
    for label, key in FACTS[payment_type].items():
        assert details.get(key), (key, details)
        expect(fact(page, label)).to_contain_text(str(details[key]))
    deadline = in_japan(payment["payment_deadline"])
    expect(page.get_by_test_id("deadline")).to_contain_text(
        re.compile(rf"{deadline:%b} {deadline.day}, {deadline.year}.*JST")
    )
    page.screenshot(path=str(artifacts / f"instructions-{payment_type}-en.png"), full_page=True)

    simulate_payment(page)

    expect(page.get_by_test_id("state")).to_have_text("Payment received. Thank you.")
    expect(page.get_by_test_id("simulate")).to_have_count(0)
    captured = get_payment(api, payment["id"])
    assert captured["status"] == "captured", captured
    assert captured["captured_at"]

    with page.expect_navigation():
        page.get_by_test_id("return").click()
    assert parse_query(page.url) == {"order": ["11"], "session_id": [session["id"]]}
