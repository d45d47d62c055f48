"""One-click (API.md section 7): cards kept on the hosted page per external customer id,
offered again on that merchant's later sessions, and `DELETE /external_customers/{id}`.

The hosted page is driven here as a plain HTTP client (forms and the CSRF cookie); the
browser flow is in tests/e2e/test_one_click.py.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.api.helpers import (
    answer_3ds,
    assert_no_card_secrets,
    card,
    create_session,
    csrf_of,
    pay_ok,
)
from tests.conftest import CARD, Merchant, Server, assert_error, assert_schema

SAVED_RE = re.compile(r'name="saved_card" value="([a-z0-9]{25})"')
DECLINED = "4123111111111059"
THREE_DS = "4100000000005000"
CONSENT = 'name="keep_card"'


@pytest.fixture
def browser(server: Server) -> Iterator[httpx.Client]:
    """A customer's browser on the hosted page (keeps the CSRF cookie)."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


def _external_id() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


def _session(api: httpx.Client, external_id: str | None, **params: Any) -> dict[str, Any]:
    extra = {"external_customer_id": external_id} if external_id is not None else {}
    return create_session(
        api, default_locale="en", return_url="https://shop.example/done", **extra, **params
    )


def _page(browser: httpx.Client, session: dict[str, Any]) -> httpx.Response:
    page = browser.get(f"/sessions/{session['id']}")
    assert page.status_code == 200, page.text[:500]
    return page


def _saved(browser: httpx.Client, session: dict[str, Any]) -> list[str]:
    """The kept cards the session's page offers (their ids, as the radio inputs carry)."""
    return SAVED_RE.findall(_page(browser, session).text)


def _pay_card(
    browser: httpx.Client,
    session: dict[str, Any],
    number: str = str(CARD["number"]),
    *,
    keep: bool,
    month: int = 12,
) -> httpx.Response:
    page = _page(browser, session)
    form = {
        "csrf": csrf_of(page.text),
        "locale": "en",
        "payment_type": "credit_card",
        "number": number,
        "month": str(month),
        "year": str(CARD["year"]),
        "verification_value": "123",
        "name": "Hanako Sato",
        **({"keep_card": "yes"} if keep else {}),
    }
    return browser.post(f"/sessions/{session['id']}/pay", data=form)


def _pay_saved(browser: httpx.Client, session: dict[str, Any], card_id: str) -> httpx.Response:
    page = _page(browser, session)
    form = {
        "csrf": csrf_of(page.text),
        "locale": "en",
        "payment_type": "credit_card",
        "saved_card": card_id,
    }
    return browser.post(f"/sessions/{session['id']}/pay", data=form)


def _completed(api: httpx.Client, session: dict[str, Any]) -> dict[str, Any]:
    found = api.get(f"/sessions/{session['id']}").json()
    assert found["status"] == "completed", found
    payment: dict[str, Any] = found["payment"]
    assert payment["status"] == "captured", payment
    return payment


def _keep(api: httpx.Client, browser: httpx.Client, external_id: str, **kw: Any) -> None:
    session = _session(api, external_id)
    resp = _pay_card(browser, session, keep=True, **kw)
    assert resp.status_code == 303, resp.text[:500]
    _completed(api, session)


def test_kept_card_is_offered_and_pays_in_one_click(
    api: httpx.Client, browser: httpx.Client
) -> None:
    external_id = _external_id()
    first = _session(api, external_id)
    page = _page(browser, first).text
    assert CONSENT in page and 'name="keep_card" value="yes" checked' not in page
    assert SAVED_RE.findall(page) == []
    resp = _pay_card(browser, first, keep=True)
    assert resp.status_code == 303, resp.text[:500]
    assert resp.headers["location"].startswith("https://shop.example/done?session_id=")
    _completed(api, first)

    second = _session(api, external_id, amount=2500)
    page = _page(browser, second).text
    [card_id] = SAVED_RE.findall(page)
    assert "•••• 1111" in page and f"12/{int(CARD['year']) % 100:02d}" in page
    assert "4111111111111111" not in page
    resp = _pay_saved(browser, second, card_id)
    assert resp.status_code == 303, resp.text[:500]
    payment = _completed(api, second)
    assert payment["amount"] == 2500
    details = payment["payment_details"]
    assert details["last_four_digits"] == "1111" and details["brand"] == "visa", details
    assert details["name"] == "Hanako Sato", details
    assert_no_card_secrets(payment, "4111111111111111", "123")


def test_without_consent_nothing_is_kept(api: httpx.Client, browser: httpx.Client) -> None:
    external_id = _external_id()
    session = _session(api, external_id)
    assert _pay_card(browser, session, keep=False).status_code == 303
    _completed(api, session)
    assert _saved(browser, _session(api, external_id)) == []
    assert_error(api.delete(f"/external_customers/{external_id}"), 404, "not_found")


def test_a_declined_payment_keeps_nothing(api: httpx.Client, browser: httpx.Client) -> None:
    external_id = _external_id()
    session = _session(api, external_id)
    resp = _pay_card(browser, session, DECLINED, keep=True)
    assert resp.status_code == 402, resp.text[:500]
    assert 'name="keep_card" value="yes" checked' in resp.text  # the choice is kept
    assert _saved(browser, _session(api, external_id)) == []
    # The same session then pays with a good card and keeps that one.
    assert _pay_card(browser, session, keep=True).status_code == 303
    assert len(_saved(browser, _session(api, external_id))) == 1


def test_a_card_is_kept_only_once_3ds_succeeds(api: httpx.Client, browser: httpx.Client) -> None:
    external_id = _external_id()
    session = _session(api, external_id)
    resp = _pay_card(browser, session, THREE_DS, keep=True)
    assert resp.status_code == 303, resp.text[:500]
    challenge = resp.headers["location"]
    assert "/three_d_secure/" in challenge, challenge
    assert _saved(browser, _session(api, external_id)) == []  # pending: nothing yet
    answered = answer_3ds(challenge, "123456", locale="en")
    assert answered.status_code == 303, answered.text[:500]
    _completed(api, session)
    assert len(_saved(browser, _session(api, external_id))) == 1


def test_the_same_card_is_kept_once(api: httpx.Client, browser: httpx.Client) -> None:
    external_id = _external_id()
    _keep(api, browser, external_id)
    _keep(api, browser, external_id, month=11)  # same number, another expiry: refreshed
    _keep(api, browser, external_id)
    session = _session(api, external_id)
    page = _page(browser, session).text
    assert len(SAVED_RE.findall(page)) == 1
    assert f"12/{int(CARD['year']) % 100:02d}" in page
    other = _external_id()
    _keep(api, browser, other)
    session = _session(api, other)
    first = _pay_card(browser, session, "5555555555554444", keep=True)
    assert first.status_code == 303
    page = _page(browser, _session(api, other)).text
    assert len(SAVED_RE.findall(page)) == 2
    assert "Mastercard •••• 4444" in page and "VISA •••• 1111" in page


def test_cards_stay_with_their_merchant_mode_and_external_id(
    api: httpx.Client, browser: httpx.Client, server: Server, merchant: Merchant
) -> None:
    external_id = _external_id()
    _keep(api, browser, external_id)
    [card_id] = _saved(browser, _session(api, external_id))

    other_id = _session(api, _external_id())
    assert _saved(browser, other_id) == []
    no_id = _session(api, None)
    assert _saved(browser, no_id) == [] and CONSENT not in _page(browser, no_id).text
    # A forged choice of someone else's card is refused, and nothing is charged.
    forged = _pay_saved(browser, other_id, card_id)
    assert forged.status_code == 422, forged.text[:500]
    assert "This saved card can no longer be used." in forged.text
    assert api.get(f"/sessions/{other_id['id']}").json()["status"] == "pending"
    assert _pay_saved(browser, no_id, card_id).status_code == 422

    with server.merchant("Other Shop").client() as other_api:
        theirs = _session(other_api, external_id)
        assert _saved(browser, theirs) == []
        assert _pay_saved(browser, theirs, card_id).status_code == 422
        assert_error(other_api.delete(f"/external_customers/{external_id}"), 404, "not_found")
    assert merchant.live_secret_key
    with merchant.client(merchant.live_secret_key) as live_api:
        assert_error(live_api.delete(f"/external_customers/{external_id}"), 404, "not_found")
    assert len(_saved(browser, _session(api, external_id))) == 1  # all of that left it


def test_customer_payment_mode_offers_one_click_and_customer_mode_does_not(
    api: httpx.Client, browser: httpx.Client
) -> None:
    external_id = _external_id()
    both = _session(api, external_id, mode="customer_payment")
    assert _pay_card(browser, both, keep=True).status_code == 303
    customer = api.get(f"/customers/{both['customer_id']}").json()
    assert customer["source"]["last_four_digits"] == "1111", customer
    again = _session(api, external_id, mode="customer_payment")
    [card_id] = _saved(browser, again)
    assert _pay_saved(browser, again, card_id).status_code == 303
    _completed(api, again)

    saving = api.post(
        "/sessions",
        json={"mode": "customer", "currency": "JPY", "external_customer_id": external_id},
    ).json()
    page = _page(browser, saving).text
    assert CONSENT not in page and SAVED_RE.findall(page) == []
    konbini_only = _session(api, external_id, payment_types=["konbini"])
    page = _page(browser, konbini_only).text
    assert CONSENT not in page and SAVED_RE.findall(page) == []


def test_the_api_pay_keeps_nothing(api: httpx.Client, browser: httpx.Client) -> None:
    """Consent is given on the hosted page only: /pay has no such parameter."""
    external_id = _external_id()
    session = _session(api, external_id)
    pay_ok(api, session["id"], card("4111111111111111"), keep_card="yes")
    assert _saved(browser, _session(api, external_id)) == []


def test_delete_forgets_every_card_and_answers_the_id(
    api: httpx.Client, browser: httpx.Client
) -> None:
    external_id = _external_id()
    _keep(api, browser, external_id)
    session = _session(api, external_id)
    _pay_card(browser, session, "5555555555554444", keep=True)
    pending = _session(api, external_id)
    [first, _] = _saved(browser, pending)

    resp = api.delete(f"/external_customers/{external_id}")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"id": external_id}
    assert_schema(resp.json(), "DeleteExternalCustomer200Response")
    assert _saved(browser, _session(api, external_id)) == []
    # A page opened before the DELETE can no longer pay with what it showed.
    assert _pay_saved(browser, pending, first).status_code == 422
    assert_error(api.delete(f"/external_customers/{external_id}"), 404, "not_found")


@pytest.mark.parametrize(
    "external_id", ["ユーザー 42", "a+b&c=d?e#f", "x" * 255, "tab\there", "100%", "shop/user/7"]
)
def test_delete_takes_any_external_id_text(
    api: httpx.Client, browser: httpx.Client, external_id: str
) -> None:
    _keep(api, browser, external_id)
    resp = api.delete(f"/external_customers/{quote(external_id, safe='')}")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"id": external_id}
    assert _saved(browser, _session(api, external_id)) == []


@pytest.mark.parametrize("bad", ["x" * 256, "nul%00here", "%E2%80%AE" + "x" * 300])
def test_delete_of_an_id_no_session_could_have_is_404(api: httpx.Client, bad: str) -> None:
    assert_error(api.delete(f"/external_customers/{bad}"), 404, "not_found")


def test_delete_needs_the_secret_key(api: httpx.Client, public_api: httpx.Client) -> None:
    assert_error(public_api.delete(f"/external_customers/{_external_id()}"), 403, "forbidden")


def test_delete_is_idempotent_with_a_key(api: httpx.Client, browser: httpx.Client) -> None:
    external_id = _external_id()
    _keep(api, browser, external_id)
    headers = {"X-KOMOJU-IDEMPOTENCY": f"forget-{external_id}"}
    first = api.delete(f"/external_customers/{external_id}", headers=headers)
    again = api.delete(f"/external_customers/{external_id}", headers=headers)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert first.content == again.content
