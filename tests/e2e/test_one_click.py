"""One-click in a real browser: a card kept with the customer's consent is offered on the
merchant's later sessions for the same `external_customer_id`, and pays in one click."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.e2e.pages import (
    EXPIRY_YEAR,
    GOOD_CARD,
    Shop,
    create_session,
    get_session,
    hosted_url,
    parse_query,
    submit_card,
    submit_form,
)

pytestmark = pytest.mark.browser

CONSENT = "Save this card for next time"
SAVED = f"VISA •••• 1111 12/{int(EXPIRY_YEAR) % 100:02d}"


def _session(api: httpx.Client, shop: Shop, external_id: str, **params: Any) -> dict[str, Any]:
    return create_session(
        api, external_customer_id=external_id, return_url=shop.url("/thanks"), **params
    )


def _pay_keeping(page: Page, server: Server, session: dict[str, Any], keep: bool) -> None:
    page.goto(hosted_url(server, session))
    consent = page.get_by_test_id("form-credit_card").get_by_label(CONSENT)
    expect(consent).not_to_be_checked()  # never kept without being asked
    if keep:
        consent.check()
    submit_card(page, GOOD_CARD)
    assert parse_query(page.url) == {"session_id": [session["id"]]}, page.url


def _completed(api: httpx.Client, session: dict[str, Any]) -> dict[str, Any]:
    done = get_session(api, session["id"])
    assert done["status"] == "completed", done
    payment: dict[str, Any] = done["payment"]
    assert payment["status"] == "captured", payment
    return payment


def test_kept_card_pays_the_next_session_in_one_click(
    page: Page, server: Server, api: httpx.Client, shop: Shop, artifacts: Path
) -> None:
    external_id = f"member-{uuid.uuid4().hex[:10]}"
    first = _session(api, shop, external_id)
    _pay_keeping(page, server, first, keep=True)
    _completed(api, first)

    second = _session(api, shop, external_id, amount=3200)
    page.goto(hosted_url(server, second))
    saved = page.get_by_test_id("form-saved-card")
    expect(saved).to_be_visible()
    expect(saved.locator("input[name=saved_card]")).to_have_count(1)
    expect(saved.locator("input[name=saved_card]")).to_be_checked()
    expect(saved).to_contain_text(SAVED)
    expect(saved.locator("button[type=submit]")).to_have_text("Pay ¥3,200")
    # The saved cards come first; a new card can still be entered below them.
    forms = [f.get_attribute("data-testid") for f in page.locator("form").all()]
    assert forms.index("form-saved-card") < forms.index("form-credit_card"), forms
    expect(page.get_by_test_id("form-credit_card").locator("h2")).to_have_text(
        "Or pay with another card"
    )
    page.screenshot(path=str(artifacts / "one-click-en.png"), full_page=True)

    submit_form(page, "form-saved-card")  # the one click

    assert page.url.startswith(shop.url("/thanks?")), page.url
    assert parse_query(page.url) == {"session_id": [second["id"]]}
    payment = _completed(api, second)
    assert payment["amount"] == 3200
    assert payment["payment_details"]["last_four_digits"] == "1111", payment


def test_without_consent_nothing_is_kept_and_other_ids_see_nothing(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    external_id = f"member-{uuid.uuid4().hex[:10]}"
    first = _session(api, shop, external_id)
    _pay_keeping(page, server, first, keep=False)
    _completed(api, first)
    page.goto(hosted_url(server, _session(api, shop, external_id)))
    expect(page.get_by_test_id("form-credit_card")).to_be_visible()
    expect(page.get_by_test_id("form-saved-card")).to_have_count(0)

    _pay_keeping(page, server, _session(api, shop, external_id), keep=True)
    page.goto(hosted_url(server, _session(api, shop, f"{external_id}-other")))
    expect(page.get_by_test_id("form-credit_card")).to_be_visible()
    expect(page.get_by_test_id("form-saved-card")).to_have_count(0)
    page.goto(hosted_url(server, _session(api, shop, external_id)))
    expect(page.get_by_test_id("form-saved-card")).to_contain_text(SAVED)


def test_after_delete_the_card_is_gone(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    external_id = f"member-{uuid.uuid4().hex[:10]}"
    _pay_keeping(page, server, _session(api, shop, external_id), keep=True)
    page.goto(hosted_url(server, _session(api, shop, external_id)))
    expect(page.get_by_test_id("form-saved-card")).to_be_visible()

    response = api.delete(f"/external_customers/{external_id}")
    assert response.status_code == 200, response.text
    assert response.json() == {"id": external_id}

    page.goto(hosted_url(server, _session(api, shop, external_id)))
    expect(page.get_by_test_id("form-credit_card")).to_be_visible()
    expect(page.get_by_test_id("form-saved-card")).to_have_count(0)


def test_one_click_works_without_javascript_and_in_japanese(
    new_context: Any, server: Server, api: httpx.Client, shop: Shop
) -> None:
    page = new_context(java_script_enabled=False).new_page()
    external_id = f"member-{uuid.uuid4().hex[:10]}"
    first = _session(api, shop, external_id, default_locale="ja")
    page.goto(hosted_url(server, first))
    form = page.get_by_test_id("form-credit_card")
    consent = form.get_by_label("このカードを次回のために保存する")
    expect(consent).not_to_be_checked()
    consent.check()
    submit_card(page, GOOD_CARD)
    _completed(api, first)

    second = _session(api, shop, external_id, default_locale="ja")
    page.goto(hosted_url(server, second))
    expect(page.get_by_test_id("form-saved-card").locator("h2")).to_have_text("保存済みのカード")
    submit_form(page, "form-saved-card")
    assert parse_query(page.url) == {"session_id": [second["id"]]}, page.url
    _completed(api, second)
