"""Pages a payment sends the customer to: the simulated 3-D Secure challenge, the offsite
wallet test page, and the instructions page of a cash-type payment."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kessai.core import money
from kessai.core.cards import DECLINE_MESSAGES
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.errors import Conflict, NotCapturable, NotFound
from kessai.hosted.checkout import CONFIRMING, with_locale
from kessai.hosted.i18n import pick_locale
from kessai.hosted.pages import csrf_ok, error_page, form_of, render, runtime, translate
from kessai.services import barcodes, execute, paying, payments, phases, sessions
from kessai.services.phases import OutcomePending
from kessai.store import payments as payment_store
from kessai.store import sessions as session_store

router = APIRouter(include_in_schema=False)
JAPAN = ZoneInfo("Asia/Tokyo")  # cash payments are made in Japan: deadlines in its time


async def _action_page(request: Request, payment_id: str, template: str) -> HTMLResponse:
    rt = runtime(request)

    async def load(conn: AsyncConnection) -> tuple[Any, Any]:
        payment = await paying.pending_action(conn, payment_id)
        session = None
        if payment["session_id"]:
            session = await session_store.get(conn, payment["session_id"])
        return payment, session

    payment, session = await execute.read(rt, load)
    locale = pick_locale(request.query_params.get("locale"), payment["locale"])
    return render(
        request,
        template,
        locale,
        session=session,
        payment=payment,
        ptype=PAYMENT_TYPES[payment["payment_type"]],
        amount=money.format_amount(payment["amount"], payment["currency"], locale),
        csrf_target=payment_id,
    )


async def _answer(request: Request, payment_id: str, answer: str | None, locale: str) -> Response:
    rt = runtime(request)
    try:
        result = await phases.perform(rt, paying.complete_action(rt, payment_id, answer))
    except NotFound:  # already answered (another tab): show where things stand
        return await _settled_page(rt, payment_id, locale)
    except (Conflict, OutcomePending):  # the processor has not answered yet
        return error_page(request, 503, translate(locale, CONFIRMING), locale)
    session = result.session.row
    if (
        result.decline is not None
        and session
        and PAYMENT_TYPES[result.payment["payment_type"] if result.payment else "credit_card"].kind
        == "card"
    ):
        code = result.decline.code if result.decline.code in DECLINE_MESSAGES else "request_failed"
        return RedirectResponse(
            f"/sessions/{session['id']}?locale={locale}&failed={code}", status_code=303
        )
    target = result.redirect_url
    if session and not target:
        target = sessions.return_url_for(session, rt.settings.base_url)
    if not target:
        target = f"/payments/{payment_id}/done?locale={locale}"
    return RedirectResponse(with_locale(target, rt, locale), status_code=303)


async def _form_answer(request: Request, payment_id: str, page: str, answer_of: Any) -> Response:
    form = await form_of(request)
    locale = pick_locale(form.get("locale"), "ja")
    if not csrf_ok(request, payment_id, form):
        return RedirectResponse(f"/{page}/{payment_id}?locale={locale}", status_code=303)
    return await _answer(request, payment_id, answer_of(form), locale)


@router.get("/three_d_secure/{payment_id}", response_class=HTMLResponse)
async def challenge(request: Request, payment_id: str) -> Response:
    return await _action_page(request, payment_id, "three_d_secure.html")


@router.post("/three_d_secure/{payment_id}", response_class=HTMLResponse)
async def challenge_answer(request: Request, payment_id: str) -> Response:
    return await _form_answer(
        request, payment_id, "three_d_secure", lambda form: form.get("password")
    )


@router.get("/payments/{payment_id}/return", response_class=HTMLResponse)
async def processor_return(request: Request, payment_id: str) -> Response:
    """Where a processor's own 3-D Secure or wallet page sends the customer back: kessai
    asks the processor how it ended (`complete` with no answer of its own). The simulated
    processor's pages are kessai's own, answered by their forms instead."""
    rt = runtime(request)
    locale = pick_locale(request.query_params.get("locale"), "ja")
    payment = await execute.read(rt, lambda conn: payment_store.get(conn, payment_id))
    if payment is None or payment["processor"] == "simulated":
        raise NotFound("No such payment page.")
    return await _answer(request, payment_id, None, locale)


@router.get("/offsite/{payment_id}", response_class=HTMLResponse)
async def offsite(request: Request, payment_id: str) -> Response:
    return await _action_page(request, payment_id, "offsite.html")


@router.post("/offsite/{payment_id}", response_class=HTMLResponse)
async def offsite_answer(request: Request, payment_id: str) -> Response:
    return await _form_answer(
        request,
        payment_id,
        "offsite",
        lambda form: "capture" if form.get("action") == "capture" else "fail",
    )


async def _settled_page(rt: Any, payment_id: str, locale: str) -> Response:
    payment = await execute.read(rt, lambda conn: payment_store.get(conn, payment_id))
    if payment is None:
        raise NotFound("No such payment.")
    if payment["session_id"]:
        session = await execute.read(
            rt, lambda conn: session_store.get(conn, payment["session_id"])
        )
        if (
            session is not None
            and session["status"] == "completed"
            and session["payment_id"] == payment_id
            and session["return_url"]
        ):  # settled meanwhile (the acquirer's webhook, another tab): back to the shop
            return RedirectResponse(
                sessions.return_url_for(session, rt.settings.base_url), status_code=303
            )
        return RedirectResponse(
            f"/sessions/{payment['session_id']}?locale={locale}", status_code=303
        )
    return RedirectResponse(f"/payments/{payment_id}/done?locale={locale}", status_code=303)


def _deadline(value: datetime | None, locale: str) -> str | None:
    if value is None:
        return None
    return str(format_datetime(value.astimezone(JAPAN), "medium", locale=locale)) + " JST"


@router.get("/instructions/{payment_id}", response_class=HTMLResponse)
async def instructions(request: Request, payment_id: str) -> Response:
    rt = runtime(request)

    async def load(conn: AsyncConnection) -> tuple[Any, Any]:
        payment = await payment_store.get(conn, payment_id)
        if payment is None or PAYMENT_TYPES[payment["payment_type"]].kind != "cash":
            raise NotFound("No such payment instructions.")
        session = None
        if payment["session_id"]:
            session = await session_store.get(conn, payment["session_id"])
        return payment, session

    payment, session = await execute.read(rt, load)
    locale = pick_locale(request.query_params.get("locale"), payment["locale"])
    return render(
        request,
        "instructions.html",
        locale,
        session=session,
        payment=payment,
        details=payment["payment_details"],
        ptype=PAYMENT_TYPES[payment["payment_type"]],
        amount=money.format_amount(payment["amount"], payment["currency"], locale),
        deadline=_deadline(payment["payment_deadline"], locale),
        return_url=sessions.return_url_for(session, rt.settings.base_url)
        if session and session["return_url"]
        else None,
        csrf_target=payment_id,
        livemode=payment["livemode"],
    )


@router.get("/instructions/{payment_id}/barcode.png")
async def instructions_barcode(request: Request, payment_id: str) -> Response:
    """The konbini barcode the instructions page shows: the API's image, served from the
    page's own origin (its CSP loads images from nowhere else)."""
    code = await barcodes.show(runtime(request), payment_id, None)
    if code.png is None:
        raise NotFound("The barcode is not ready yet; reload the page.")
    return Response(
        code.png,
        media_type="image/png",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/instructions/{payment_id}/simulate", response_class=HTMLResponse)
async def simulate_payment(request: Request, payment_id: str) -> Response:
    """Test mode: play the customer paying at the store or bank."""
    rt = runtime(request)
    form = await form_of(request)
    locale = pick_locale(form.get("locale"), "ja")
    if csrf_ok(request, payment_id, form):
        # Already paid or expired (e.g. a second tab): the page shows where things stand.
        with contextlib.suppress(NotCapturable):
            await execute.write(rt, lambda conn: payments.customer_paid(conn, rt, payment_id))
    return RedirectResponse(f"/instructions/{payment_id}?locale={locale}", status_code=303)


@router.get("/payments/{payment_id}/done", response_class=HTMLResponse)
async def done(request: Request, payment_id: str) -> Response:
    """Where a direct API payment (no session, no return_url) ends after its page."""
    rt = runtime(request)
    payment = await execute.read(rt, lambda conn: payment_store.get(conn, payment_id))
    if payment is None:
        raise NotFound("No such payment.")
    locale = pick_locale(request.query_params.get("locale"), payment["locale"])
    return render(
        request,
        "payment_done.html",
        locale,
        payment=payment,
        amount=money.format_amount(payment["amount"], payment["currency"], locale),
    )
