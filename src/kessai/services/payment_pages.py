"""What the dashboard's payment pages ask for: the list, and each action on one payment.

Each action is the API's own operation (`services.payments`, `services.chargebacks`),
idempotent under the form's key (`form_key`): the dashboard puts a fresh nonce in every
form it renders, so a form sent twice (a double click, a reload after posting) runs once
and its second sending gets the first one's outcome back, changing nothing. The outcome
is stored as the API stores a response: `(status, body)`, read back as an `Outcome`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.errors import KessaiError, NotFound, error_body
from kessai.schemas import chargebacks as wire
from kessai.schemas.requests import CapturePayment, RefundPayment, parse
from kessai.services import chargebacks, execute, payments, phases
from kessai.services.execute import IdempotencyKey, Rendered, dumps
from kessai.services.payments import PaymentView
from kessai.services.phases import Plan
from kessai.services.runtime import Caller, Runtime
from kessai.store import keyset, payment_search
from kessai.store.payment_search import Filters

__all__ = ["Filters", "Outcome", "form_key", "listing"]
NAMESPACE = "dashboard:"  # the dashboard's keys never meet an API client's
# A currency → the form's amount in its minor units (None: none typed); raises a
# `KessaiError` naming the field (the transport reads what people type).
ReadAmount = Callable[[str], int | None]
KEY_MESSAGE = "This form was already sent with other values. Reload the page and try again."
BUSY_MESSAGE = "This form is being sent already. Wait a moment, then reload the page."


async def listing(
    rt: Runtime, caller: Caller, filters: Filters, *, before: str | None, after: str | None
) -> keyset.Page:
    """One page of the caller's payments (its merchant and mode) matching `filters`."""
    return await execute.read(
        rt,
        lambda conn: payment_search.search(
            conn, caller.merchant_id, caller.livemode, filters, before=before, after=after
        ),
    )


def form_key(nonce: str, path: str, form: Mapping[str, str]) -> IdempotencyKey:
    """The key of one rendered form: its nonce, and every field but the CSRF token."""
    fields = {name: value for name, value in sorted(form.items()) if name != "csrf"}
    return IdempotencyKey.of(NAMESPACE + nonce, "POST", path, dumps(fields))


@dataclass(frozen=True)
class Outcome:
    """What an action did: `notice` when done, else the problem (`status`, `message`)."""

    status: int
    notice: str | None = None
    message: str = ""
    param: str | None = None


def outcome(rendered: Rendered) -> Outcome:
    status, raw = rendered
    body = json.loads(raw)
    if status == 200:
        return Outcome(status, notice=str(body["notice"]))
    error = body["error"]
    message, param = str(error["message"]), error.get("param")
    if "X-KOMOJU-IDEMPOTENCY" in message:  # the form's key: say it in the dashboard's words
        message, param = (KEY_MESSAGE if status == 422 else BUSY_MESSAGE), None
    if status == 404:
        raise NotFound(message)
    return Outcome(status, message=message, param=param)


def _done(notice: str) -> Rendered:
    return 200, dumps({"notice": notice})


def _moved(notice: str) -> Callable[[PaymentView], Rendered]:
    """A phased action's answer: the notice, or the processor's decline (402)."""

    def render(view: PaymentView) -> Rendered:
        if view.decline is not None:
            return 402, dumps(error_body("declined", view.decline.message))
        return _done(notice)

    return render


async def _phased(
    rt: Runtime,
    caller: Caller,
    key: IdempotencyKey,
    make: Callable[[], Plan[PaymentView]],
    notice: str,
) -> Outcome:
    """As `api.common.phased`: a refusal before the plan is stored under the key too."""
    try:
        plan = make()
    except KessaiError as exc:
        rendered = execute.render_error(exc)
        if phases.storable(exc):
            rendered = await execute.store_error(rt, caller, key, rendered)
        return outcome(rendered)
    return outcome(await phases.run(rt, caller, key, plan, _moved(notice)))


async def _currency(rt: Runtime, caller: Caller, payment_id: str) -> str:
    """The payment's currency, if it is the caller's (404 otherwise)."""
    found = await execute.read(rt, lambda conn: payments.get(conn, caller, payment_id))
    return str(found.row["currency"])


async def capture(
    rt: Runtime, caller: Caller, payment_id: str, key: IdempotencyKey, amount: ReadAmount
) -> Outcome:
    currency = await _currency(rt, caller, payment_id)

    def make() -> Plan[PaymentView]:
        typed = amount(currency)
        params = parse(CapturePayment, {} if typed is None else {"amount": typed})
        return payments.capture(rt, caller, payment_id, params, None)

    return await _phased(rt, caller, key, make, "captured")


async def refund(
    rt: Runtime,
    caller: Caller,
    payment_id: str,
    key: IdempotencyKey,
    amount: ReadAmount,
    description: str,
) -> Outcome:
    currency = await _currency(rt, caller, payment_id)

    def make() -> Plan[PaymentView]:
        body: dict[str, Any] = {"amount": amount(currency)}
        if description.strip():
            body["description"] = description.strip()
        return payments.refund(rt, caller, payment_id, parse(RefundPayment, body), None)

    return await _phased(rt, caller, key, make, "refunded")


async def cancel(rt: Runtime, caller: Caller, payment_id: str, key: IdempotencyKey) -> Outcome:
    return await _phased(
        rt, caller, key, lambda: payments.cancel(rt, caller, payment_id), "cancelled"
    )


async def simulate(rt: Runtime, caller: Caller, payment_id: str, key: IdempotencyKey) -> Outcome:
    """Test mode: the customer pays the konbini / bank transfer / Pay-easy payment."""

    async def paid(conn: AsyncConnection) -> PaymentView:
        await payments.get(conn, caller, payment_id)  # the caller's, or 404
        return await payments.customer_paid(conn, rt, payment_id)

    def render(view: PaymentView) -> Rendered:
        return _done("paid" if view.row["status"] == "captured" else "expired")

    return outcome(await execute.run(rt, caller, key, paid, render, claim_first=False))


async def chargeback(
    rt: Runtime,
    caller: Caller,
    payment_id: str,
    key: IdempotencyKey,
    outcome_of_defense: str,
    reason_code: str,
) -> Outcome:
    """Test mode: open a chargeback now, as `POST /kessai/v1/chargebacks` does."""

    async def opened(conn: AsyncConnection) -> None:
        await payments.get(conn, caller, payment_id)  # the caller's, or 404
        body = {"payment_id": payment_id, "outcome": outcome_of_defense or "won"}
        if reason_code:
            body["reason_code"] = reason_code
        await chargebacks.open_now(conn, rt, caller, parse(wire.OpenChargeback, body))

    return outcome(
        await execute.run(
            rt, caller, key, opened, lambda _: _done("charged_back"), claim_first=False
        )
    )
