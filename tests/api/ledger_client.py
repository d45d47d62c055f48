"""The ledger judge's client side (tests/api/test_ledger_judge.py): the requests a merchant
sends, each validated against KOMOJU's SDK schemas, a pool of clients that sends them side
by side, and what the merchant computes from the API's own objects (fees, the balance, the
settlement a transaction belongs in), independently of kessai's ledger.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import queue
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx

from tests.api.helpers import (
    card,
    cash_details,
    drive_offsite,
    payment_of,
    simulate_cash_payment,
)
from tests.conftest import Merchant, assert_error, assert_schema

T = TypeVar("T")
JST = timezone(timedelta(hours=9))
WON_CARD, LOST_CARD = "4123111111111208", "4123111111111216"
DECLINED_CARD = "4123111111111000"
GOOD_ACCOUNT, FAILING_ACCOUNT = "1234567", "9999999"
# A 1x1 PNG: the smallest document a defense can carry.
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5Erk"
    "Jggg=="
)
# The documented default fees (README, "Fees"): basis points and a fixed part.
RATES = {
    "credit_card": (360, 0),
    "konbini": (275, 0),
    "bank_transfer": (150, 100),
    "paypay": (325, 0),
}
# What a chargeback's status costs the merchant: the opening debit stays unless it was won.
DEBITED = ("pending", "defended", "accepted", "expired", "lost")
FINAL_CHARGEBACKS = ("accepted", "cancelled", "expired", "lost")


def expected_fee(payment_type: str, total: int) -> int:
    bps, fixed = RATES[payment_type]
    return min(total, (total * bps + 5_000) // 10_000 + fixed) if total > 0 else 0


def next_cutoff(when: datetime) -> datetime:
    """The first weekly cut-off (Monday 00:00 in Japan) strictly after `when`."""
    local = when.astimezone(JST)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=7 - midnight.weekday())


class Clients:
    """`size` API clients of one merchant, shared by the threads of a pool."""

    def __init__(self, merchant: Merchant, size: int) -> None:
        self.merchant = merchant
        self.base_url = merchant.server.base_url
        self._all = [merchant.client() for _ in range(size)]
        for client in self._all:
            client.timeout = httpx.Timeout(120)  # a slow machine under 8 at once
        self._free: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
        for client in self._all:
            self._free.put(client)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=size)

    @contextlib.contextmanager
    def one(self) -> Iterator[httpx.Client]:
        client = self._free.get()
        try:
            yield client
        finally:
            self._free.put(client)

    def _call(self, task: Callable[[httpx.Client], T]) -> T:
        with self.one() as client:
            return task(client)

    def run(self, tasks: Sequence[Callable[[httpx.Client], T]]) -> list[T]:
        """Send the tasks side by side; their results in order (the first failure raised)."""
        futures = [self._pool.submit(self._call, task) for task in tasks]
        return [future.result() for future in futures]

    def close(self) -> None:
        self._pool.shutdown()
        for client in self._all:
            client.close()


def ok(resp: httpx.Response, schema: str) -> dict[str, Any]:
    assert resp.status_code == 200, (resp.request.method, resp.request.url, resp.text[:800])
    body = resp.json()
    assert_schema(body, schema)
    return dict(body)


def pages(c: httpx.Client, path: str, schema: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, page by page (100 a page), each page checked against `schema`."""
    found: list[dict[str, Any]] = []
    page, last = 1, 1
    while page <= last:
        body = ok(c.get(path, params={**params, "page": page, "per_page": 100}), schema)
        assert body["page"] == page and body["per_page"] == 100, body
        last = int(body["last_page"])
        found.extend(body["data"])
        page += 1
    assert len(found) == body["total"], (path, len(found), body["total"])
    assert len({item["id"] for item in found}) == len(found), f"{path}: an id listed twice"
    return found


# --- what the merchant sends ------------------------------------------------------------


def pay_card(
    c: httpx.Client,
    amount: int,
    number: str = "4111111111111111",
    *,
    capture: bool = True,
    tax: int = 0,
    scenario: str | None = None,
) -> dict[str, Any]:
    """POST /payments with a card; the payment (a declined one's failed payment too)."""
    body = {"amount": amount, "currency": "JPY", "tax": tax, "capture": capture}
    headers = {"Komoju-Scenario": scenario} if scenario else {}
    resp = c.post("/payments", json={**body, "payment_details": card(number)}, headers=headers)
    if number == DECLINED_CARD:
        failed = assert_error(resp, 402, "insufficient_funds")["error"]["details"]["payment"]
        assert_schema(failed, "Payment")
        return dict(failed)
    payment = payment_of(resp)
    assert payment["status"] == ("captured" if capture else "authorized"), payment
    return payment


def capture(c: httpx.Client, payment_id: str, amount: int | None) -> dict[str, Any]:
    body = {} if amount is None else {"amount": amount}
    payment = payment_of(c.post(f"/payments/{payment_id}/capture", json=body))
    assert payment["status"] == "captured", payment
    return payment


def cancel(c: httpx.Client, payment_id: str) -> dict[str, Any]:
    payment = payment_of(c.post(f"/payments/{payment_id}/cancel", json={}))
    assert payment["status"] == "cancelled", payment
    return payment


def pay_cash(
    c: httpx.Client, base_url: str, ptype: str, amount: int, *, paid: bool, expiry_days: int = 3
) -> dict[str, Any]:
    """A konbini or bank transfer payment; the customer pays it at once when `paid`."""
    details = cash_details(ptype, expiry_days=expiry_days)
    payment = payment_of(
        c.post("/payments", json={"amount": amount, "currency": "JPY", "payment_details": details})
    )
    assert payment["status"] == "authorized", payment
    return cash_paid(c, base_url, payment["id"]) if paid else payment


def cash_paid(c: httpx.Client, base_url: str, payment_id: str) -> dict[str, Any]:
    simulate_cash_payment(base_url, payment_id)
    payment = payment_of(c.get(f"/payments/{payment_id}"))
    assert payment["status"] == "captured", payment
    return payment


def pay_wallet(c: httpx.Client, amount: int, *, complete: bool) -> dict[str, Any]:
    """A PayPay payment; the customer approves it on the wallet's test page when `complete`."""
    body = {"amount": amount, "currency": "JPY", "payment_details": {"type": "paypay"}}
    payment = payment_of(c.post("/payments", json=body))
    assert payment["status"] == "pending", payment
    if not complete:
        return payment
    done = drive_offsite(payment["payment_details"]["redirect_url"], "capture")
    assert done.status_code in (200, 303), (done.status_code, done.text[:500])
    payment = payment_of(c.get(f"/payments/{payment['id']}"))
    assert payment["status"] == "captured", payment
    return payment


def refund(c: httpx.Client, payment_id: str, amount: int) -> dict[str, Any] | None:
    """A partial refund: the payment, or None when kessai refused it (422 not_refundable)."""
    resp = c.post(f"/payments/{payment_id}/refund", json={"amount": amount})
    if resp.status_code == 422:
        assert_error(resp, 422, "not_refundable")
        return None
    payment = payment_of(resp)
    return payment


def open_chargeback(c: httpx.Client, payment_id: str, outcome: str) -> dict[str, Any]:
    """The merchant's test tool: a chargeback opened on the payment at once."""
    url = f"{c.base_url.copy_with(path='/kessai/v1/chargebacks')}"
    return ok(
        c.post(url, json={"payment_id": payment_id, "outcome": outcome}), "ChargebackRequestDetail"
    )


def answer_chargeback(c: httpx.Client, chargeback_id: str, how: str) -> int:
    """Accept or defend a chargeback; the status code (204 done, 422 refused)."""
    body: dict[str, Any] = {}
    if how == "defend":
        body = {
            "description": "Delivered and signed for.",
            "document": {"document_base64": PNG_BASE64, "filename": "receipt.png"},
            "product_name": "Tea set",
        }
    resp = c.post(f"/chargeback_requests/{chargeback_id}/{how}", json=body)
    if resp.status_code != 204:  # it was answered the other way meanwhile
        assert_error(resp, 422, {"accept": "not_acceptable", "defend": "not_defendable"}[how])
    return resp.status_code


def disburse(c: httpx.Client, amount: int, account: str = GOOD_ACCOUNT) -> httpx.Response:
    return c.post(
        "/disbursements",
        json={
            "amount": amount,
            "currency": "JPY",
            "account_number": account,
            "account_type": "ordinary",
            "account_name_kana": "ｶｽﾀﾏｰ",
            "bank_code": "0001",
            "branch_code": "001",
        },
    )


def disbursed(resp: httpx.Response) -> dict[str, Any]:
    body = ok(resp, "Disbursement")
    assert body["status"] == "pending", body
    return body


def cancel_disbursement(c: httpx.Client, disbursement_id: str) -> dict[str, Any]:
    path = f"/disbursements/{disbursement_id}/cancel"
    body = ok(c.post(path, json={"cancel_reason": "Wrong account"}), "Disbursement")
    assert body["status"] == "cancelled", body
    again = ok(c.post(path, json={"cancel_reason": "Again"}), "Disbursement")
    assert again == body, (again, body)  # cancelling a cancelled one changes nothing
    return body


def together(c: httpx.Client, calls: Sequence[Callable[[httpx.Client], Any]]) -> list[Any]:
    """Send `calls` at the same moment, each from a thread of its own (one client)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(c), calls))


def payout(c: httpx.Client, amount: int, account: str = GOOD_ACCOUNT) -> dict[str, Any]:
    return disbursed(disburse(c, amount, account))


def payout_cancelled(c: httpx.Client, amount: int) -> dict[str, Any]:
    return cancel_disbursement(c, payout(c, amount)["id"])


def refused_payout(c: httpx.Client, amount: int) -> None:
    assert_error(disburse(c, amount), 422, "insufficient_balance", "amount")


def refund_refused(payment: dict[str, Any] | None) -> None:
    assert payment is None, ("a disputed payment was refunded", payment)


# --- what the merchant computes ---------------------------------------------------------


def client_balance(
    payments: list[dict[str, Any]],
    chargebacks: list[dict[str, Any]],
    disbursements: list[dict[str, Any]],
) -> int:
    """Captured - refunded - fees - chargebacks not won - disbursements not given back."""
    settled = [p for p in payments if p["status"] in ("captured", "refunded")]
    return (
        sum(p["total"] for p in settled)
        - sum(p["amount_refunded"] for p in payments)
        - sum(p["processing_fee"] for p in payments)
        - sum(cb["amount"] for cb in chargebacks if cb["status"] in DEBITED)
        - sum(
            d["amount"] + d["fee"] + d["fee_tax"]
            for d in disbursements
            if d["status"] in ("pending", "paid")
        )
    )
