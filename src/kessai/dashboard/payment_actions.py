"""The payment page's actions: capture, refund, cancel, and in test mode the customer's
cash payment and a chargeback. Each is one call of `services.payment_pages` (the API's own
operations, idempotent under the form's nonce: a form sent twice acts once); nothing here
decides what a payment may do.

A done action answers 303 back to the payment's page with a notice; a refused one (the
state, an amount over what is left, a malformed amount, a decline) shows the page again
with the problem, 422; an unknown payment (or another merchant's) is 404.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.core import rules
from kessai.dashboard import amounts
from kessai.dashboard.auth import CurrentViewer, Viewer, checked_form, runtime, see_other
from kessai.dashboard.payments import payment_page
from kessai.dashboard.render import gettext
from kessai.errors import InvalidParameter, KessaiError, NotFound
from kessai.services import payment_pages as service
from kessai.services.execute import IdempotencyKey

router = APIRouter()
NONCE = re.compile(r"[0-9a-f]{32}")  # what `payments.new_nonce` puts in each form
# The form's key → what the action did.
Act = Callable[[IdempotencyKey], Awaitable[service.Outcome]]


def _key(request: Request, form: dict[str, str]) -> IdempotencyKey:
    nonce = form.get("nonce", "")
    if not NONCE.fullmatch(nonce):
        raise InvalidParameter(
            "This form is out of date. Reload the page and try again.", param="nonce"
        )
    return service.form_key(nonce, request.url.path, form)


async def _act(
    request: Request,
    who: Viewer,
    payment_id: str,
    name: str,
    act: Callable[[dict[str, str]], Act],
) -> Response:
    if not rules.is_id(payment_id):
        raise NotFound("No such payment: ids are 25 lowercase letters and digits.")
    form = await checked_form(request)
    try:
        done = await act(form)(_key(request, form))
    except NotFound:
        raise
    except KessaiError as exc:  # the form's nonce; everything else comes back as an Outcome
        done = service.Outcome(exc.status, message=exc.message, param=exc.param)
    if done.notice is not None:
        return see_other(f"/dashboard/payments/{payment_id}?notice={done.notice}")
    lead = gettext(who.locale, "The payment was not changed: %(problem)s")
    problem = lead % {"problem": gettext(who.locale, done.message)}
    status = done.status if done.status >= 500 else 422
    return await payment_page(
        request, who, payment_id, problem=problem, status_code=status, form=form, failed=name
    )


def _amount(who: Viewer, form: dict[str, str], label: str, required: bool) -> service.ReadAmount:
    def read(currency: str) -> int | None:
        return amounts.parse(
            form.get("amount"),
            currency,
            field="amount",
            label=gettext(who.locale, label),
            locale=who.locale,
            required=required,
        )

    return read


@router.post("/dashboard/payments/{payment_id}/capture")
async def capture(request: Request, payment_id: str, who: CurrentViewer) -> Response:
    rt = runtime(request)

    def act(form: dict[str, str]) -> Act:
        amount = _amount(who, form, "Amount to capture", required=False)
        return lambda key: service.capture(rt, who.caller, payment_id, key, amount)

    return await _act(request, who, payment_id, "capture", act)


@router.post("/dashboard/payments/{payment_id}/refund")
async def refund(request: Request, payment_id: str, who: CurrentViewer) -> Response:
    rt = runtime(request)

    def act(form: dict[str, str]) -> Act:
        amount = _amount(who, form, "Amount to refund", required=True)
        description = form.get("description", "")
        return lambda key: service.refund(rt, who.caller, payment_id, key, amount, description)

    return await _act(request, who, payment_id, "refund", act)


@router.post("/dashboard/payments/{payment_id}/cancel")
async def cancel(request: Request, payment_id: str, who: CurrentViewer) -> Response:
    rt = runtime(request)
    return await _act(
        request,
        who,
        payment_id,
        "cancel",
        lambda form: lambda key: service.cancel(rt, who.caller, payment_id, key),
    )


@router.post("/dashboard/payments/{payment_id}/simulate")
async def simulate(request: Request, payment_id: str, who: CurrentViewer) -> Response:
    """Test mode: the customer pays the konbini / bank transfer / Pay-easy payment, as the
    instructions page's button plays it."""
    rt = runtime(request)
    return await _act(
        request,
        who,
        payment_id,
        "simulate",
        lambda form: lambda key: service.simulate(rt, who.caller, payment_id, key),
    )


@router.post("/dashboard/payments/{payment_id}/chargeback")
async def chargeback(request: Request, payment_id: str, who: CurrentViewer) -> Response:
    """Test mode: open a chargeback now, as `POST /kessai/v1/chargebacks` does."""
    rt = runtime(request)

    def act(form: dict[str, str]) -> Act:
        outcome, reason = form.get("outcome", ""), form.get("reason_code", "")
        return lambda key: service.chargeback(rt, who.caller, payment_id, key, outcome, reason)

    return await _act(request, who, payment_id, "chargeback", act)
