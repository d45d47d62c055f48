"""3-D Secure test cards on the hosted page (API.md section 6)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server
from tests.e2e.pages import (
    GOOD_CARD,
    THREE_DS_CHALLENGE,
    THREE_DS_CHALLENGE_FAILS,
    THREE_DS_FAILS_ON_RETURN,
    THREE_DS_FRICTIONLESS,
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

FAILED_3DS = "3-D Secure authentication failed. Try again or use another card."


def _on_challenge_page(page: Page, server: Server) -> str:
    """Assert the simulated issuer page is showing; return its URL."""
    assert page.url.startswith(f"{server.base_url}/three_d_secure/"), page.url
    expect(page.get_by_test_id("form-3ds")).to_be_visible()
    expect(page.get_by_test_id("form-3ds").locator("[name=password]")).to_be_visible()
    expect(page.locator("body")).to_contain_text("¥1,000")
    return page.url


def test_challenge_with_right_password_completes_and_returns_to_shop(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(api, return_url=shop.url("/thanks?order=7"))
    page.goto(hosted_url(server, session))

    submit_card(page, THREE_DS_CHALLENGE)
    challenge_url = _on_challenge_page(page, server)
    assert get_session(api, session["id"])["status"] == "pending"  # not before the challenge

    submit_password(page, THREE_DS_PASSWORD)

    assert page.url.startswith(shop.url("/thanks?")), page.url
    assert parse_query(page.url) == {"order": ["7"], "session_id": [session["id"]]}
    done = get_session(api, session["id"])
    assert done["status"] == "completed"
    assert done["payment"]["status"] == "captured"
    assert done["payment"]["payment_details"]["last_four_digits"] == "5000"

    # The finished challenge cannot be answered again.
    page.goto(challenge_url)
    expect(page.get_by_test_id("form-3ds")).to_have_count(0)


@pytest.mark.parametrize(
    ("number", "password"),
    [
        pytest.param(THREE_DS_CHALLENGE, "111111", id="wrong-password"),
        pytest.param(THREE_DS_CHALLENGE_FAILS, THREE_DS_PASSWORD, id="challenge-fails"),
        pytest.param(THREE_DS_FAILS_ON_RETURN, THREE_DS_PASSWORD, id="fails-on-return"),
    ],
)
def test_failed_challenge_returns_to_checkout_with_error_and_session_stays_pending(
    page: Page, server: Server, api: httpx.Client, shop: Shop, number: str, password: str
) -> None:
    session = create_session(api, return_url=shop.url("/thanks"))
    page.goto(hosted_url(server, session))

    submit_card(page, number)
    _on_challenge_page(page, server)
    submit_password(page, password)

    assert page.url.startswith(f"{server.base_url}/sessions/{session['id']}"), page.url
    expect(page.get_by_test_id("error")).to_have_text(FAILED_3DS)
    expect(page.get_by_test_id("form-credit_card")).to_be_visible()
    pending = get_session(api, session["id"])
    assert pending["status"] == "pending", pending
    assert pending["completed_at"] is None
    assert not any(r.endswith(session["id"]) for r in shop.requests)

    # The customer can try again with another card.
    submit_card(page, GOOD_CARD)
    assert parse_query(page.url) == {"session_id": [session["id"]]}
    assert get_session(api, session["id"])["status"] == "completed"


def test_frictionless_card_completes_without_a_challenge_page(
    page: Page, server: Server, api: httpx.Client, shop: Shop
) -> None:
    session = create_session(api, return_url=shop.url("/thanks"))
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))
    page.goto(hosted_url(server, session))

    submit_card(page, THREE_DS_FRICTIONLESS)

    assert page.url.startswith(shop.url("/thanks?")), page.url
    assert parse_query(page.url) == {"session_id": [session["id"]]}
    assert not [u for u in visited if "/three_d_secure/" in u], visited
    done = get_session(api, session["id"])
    assert done["status"] == "completed"
    assert done["payment"]["status"] == "captured"
    assert done["payment"]["payment_details"]["last_four_digits"] == "0100"
