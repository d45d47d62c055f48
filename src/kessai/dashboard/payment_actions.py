"""The payment page's actions: capture, refund, cancel, and in test mode the customer's
cash payment and a chargeback. Each is the API's own service (`services.payments`,
`services.chargebacks`), the phased ones through `phases.perform` as the hosted pages do;
nothing here decides what a payment may do.

A done action answers 303 back to the payment's page with a notice; a refused one (the
state, an amount over what is left, a malformed amount, a decline) shows the page again
with the problem, 422; an unknown payment (or another merchant's) is 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from kessai.core import rules
from kessai.dashboard import amounts
from kessai.dashboard.auth import CurrentViewer, Viewer, checked_form, runtime, see_other
from kessai.dashboard.payments import payment_page
from kessai.dashboard.render import gettext
from kessai.errors import Forbidden, KessaiError, NotFound
from kessai.schemas import chargebacks as wire
from kessai.schemas.requests import CapturePayment, RefundPayment, parse
from kessai.services import chargebacks, execute, payments, phases
from kessai.services.payments import PaymentView

router = APIRouter()
Act = Callable[[dict[str, str]], Awaitable[str]]  # the form → the notice to show


async def _act(request: Request, who: Viewer, payment_id: str, name: str, act: Act) -> Response:
    if not rules.is_id(payment_id):
        raise NotFound("No such payment: ids are 25 lowercase letters and digits.")
    form = await checked_form(request)
    try:
        notice = await act(form)
    except NotFound:
        raise
    except KessaiError as exc:
        status = exc.status if exc.status >= 500 else 422
        lead = gettext(who.locale, "The payment was not changed: %(problem)s")
        problem = lead % {"problem": gettext(who.locale, exc.message)}
        return await payment_page(
            request, who, payment_id, problem=problem, status_code=status, form=form, failed=name
        )
    return see_other(f"/dashboard/payments/{payment_id}?notice={notice}")


async def _payment(who: Viewer, request: Request, payment_id: str) -> Any:
    """The payment, if it is the viewer's (404 otherwise), for reading its currency."""
    found = await execute.read(
        runtime(request), lambda conn: payments.get(conn, who.caller, payment_id)
    )
    return found.row


class Declined(KessaiError):
    """The processor declined the action (the API answers 402 with the decline)."""

    status = 402
    code = "declined"


def _checked(view: PaymentView, notice: str) -> str:
    """A processor's decline is a refusal like any other."""
    if view.decline is not None:
        raise Declined(view.decline.message)
    return notice


def _amount(who: Viewer, form: dict[str, str], currency: str, label: str, required: bool) -> Any:
    return amounts.parse(
        form.get("amount"),
        currency,
        field="amount",
        label=gettext(who.locale, label),
        locale=who.locale,
        required=required,
    )


@router.post("/dashboard/payments/{payment_id}/capture")
async def capture(request: Request, payment_id: str, who: CurrentViewer) -> Response:
    async def act(form: dict[str, str]) -> str:
        row = await _payment(who, request, payment_id)
        amount = _amount(who, form, row["currency"], "Amount to capture", required=False)
        params = parse(CapturePayment, {} if amount is None else {"amount": amount})
        rt = runtime(request)
        plan = payments.capture(rt, who.caller, payment_id, params, None)
        return _checked(await phases.perform(rt, plan), "captured")

    return await _act(request, who, payment_id, "capture", act)


@router.post("/dashboard/payments/{payment_id}/refund")
async def refund(request: Request, payment_id: str, who: CurrentViewer) -> Response:
    async def act(form: dict[str, str]) -> str:
        row = await _payment(who, request, payment_id)
        amount = _amount(who, form, row["currency"], "Amount to refund", required=True)
        body: dict[str, Any] = {"amount": amount}
        if form.get("description", "").strip():
            body["description"] = form["description"].strip()
        rt = runtime(request)
        plan = payments.refund(rt, who.caller, payment_id, parse(RefundPayment, body), None)
        return _checked(await phases.perform(rt, plan), "refunded")

    return await _act(request, who, payment_id, "refund", act)


@router.post("/dashboard/payments/{payment_id}/cancel")
async def cancel(request: Request, payment_id: str, who: CurrentViewer) -> Response:
    async def act(form: dict[str, str]) -> str:
        rt = runtime(request)
        plan = payments.cancel(rt, who.caller, payment_id)
        return _checked(await phases.perform(rt, plan), "cancelled")

    return await _act(request, who, payment_id, "cancel", act)


def _test_mode_only(who: Viewer) -> None:
    if who.livemode:
        raise Forbidden("This is a test-mode tool: sign in with your test secret key.")


@router.post("/dashboard/payments/{payment_id}/simulate")
async def simulate(request: Request, payment_id: str, who: CurrentViewer) -> Response:
    """Test mode: the customer pays the konbini / bank transfer / Pay-easy payment, as the
    instructions page's button plays it."""

    async def act(form: dict[str, str]) -> str:
        _test_mode_only(who)
        rt = runtime(request)

        async def paid(conn: AsyncConnection) -> PaymentView:
            await payments.get(conn, who.caller, payment_id)  # the viewer's, or 404
            return await payments.customer_paid(conn, rt, payment_id)

        view = await execute.write(rt, paid)
        return "paid" if view.row["status"] == "captured" else "expired"

    return await _act(request, who, payment_id, "simulate", act)


@router.post("/dashboard/payments/{payment_id}/chargeback")
async def chargeback(request: Request, payment_id: str, who: CurrentViewer) -> Response:
    """Test mode: open a chargeback now, as `POST /kessai/v1/chargebacks` does."""

    async def act(form: dict[str, str]) -> str:
        _test_mode_only(who)
        await _payment(who, request, payment_id)  # the viewer's, or 404
        body = {"payment_id": payment_id, "outcome": form.get("outcome") or "won"}
        if form.get("reason_code"):
            body["reason_code"] = form["reason_code"]
        params = parse(wire.OpenChargeback, body)
        rt = runtime(request)
        await execute.write(rt, lambda conn: chargebacks.open_now(conn, rt, who.caller, params))
        return "charged_back"

    return await _act(request, who, payment_id, "chargeback", act)
