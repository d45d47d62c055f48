"""The payment state machine, driven at random over HTTP (contract sections 3 and 6).

A hypothesis `RuleBasedStateMachine` talks to a real `kessai serve`: it creates payments in
every way the contract offers (direct card payments captured or only authorized, declined
cards, 3-D Secure challenges and offsite wallets left pending, konbini cash, and sessions
paid by card, konbini or a declined card), then captures, refunds, cancels, answers the
pending pages and "pays" konbini slips through the instructions page, on random payments
with random (sometimes too large, sometimes omitted) amounts.

A model predicts each payment. After every step the payments the step acted on are read back
with `GET /payments/{id}` (and every other one through `GET /payments`, so that a move on one
payment cannot quietly change another); each must match the model and the contract: a status
of section 3, moved only along its diagram from the last observed status,
`amount_refunded` ≤ captured amount ≤ authorized amount, `amount_refunded` = the sum of
`refunds`, `refunded` exactly when fully refunded, a valid `Payment` body. A refused move
must be a 422 with the contract's code and leave the payment exactly as it was; an accepted
one must change it as predicted.

The moves are written out here from the contract, not imported from `kessai`, so that the
test checks the server rather than repeating it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from tests.api.helpers import DECLINES, card
from tests.conftest import Merchant, assert_error, assert_schema

# --- the contract, section 3 ----------------------------------------------------------------

STATUSES = {"pending", "authorized", "captured", "refunded", "cancelled", "expired", "failed"}
MOVES: dict[str, set[str]] = {
    "pending": {"authorized", "captured", "failed", "cancelled", "expired"},
    "authorized": {"captured", "cancelled", "expired"},
    "captured": {"refunded"},
    "refunded": set(),
    "cancelled": set(),
    "expired": set(),
    "failed": set(),
}
SETTLED = {"captured", "refunded"}  # statuses whose `amount` is the captured amount

# --- section 6: test cards and payment types -----------------------------------------------

# Approved cards, and declined ones (a 402 and a `failed` payment).
CARDS = [
    "4111111111111111",
    "5555555555554444",
    "3530111333300000",
    "4123111111111059",
    "4123111111111000",
]
CHALLENGE_CARD = "4100000000005000"  # 3-D Secure challenge: 123456 approves
PASSWORD = "123456"
KONBINI_STORES = ["seven-eleven", "lawson", "family-mart", "ministop", "daily-yamazaki"]
EMAIL = "taro@example.jp"

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')

AMOUNTS = st.integers(min_value=1, max_value=50_000)
# How a capture or refund amount is chosen, relative to what the model says is possible:
# omitted, exactly all of it, part of it, or more than it.
AMOUNT_MODES = st.sampled_from(["omit", "all", "part", "over"])
OFFSETS = st.integers(min_value=1, max_value=20_000)


# Half the time a move takes a payment the model says it applies to (an authorized one to
# capture, a captured one to refund, ...) instead of the one drawn from the bundle, so that
# the allowed paths (capture, then several refunds) are walked as often as the refused ones.
AIM = st.one_of(st.integers(min_value=0, max_value=1_000), st.none())


def pick_amount(mode: str, limit: int, n: int) -> int | None:
    limit = max(limit, 1)
    return {"omit": None, "all": limit, "part": 1 + n % limit, "over": limit + n}[mode]


@dataclass
class Expected:
    """What one payment should look like, per the model."""

    id: str
    kind: str  # card, wallet or cash
    currency: str
    authorized: int  # the amount at creation (a partial capture lowers `amount`, not this)
    status: str
    capture: bool  # what a pending payment becomes once approved: captured or authorized
    session: str | None = None
    captured: int = 0
    refunds: list[int] = field(default_factory=list)
    page: str | None = None  # the hosted page for this payment (3-D Secure, offsite, konbini)
    csrf: str | None = None  # the page's CSRF token, kept as a stale browser tab would
    last: dict[str, Any] | None = None  # the body last observed

    @property
    def refunded(self) -> int:
        return sum(self.refunds)


class PaymentMachine(RuleBasedStateMachine):
    merchant: ClassVar[Merchant]

    payments = Bundle("payments")
    cash = Bundle("cash")  # konbini payments, for the instructions page
    actionable = Bundle("actionable")  # created pending: 3-D Secure challenge or wallet

    def __init__(self) -> None:
        super().__init__()
        self.api = self.merchant.client()
        # The customer's browser: keeps the CSRF cookie, does not follow redirects.
        self.web = httpx.Client(base_url=self.merchant.server.base_url, timeout=30)
        self.model: dict[str, Expected] = {}
        self.touched: set[str] = set()  # the payments the current step acted on

    def teardown(self) -> None:
        self.api.close()
        self.web.close()

    # --- checking ---------------------------------------------------------------------------

    def check(self, exp: Expected, body: dict[str, Any]) -> None:
        """`body` is the payment `exp` in its current state; remember it as last observed."""
        assert_schema(body, "Payment")
        status = body["status"]
        assert status in STATUSES, body
        assert body["id"] == exp.id and body["resource"] == "payment", body
        assert body["currency"] == exp.currency, body
        if exp.last is not None and status != exp.last["status"]:
            assert status in MOVES[exp.last["status"]], (
                f"illegal move {exp.last['status']} -> {status}",
                body,
            )
        assert status == exp.status, (f"expected {exp.status}", body)
        assert body["session"] == exp.session, body

        settled = status in SETTLED
        captured = body["amount"] if settled else 0
        assert body["amount_refunded"] <= captured <= exp.authorized, body
        assert body["amount"] == (exp.captured if settled else exp.authorized), (exp, body)
        assert body["total"] == body["amount"] + body["tax"] + body["payment_method_fee"], body
        assert (body["captured_at"] is not None) == settled, body

        refunds = body["refunds"]
        assert body["amount_refunded"] == sum(r["amount"] for r in refunds), body
        assert sorted(r["amount"] for r in refunds) == sorted(exp.refunds), (exp.refunds, body)
        assert body["amount_refunded"] == exp.refunded, (exp.refunds, body)
        for refund in refunds:
            assert refund["resource"] == "refund" and refund["payment"] == exp.id, refund
            assert refund["currency"] == exp.currency and refund["chargeback"] is False, refund
        fully_refunded = settled and body["amount_refunded"] == body["amount"]
        assert (status == "refunded") == fully_refunded, body

        if exp.kind == "cash":
            assert body["payment_deadline"] is not None, body
        exp.last = body

    def fetch(self, exp: Expected) -> dict[str, Any]:
        resp = self.api.get(f"/payments/{exp.id}")
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return resp.json()

    def accepted(self, exp: Expected, resp: httpx.Response) -> None:
        """The move was allowed: 200, and the returned payment is the model's new state."""
        assert resp.status_code == 200, (resp.status_code, resp.text, exp)
        self.check(exp, resp.json())

    def refused(self, exp: Expected, resp: httpx.Response, *codes: str) -> None:
        """The move was not allowed: 422 with one of `codes`, and nothing changed."""
        assert resp.status_code == 422, (resp.status_code, resp.text, exp)
        code = resp.json()["error"]["code"]
        assert code in codes, (codes, resp.text)
        assert_error(resp, 422, code)
        self.unchanged(exp)

    def unchanged(self, exp: Expected) -> None:
        before = exp.last
        after = self.fetch(exp)
        assert after == before, ("a refused move changed the payment", before, after)

    def track(self, body: dict[str, Any], exp: Expected) -> str:
        self.check(exp, body)
        self.model[exp.id] = exp
        self.touched.add(exp.id)
        return exp.id

    def page_token(self, path: str) -> tuple[int, str | None]:
        """Open a hosted page in the browser; its status and the CSRF token of its form."""
        resp = self.web.get(path)
        assert resp.status_code < 500, (path, resp.status_code, resp.text[:500])
        found = CSRF_RE.search(resp.text)
        return resp.status_code, found.group(1) if found else None

    @invariant()
    def every_payment_matches_the_model(self) -> None:
        # The payments this step acted on, one by one; every other one through the list (a
        # move must not touch other payments), which is one request instead of one each.
        for payment_id in sorted(self.touched):
            self.check(self.model[payment_id], self.fetch(self.model[payment_id]))
        others = {pid: exp for pid, exp in self.model.items() if pid not in self.touched}
        self.touched.clear()
        if not others:
            return
        # This test's payments are the merchant's newest: they all fit on the first page.
        resp = self.api.get("/payments", params={"per_page": 100})
        assert resp.status_code == 200, resp.text
        listed = {body["id"]: body for body in resp.json()["data"]}
        for payment_id, exp in others.items():
            assert payment_id in listed, f"payment {payment_id} is missing from the list"
            self.check(exp, listed[payment_id])

    # --- creating payments ------------------------------------------------------------------
    # Three rules only, so that most steps are moves on the payments already made.

    def create(self, payload: dict[str, Any]) -> httpx.Response:
        resp = self.api.post("/payments", json=payload)
        assert resp.status_code < 500, resp.text
        return resp

    def session(self, amount: int, currency: str, capture: bool) -> str:
        payment_data = {"capture": "auto" if capture else "manual"}
        payload = {"amount": amount, "currency": currency, "payment_data": payment_data}
        resp = self.api.post("/sessions", json=payload)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["id"])

    def pay(self, session_id: str, details: dict[str, Any]) -> httpx.Response:
        resp = self.api.post(f"/sessions/{session_id}/pay", json={"payment_details": details})
        assert resp.status_code < 500, resp.text
        if resp.status_code == 200:
            assert_schema(resp.json(), "PaySessionResponse")
        return resp

    @rule(
        target=payments,
        via=st.sampled_from(["api", "session"]),
        amount=AMOUNTS,
        currency=st.sampled_from(["JPY", "USD"]),
        capture=st.booleans(),
        number=st.sampled_from(CARDS),
    )
    def create_card_payment(
        self, via: str, amount: int, currency: str, capture: bool, number: str
    ) -> str:
        """A card payment: captured, authorized, or declined (402 and a failed payment)."""
        session_id = None
        if via == "api":
            payload = {"amount": amount, "currency": currency, "capture": capture}
            resp = self.create({**payload, "payment_details": card(number)})
        else:
            session_id = self.session(amount, currency, capture)
            resp = self.pay(session_id, card(number))
        if number in DECLINES:
            failed = assert_error(resp, 402, DECLINES[number])["error"]["details"]["payment"]
            exp = Expected(failed["id"], "card", currency, amount, "failed", capture, session_id)
            return self.track(failed, exp)
        assert resp.status_code == 200, resp.text
        body = resp.json() if via == "api" else resp.json()["payment"]
        status = "captured" if capture else "authorized"
        exp = Expected(body["id"], "card", currency, amount, status, capture, session_id)
        exp.captured = amount if capture else 0
        return self.track(body, exp)

    @initialize(target=payments, authorized=AMOUNTS, captured=AMOUNTS)
    def start_with_two_card_payments(self, authorized: int, captured: int) -> Any:
        """Every run has something to capture and something to refund from the start."""
        return multiple(
            self.create_card_payment("api", authorized, "JPY", False, "4111111111111111"),
            self.create_card_payment("api", captured, "JPY", True, "4111111111111111"),
        )

    @rule(
        targets=(payments, actionable),
        kind=st.sampled_from(["card", "wallet"]),
        amount=AMOUNTS,
        capture=st.booleans(),
    )
    def create_pending_payment(self, kind: str, amount: int, capture: bool) -> str:
        """A 3-D Secure challenge card or an offsite wallet: pending until its page answers."""
        details = card(CHALLENGE_CARD) if kind == "card" else {"type": "paypay"}
        payload = {"amount": amount, "currency": "JPY", "capture": capture}
        resp = self.create({**payload, "payment_details": details})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        exp = Expected(body["id"], kind, "JPY", amount, "pending", capture)
        exp.page = f"/{'three_d_secure' if kind == 'card' else 'offsite'}/{body['id']}"
        _, exp.csrf = self.page_token(exp.page)
        assert exp.csrf, f"{exp.page}: the page of a pending payment has no form"
        return self.track(body, exp)

    @rule(
        targets=(payments, cash),
        via=st.sampled_from(["api", "session"]),
        amount=AMOUNTS,
        store=st.sampled_from(KONBINI_STORES),
    )
    def create_konbini_payment(self, via: str, amount: int, store: str) -> str:
        """A konbini payment: authorized, waiting for the customer's cash."""
        details = {"type": "konbini", "store": store, "email": EMAIL}
        session_id = None
        if via == "api":
            resp = self.create({"amount": amount, "currency": "JPY", "payment_details": details})
        else:
            session_id = self.session(amount, "JPY", True)
            resp = self.pay(session_id, details)
        assert resp.status_code == 200, resp.text
        body = resp.json() if via == "api" else resp.json()["payment"]
        exp = Expected(body["id"], "cash", "JPY", amount, "authorized", True, session_id)
        exp.page = f"/instructions/{body['id']}"
        _, exp.csrf = self.page_token(exp.page)
        assert exp.csrf, "the instructions page of an unpaid konbini payment has no form"
        return self.track(body, exp)

    # --- moves ------------------------------------------------------------------------------

    def aim(self, p: str, aim: int | None, statuses: set[str], kinds: set[str]) -> Expected:
        """The payment `p`, or with `aim` one of those in `statuses` of `kinds` (if any)."""
        if aim is not None:
            fits = [e for e in self.model.values() if e.status in statuses and e.kind in kinds]
            if fits:
                p = fits[aim % len(fits)].id
        self.touched.add(p)
        exp = self.model[p]
        note(f"acting on {p}: {exp.kind}, {exp.status}, authorized {exp.authorized}")
        return exp

    def post(self, path: str, amount: int | None) -> httpx.Response:
        # An omitted amount is sent as an empty body (section 1: valid when all are optional).
        if amount is None:
            resp = self.api.post(path)
        else:
            resp = self.api.post(path, json={"amount": amount})
        assert resp.status_code < 500, (path, resp.status_code, resp.text)
        return resp

    @rule(p=payments, aim=AIM, mode=AMOUNT_MODES, n=OFFSETS)
    def capture(self, p: str, aim: int | None, mode: str, n: int) -> None:
        exp = self.aim(p, aim, {"authorized"}, {"card", "wallet"})
        p = exp.id
        amount = pick_amount(mode, exp.authorized, n)
        resp = self.post(f"/payments/{p}/capture", amount)
        wanted = exp.authorized if amount is None else amount
        if exp.status != "authorized" or exp.kind == "cash":
            # Which check comes first is not the contract's business when both fail.
            over = ("invalid_parameter",) if wanted > exp.authorized else ()
            self.refused(exp, resp, "not_capturable", *over)
        elif wanted > exp.authorized:
            self.refused(exp, resp, "invalid_parameter")
            assert resp.json()["error"]["param"] == "amount", resp.text
        else:
            exp.status, exp.captured = "captured", wanted
            self.accepted(exp, resp)

    @rule(p=payments, aim=AIM, mode=AMOUNT_MODES, n=OFFSETS)
    def refund(self, p: str, aim: int | None, mode: str, n: int) -> None:
        exp = self.aim(p, aim, {"captured"}, {"card", "wallet"})
        p = exp.id
        left = exp.captured - exp.refunded
        amount = pick_amount(mode, left, n)
        resp = self.post(f"/payments/{p}/refund", amount)
        wanted = left if amount is None else amount
        if exp.status != "captured" or exp.kind == "cash" or wanted > left:
            self.refused(exp, resp, "not_refundable")
        else:
            exp.refunds.append(wanted)
            if exp.refunded == exp.captured:
                exp.status = "refunded"
            self.accepted(exp, resp)

    @rule(p=payments, aim=AIM)
    def cancel(self, p: str, aim: int | None) -> None:
        exp = self.aim(p, aim, {"pending", "authorized"}, {"card", "wallet", "cash"})
        p = exp.id
        resp = self.post(f"/payments/{p}/cancel", None)
        if exp.status in ("pending", "authorized"):
            exp.status = "cancelled"
            self.accepted(exp, resp)
        else:
            self.refused(exp, resp, "not_cancellable")

    @rule(p=cash, aim=AIM)
    def customer_pays_at_the_konbini(self, p: str, aim: int | None) -> None:
        exp = self.aim(p, aim, {"authorized"}, {"cash"})
        assert exp.page is not None
        status, token = self.page_token(exp.page)
        assert status == 200, (exp.page, status)
        if exp.status == "authorized":
            assert token, "an unpaid konbini payment's instructions page has no simulate form"
        else:
            assert token is None, f"a {exp.status} konbini payment still offers to pay"
        form = {"csrf": token or exp.csrf, "locale": "en"}
        resp = self.web.post(f"{exp.page}/simulate", data=form)
        assert resp.status_code < 500, (resp.status_code, resp.text[:500])
        if exp.status == "authorized":
            assert resp.status_code == 303, (resp.status_code, resp.text[:500])
            exp.status, exp.captured = "captured", exp.authorized
            self.check(exp, self.fetch(exp))
        else:
            # The form is gone; a stale tab posting it anyway is refused and changes nothing.
            assert resp.status_code == 303 or 400 <= resp.status_code < 500, resp.status_code
            self.unchanged(exp)

    @rule(p=actionable, aim=AIM, approve=st.booleans())
    def customer_answers_the_page(self, p: str, aim: int | None, approve: bool) -> None:
        exp = self.aim(p, aim, {"pending"}, {"card", "wallet"})
        assert exp.page is not None
        status, token = self.page_token(exp.page)
        if exp.status == "pending":
            assert status == 200 and token, (exp.page, status)
        else:
            assert token is None, f"{exp.page} still offers its form for a {exp.status} payment"
        if exp.kind == "wallet":
            form = {"action": "capture" if approve else "fail"}
        else:
            form = {"password": PASSWORD if approve else "000000"}
        resp = self.web.post(exp.page, data={**form, "csrf": token or exp.csrf, "locale": "en"})
        assert resp.status_code < 500, (resp.status_code, resp.text[:500])
        if exp.status == "pending":
            assert resp.status_code == 303, (resp.status_code, resp.text[:500])
            if not approve:
                exp.status = "failed"
            elif exp.capture:
                exp.status, exp.captured = "captured", exp.authorized
            else:
                exp.status = "authorized"
            self.check(exp, self.fetch(exp))
        else:
            # A stale tab answering anyway: refused or sent to where things stand, no change.
            assert resp.status_code == 303 or 400 <= resp.status_code < 500, resp.status_code
            self.unchanged(exp)


@pytest.fixture(scope="module")
def machine(merchant: Merchant) -> type[PaymentMachine]:
    PaymentMachine.merchant = merchant
    return PaymentMachine


def test_payment_state_machine(machine: type[PaymentMachine]) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
