"""The payment page's actions over HTTP against a real server: each does what the API
does (the API is asked afterwards), a refused one shows the page again with the problem
(422), amounts typed by people are read exactly, and a form without this sign-in's CSRF
token changes nothing."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import closing
from html import unescape
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from kessai.services import timeline
from tests.api.helpers import authorized_payment, cash_details, create_payment, get_payment
from tests.conftest import Merchant, Server
from tests.dashboard.helpers import csrf_of, sign_in
from tests.dashboard.payment_helpers import entries, nonce_of, notice_of, problem_of


@pytest.fixture(scope="module")
def shop(server: Server) -> Merchant:
    return server.merchant("Payment Actions Shop")


@pytest.fixture
def api(shop: Merchant) -> Iterator[httpx.Client]:
    with shop.client() as client:
        yield client


@pytest.fixture(scope="module")
def dash(shop: Merchant) -> Iterator[httpx.Client]:
    with closing(sign_in(shop, headers={"Accept-Language": "en"})) as client:
        yield client


def act(dash: httpx.Client, payment_id: str, action: str, **fields: Any) -> httpx.Response:
    """Press one of the payment page's buttons (with the page's CSRF token and the form's
    nonce)."""
    page = dash.get(f"/dashboard/payments/{payment_id}")
    assert page.status_code == 200, page.text[:2000]
    assert f'action="/dashboard/payments/{payment_id}/{action}"' in page.text, action
    data = {"csrf": csrf_of(page.text), "nonce": nonce_of(page.text, action), **fields}
    return dash.post(f"/dashboard/payments/{payment_id}/{action}", data=data)


def fresh() -> str:
    """A nonce no page rendered (a stale form's, or a hand-made post's)."""
    return secrets.token_hex(16)


def done(dash: httpx.Client, resp: httpx.Response, payment_id: str, notice: str) -> str:
    """A done action: 303 to the payment's page, which shows the notice. Its HTML."""
    assert resp.status_code == 303, (resp.status_code, resp.text[:3000])
    assert resp.headers["location"].startswith(f"/dashboard/payments/{payment_id}?notice=")
    page = dash.get(resp.headers["location"])
    assert page.status_code == 200
    assert notice_of(page.text) == notice, notice_of(page.text)
    return page.text


def test_capture_part_of_an_authorization(dash: httpx.Client, api: httpx.Client) -> None:
    payment = authorized_payment(api, amount=1000)
    html = done(dash, act(dash, payment["id"], "capture", amount="600"), payment["id"],
                "The payment was captured.")  # fmt: skip
    after = get_payment(api, payment["id"])
    assert after["status"] == "captured" and after["amount"] == 600
    assert 'data-testid="captured">¥600<' in unescape(html)
    assert 'data-testid="capture-form"' not in html and 'data-testid="refund-form"' in html


def test_capture_without_an_amount_takes_it_all(dash: httpx.Client, api: httpx.Client) -> None:
    payment = authorized_payment(api, amount=1200)
    done(dash, act(dash, payment["id"], "capture", amount=""), payment["id"],
         "The payment was captured.")  # fmt: skip
    assert get_payment(api, payment["id"])["amount"] == 1200


def test_partial_refund_and_the_api_agrees(dash: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api, amount=1000)
    resp = act(dash, payment["id"], "refund", amount="300", description="One item returned")
    html = done(dash, resp, payment["id"], "The refund was made.")
    after = get_payment(api, payment["id"])
    assert after["status"] == "captured" and after["amount_refunded"] == 300
    assert [(r["amount"], r["description"]) for r in after["refunds"]] == [
        (300, "One item returned")
    ]
    assert 'data-testid="refunded">¥300<' in unescape(html)
    refunds = [text for kind, text in entries(html) if kind == "refund"]
    assert refunds == [refunds[0]] and "¥300" in refunds[0] and "One item returned" in refunds[0]
    assert 'value="700"' in html  # what is left, offered for the next refund


def test_refund_in_a_currency_with_decimals(dash: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api, amount=2000, currency="USD")
    done(dash, act(dash, payment["id"], "refund", amount="10.50"), payment["id"],
         "The refund was made.")  # fmt: skip
    assert get_payment(api, payment["id"])["amount_refunded"] == 1050
    refused = act(dash, payment["id"], "refund", amount="1.005")
    assert refused.status_code == 422
    assert "Amount to refund can have at most 2 digits" in problem_of(refused.text)
    assert get_payment(api, payment["id"])["amount_refunded"] == 1050


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("-5", "Amount to refund must be more than zero."),
        ("0", "Amount to refund must be more than zero."),
        ("abc", "Amount to refund must be a number"),
        ("1e3", "Amount to refund must be a number"),
        ("10.5", "Amount to refund must be a whole number in JPY"),
        ("", "Enter Amount to refund."),
        ("100000000000000000", "Amount to refund is too large."),
        ("1001", "The refund amount must be between 1 and what is left to refund (1000)."),
    ],
)
def test_bad_refund_amounts_are_422_naming_the_field(
    dash: httpx.Client, api: httpx.Client, typed: str, says: str
) -> None:
    payment = create_payment(api, amount=1000)
    resp = act(dash, payment["id"], "refund", amount=typed)
    assert resp.status_code == 422, resp.text[:2000]
    problem = problem_of(resp.text)
    assert problem.startswith("The payment was not changed:") and says in problem, problem
    assert f'value="{typed}"' in resp.text and 'aria-invalid="true"' in resp.text
    assert get_payment(api, payment["id"])["amount_refunded"] == 0


def test_full_width_digits_and_commas_are_read(dash: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api, amount=3000)
    done(dash, act(dash, payment["id"], "refund", amount="１,２００"), payment["id"],
         "The refund was made.")  # fmt: skip
    assert get_payment(api, payment["id"])["amount_refunded"] == 1200


def test_refused_capture_amount_is_422(dash: httpx.Client, api: httpx.Client) -> None:
    payment = authorized_payment(api, amount=1000)
    resp = act(dash, payment["id"], "capture", amount="1500")
    assert resp.status_code == 422
    assert "between 1 and the authorized amount (1000)" in problem_of(resp.text)
    assert get_payment(api, payment["id"])["status"] == "authorized"


def test_problem_in_japanese(shop: Merchant, api: httpx.Client) -> None:
    payment = create_payment(api, amount=1000)
    with closing(sign_in(shop)) as client:
        resp = act(client, payment["id"], "refund", amount="0")
    assert resp.status_code == 422
    assert (
        problem_of(resp.text)
        == "決済は変更されていません：返金する金額は0より大きい金額にしてください。"
    )


def test_cancel(dash: httpx.Client, api: httpx.Client) -> None:
    payment = authorized_payment(api)
    html = done(dash, act(dash, payment["id"], "cancel"), payment["id"],
                "The payment was cancelled.")  # fmt: skip
    assert get_payment(api, payment["id"])["status"] == "cancelled"
    assert 'data-testid="actions"' not in html


def test_an_action_its_state_refuses_is_422(dash: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api)  # captured: no cancel button, but a form may be stale
    page = dash.get(f"/dashboard/payments/{payment['id']}")
    assert 'data-testid="cancel-form"' not in page.text
    resp = dash.post(
        f"/dashboard/payments/{payment['id']}/cancel",
        data={"csrf": csrf_of(page.text), "nonce": fresh()},
    )
    assert resp.status_code == 422
    assert "Only a pending or authorized payment can be cancelled" in problem_of(resp.text)
    assert get_payment(api, payment["id"])["status"] == "captured"


def test_simulate_a_konbini_payment(dash: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api, payment_details=cash_details("konbini"))
    assert payment["status"] == "authorized"
    html = done(dash, act(dash, payment["id"], "simulate"), payment["id"],
                "The customer's payment was recorded: the payment is captured.")  # fmt: skip
    assert get_payment(api, payment["id"])["status"] == "captured"
    assert any("payment.captured" in t for k, t in entries(html) if k == "event")
    assert 'data-testid="simulate-form"' not in html and 'data-testid="refund-form"' not in html


def test_open_a_chargeback(dash: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api, amount=1500)
    resp = act(dash, payment["id"], "chargeback", outcome="lost", reason_code="CB_NotReceived")
    html = done(dash, resp, payment["id"], "A chargeback was opened on the payment.")
    found = api.get("/chargeback_requests", params={"payment_id": payment["id"]}).json()["data"]
    assert len(found) == 1 and found[0]["status"] == "pending", found
    timeline = entries(html)
    assert any(k == "chargeback" and "Chargeback opened" in t for k, t in timeline), timeline
    assert any(k == "event" and "chargeback.created" in t for k, t in timeline), timeline
    assert any(k == "ledger" and "Ledger: chargeback" in t and "-¥1,500" in t for k, t in timeline)
    assert "The cardholder says the goods or services were not received." in unescape(html)
    assert 'data-testid="chargeback-form"' not in html and 'data-testid="refund-form"' not in html
    again = dash.post(f"/dashboard/payments/{payment['id']}/chargeback",
                      data={"csrf": csrf_of(html), "nonce": fresh(), "outcome": "won"})  # fmt: skip
    assert again.status_code == 422 and "already disputed" in problem_of(again.text)


def test_chargeback_with_a_bad_outcome_names_it(dash: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api)
    resp = act(dash, payment["id"], "chargeback", outcome="maybe")
    assert resp.status_code == 422 and "outcome" in problem_of(resp.text)
    assert (
        api.get("/chargeback_requests", params={"payment_id": payment["id"]}).json()["data"] == []
    )


@pytest.mark.parametrize("token", [None, "", "0" * 64, "not-a-token"])
def test_a_post_without_this_sign_ins_csrf_token_is_403(
    dash: httpx.Client, api: httpx.Client, token: str | None
) -> None:
    payment = create_payment(api, amount=1000)
    for action, fields in (("refund", {"amount": "100"}), ("chargeback", {"outcome": "won"})):
        data = {**fields, **({} if token is None else {"csrf": token})}
        resp = dash.post(f"/dashboard/payments/{payment['id']}/{action}", data=data)
        assert resp.status_code == 403, (action, resp.status_code, resp.text[:500])
    after = get_payment(api, payment["id"])
    assert after["amount_refunded"] == 0 and after["status"] == "captured"
    assert (
        api.get("/chargeback_requests", params={"payment_id": payment["id"]}).json()["data"] == []
    )


def test_another_sign_ins_token_is_refused(
    shop: Merchant, dash: httpx.Client, api: httpx.Client
) -> None:
    payment = authorized_payment(api)
    with closing(sign_in(shop)) as other:
        token = csrf_of(other.get("/dashboard/payments").text)
    resp = dash.post(
        f"/dashboard/payments/{payment['id']}/cancel", data={"csrf": token, "nonce": fresh()}
    )
    assert resp.status_code == 403
    assert get_payment(api, payment["id"])["status"] == "authorized"


def test_another_merchants_payment_is_404(server: Server, api: httpx.Client) -> None:
    payment = authorized_payment(api)
    other = server.merchant("Payment Actions Other Shop")
    with closing(sign_in(other)) as client:
        token = csrf_of(client.get("/dashboard/payments").text)
        for action in ("capture", "refund", "cancel", "simulate", "chargeback"):
            resp = client.post(f"/dashboard/payments/{payment['id']}/{action}",
                               data={"csrf": token, "nonce": fresh(), "amount": "100"})  # fmt: skip
            assert resp.status_code == 404, (action, resp.status_code, resp.text[:500])
    assert get_payment(api, payment["id"])["status"] == "authorized"


def test_live_mode_cannot_act_on_test_payments(shop: Merchant, api: httpx.Client) -> None:
    assert shop.live_secret_key is not None
    payment = create_payment(api)
    with closing(sign_in(shop, shop.live_secret_key)) as client:
        token = csrf_of(client.get("/dashboard/payments").text)
        for action in ("refund", "chargeback"):
            resp = client.post(f"/dashboard/payments/{payment['id']}/{action}",
                               data={"csrf": token, "nonce": fresh(), "amount": "100",
                                     "outcome": "won"})  # fmt: skip
            assert resp.status_code == 404, (action, resp.status_code)
    assert get_payment(api, payment["id"])["amount_refunded"] == 0


def test_test_mode_tools_are_offered_in_test_mode_only() -> None:
    card = {
        "payment_type": "credit_card", "status": "captured", "livemode": False,
        "processor": "simulated", "amount_captured": 1000, "tax": 0, "payment_method_fee": 0,
        "amount_refunded": 0, "refund_reserved": 0, "amount_disputed": 0,
    }  # fmt: skip
    konbini = {**card, "payment_type": "konbini", "status": "authorized"}
    assert timeline.actions(card, None) == {"refund", "chargeback"}
    assert timeline.actions({**card, "livemode": True}, None) == {"refund"}
    assert timeline.actions(konbini, None) == {"cancel", "simulate"}
    assert timeline.actions({**konbini, "livemode": True}, None) == {"cancel"}
    assert timeline.actions({**konbini, "processor": "komoju"}, None) == {"cancel"}
    assert timeline.actions(card, {"id": "x"}) == {"refund"}  # disputed once already
    assert timeline.actions({**card, "amount_disputed": 1000}, {"id": "x"}) == set()


def test_a_form_sent_twice_acts_once(dash: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api, amount=1000)
    path = f"/dashboard/payments/{payment['id']}"
    page = dash.get(path).text
    form = {"csrf": csrf_of(page), "nonce": nonce_of(page, "refund"), "amount": "300"}
    for _ in range(2):  # a double click: the second gets the first's outcome
        resp = dash.post(f"{path}/refund", data=form)
        assert resp.status_code == 303, resp.text[:2000]
        assert resp.headers["location"] == f"{path}?notice=refunded"
    after = get_payment(api, payment["id"])
    assert after["amount_refunded"] == 300 and len(after["refunds"]) == 1, after
    other = dash.post(f"{path}/refund", data={**form, "amount": "200"})  # same form, new value
    assert other.status_code == 422
    assert "already sent with other values" in problem_of(other.text)
    assert get_payment(api, payment["id"])["amount_refunded"] == 300
    again = dash.post(f"{path}/refund", data={**form, "nonce": nonce_of(dash.get(path).text,
                                                                        "refund")})  # fmt: skip
    assert again.status_code == 303  # a new form is a new refund
    assert get_payment(api, payment["id"])["amount_refunded"] == 600


def test_every_action_form_is_idempotent(dash: httpx.Client, api: httpx.Client) -> None:
    card = create_payment(api, amount=1500)
    page = dash.get(f"/dashboard/payments/{card['id']}").text
    form = {"csrf": csrf_of(page), "nonce": nonce_of(page, "chargeback"), "outcome": "won"}
    for _ in range(2):
        resp = dash.post(f"/dashboard/payments/{card['id']}/chargeback", data=form)
        assert resp.headers.get("location", "").endswith("?notice=charged_back"), resp.text[:2000]
    found = api.get("/chargeback_requests", params={"payment_id": card["id"]}).json()["data"]
    assert len(found) == 1, found
    held = authorized_payment(api, amount=700)
    page = dash.get(f"/dashboard/payments/{held['id']}").text
    form = {"csrf": csrf_of(page), "nonce": nonce_of(page, "capture"), "amount": "700"}
    for _ in range(2):
        resp = dash.post(f"/dashboard/payments/{held['id']}/capture", data=form)
        assert resp.headers.get("location", "").endswith("?notice=captured"), resp.text[:2000]
    assert get_payment(api, held["id"])["status"] == "captured"


def test_a_refusal_is_replayed_too(dash: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api, amount=1000)
    path = f"/dashboard/payments/{payment['id']}"
    page = dash.get(path).text
    form = {"csrf": csrf_of(page), "nonce": nonce_of(page, "refund"), "amount": "1001"}
    for _ in range(2):
        resp = dash.post(f"{path}/refund", data=form)
        assert resp.status_code == 422
        assert "what is left to refund (1000)" in problem_of(resp.text)
    assert get_payment(api, payment["id"])["amount_refunded"] == 0


def test_a_form_without_its_nonce_changes_nothing(dash: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api, amount=1000)
    path = f"/dashboard/payments/{payment['id']}"
    token = csrf_of(dash.get(path).text)
    for nonce in (None, "", "x" * 32, "<b>"):
        data = {"csrf": token, "amount": "100", **({} if nonce is None else {"nonce": nonce})}
        resp = dash.post(f"{path}/refund", data=data)
        assert resp.status_code == 422, (nonce, resp.status_code)
        assert "Reload the page" in problem_of(resp.text)
    assert get_payment(api, payment["id"])["amount_refunded"] == 0


def test_a_refused_action_links_back_to_its_page(dash: httpx.Client, api: httpx.Client) -> None:
    payment = create_payment(api, amount=1000)
    path = f"/dashboard/payments/{payment['id']}"
    refused = act(dash, payment["id"], "refund", amount="0")
    assert refused.status_code == 422
    nexts = [unescape(n) for n in re.findall(r'/dashboard/locale/[a-z]{2}\?next=([^"]+)"',
                                               refused.text)]  # fmt: skip
    assert nexts and all(unquote(n) == path for n in nexts), nexts
    elsewhere = {"Referer": "https://elsewhere.example/dashboard/keys"}
    forbidden = dash.post(
        f"{path}/refund", data={"csrf": "0" * 64, "amount": "1"}, headers=elsewhere
    )
    assert forbidden.status_code == 403
    assert f'<a href="{path}">' in forbidden.text, forbidden.text[:3000]
    assert dash.get(path).status_code == 200  # where it points is a page
