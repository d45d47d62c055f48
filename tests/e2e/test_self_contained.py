"""The hosted page loads nothing from other hosts and works without JavaScript."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from tests.conftest import Server
from tests.e2e.pages import (
    GOOD_CARD,
    THREE_DS_CHALLENGE,
    THREE_DS_PASSWORD,
    Shop,
    create_session,
    get_session,
    hosted_url,
    parse_query,
    submit_card,
    submit_password,
)

pytestmark = pytest.mark.browser


def test_every_request_goes_to_the_kessai_server(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    # The line item image points at the shop: the page must not fetch it (or anything else
    # off-host), so the shop's log would show it if it did.
    image = shop.url("/images/tea.png")
    session = create_session(
        api,
        return_url=shop.url("/done"),
        line_items=[{"description": "Tea", "amount": 1000, "image": image}],
    )
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))

    page.goto(hosted_url(server, session))
    with page.expect_navigation():
        page.get_by_role("link", name="日本語").click()
    submit_card(page, THREE_DS_CHALLENGE)
    expect(page.get_by_test_id("form-3ds")).to_be_visible()
    submit_password(page, THREE_DS_PASSWORD)
    assert page.url.startswith(shop.url("/done?")), page.url

    kessai = urlsplit(server.base_url).netloc
    seen = [(r.method, r.resource_type, r.url) for r in requests]
    assert any(urlsplit(u).path == "/static/checkout.css" for _, _, u in seen), seen
    assert any("/three_d_secure/" in u for _, _, u in seen), seen
    off_host = [
        (method, kind, url)
        for method, kind, url in seen
        if urlsplit(url).netloc != kessai
        # The one allowed exception: the final navigation back to the merchant.
        and not (kind == "document" and url.startswith(shop.url("/done?")))
    ]
    assert off_host == [], off_host
    assert not [p for p in shop.requests if p.startswith("/images/")], shop.requests


@pytest.mark.parametrize(
    ("number", "password"),
    [
        pytest.param(GOOD_CARD, None, id="card"),
        pytest.param(THREE_DS_CHALLENGE, THREE_DS_PASSWORD, id="3ds-challenge"),
    ],
)
def test_pays_with_javascript_disabled(
    new_context: Any,
    server: Server,
    api: httpx.Client,
    shop: Shop,
    number: str,
    password: str | None,
) -> None:
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    session = create_session(api, return_url=shop.url("/nojs?order=1"))

    page.goto(hosted_url(server, session))
    submit_card(page, number)
    if password is not None:
        expect(page.get_by_test_id("form-3ds")).to_be_visible()
        submit_password(page, password)

    assert page.url.startswith(shop.url("/nojs?")), page.url
    assert parse_query(page.url) == {"order": ["1"], "session_id": [session["id"]]}
    done = get_session(api, session["id"])
    assert done["status"] == "completed"
    assert done["payment"]["status"] == "captured"
