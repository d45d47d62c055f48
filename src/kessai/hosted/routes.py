"""Hosted page routes: the checkout page, its form, and the simulated 3-D Secure page.

Like the API, each route parses, calls one service operation and renders; paying here is
exactly `/pay` (`services.sessions.pay`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from kessai.core import money
from kessai.core.cards import DECLINE_MESSAGES
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.core.sessions import LOCALES, PENDING, is_expired
from kessai.errors import KessaiError, SessionNotPayable
from kessai.hosted import csrf
from kessai.hosted.i18n import HERE, environment, pick_locale, translations
from kessai.schemas.requests import PaySession
from kessai.services import execute, sessions
from kessai.services.runtime import Runtime

router = APIRouter(include_in_schema=False)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CARD_FIELDS = ("name", "number", "month", "year", "verification_value", "email")


def static_files() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _page(
    request: Request, template: str, locale: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    cookie = request.cookies.get(csrf.COOKIE) or csrf.new_cookie()
    target = context.get("csrf_target", "")
    html = (
        environment(locale)
        .get_template(template)
        .render(
            locale=locale,
            locales=LOCALES,
            path=request.url.path,
            csrf_token=csrf.token(_rt(request).secret, cookie, target) if target else "",
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if request.cookies.get(csrf.COOKIE) != cookie:
        response.set_cookie(csrf.COOKIE, cookie, httponly=True, samesite="lax", path="/")
    return response


def error_page(request: Request, status: int, message: str | None = None) -> HTMLResponse:
    """A plain page; `message` (already for people) or a generic translated one."""
    locale = pick_locale(request.query_params.get("locale"), "ja")
    text = message or _(locale, "This page cannot be opened this way.")
    return _page(request, "error.html", locale, status, status=status, message=text)


def _checkout(
    request: Request,
    view: sessions.SessionView,
    locale: str,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    rt = _rt(request)
    row = view.row
    now = rt.clock()
    state = row["status"]
    if state == PENDING and is_expired(state, row["expires_at"], now):
        state = "expired"
    return _page(
        request,
        "checkout.html" if state == PENDING else "status.html",
        locale,
        status,
        session=row,
        state=state,
        amount=money.format_amount(row["amount"], row["currency"], locale),
        line_items=[
            {
                **item,
                "total": money.format_amount(
                    item["amount"] * item.get("quantity", 1), row["currency"], locale
                ),
            }
            for item in row["line_items"] or []
        ],
        payment_types=[PAYMENT_TYPES[slug] for slug in row["payment_types"]],
        return_url=sessions.return_url_for(row, rt.settings.base_url)
        if row["return_url"]
        else None,
        error=error,
        form=form or {},
        years=range(now.year, now.year + 15),
        csrf_target=row["id"],
        page_path=f"/sessions/{row['id']}",
        livemode=row["livemode"],
    )


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def show(request: Request, session_id: str) -> Response:
    rt = _rt(request)
    view = await execute.read(rt, lambda conn: sessions.get(conn, None, session_id))
    locale = pick_locale(request.query_params.get("locale"), view.row["default_locale"])
    failed = request.query_params.get("failed")
    error = DECLINE_MESSAGES.get(failed) if failed else None
    return _checkout(request, view, locale, error=_(locale, error) if error else None)


@router.post("/sessions/{session_id}/pay", response_class=HTMLResponse)
async def pay(request: Request, session_id: str) -> Response:
    rt = _rt(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    view = await execute.read(rt, lambda conn: sessions.get(conn, None, session_id))
    locale = pick_locale(form.get("locale"), view.row["default_locale"])
    if not csrf.valid(rt.secret, request.cookies.get(csrf.COOKIE), session_id, form.get("csrf")):
        return _checkout(
            request,
            view,
            locale,
            status=403,
            error=_(locale, "Your form expired. Please check your details and try again."),
        )
    payment_type = form.get("payment_type", "credit_card")
    details = {"type": payment_type, **{f: form[f] for f in CARD_FIELDS if form.get(f)}}
    try:
        result = await execute.write(
            rt,
            lambda conn: sessions.pay(
                conn, rt, None, session_id, PaySession(payment_details=details), locale=locale
            ),
        )
    except SessionNotPayable:
        return RedirectResponse(f"/sessions/{session_id}?locale={locale}", status_code=303)
    except KessaiError as exc:
        kept = {k: v for k, v in form.items() if k in ("name", "email", "month", "year")}
        return _checkout(
            request, view, locale, status=exc.status, error=_field_message(locale, exc), form=kept
        )
    if result.decline is not None:
        kept = {k: v for k, v in form.items() if k in ("name", "email")}
        return _checkout(
            request,
            result.session,
            locale,
            status=402,
            error=_(locale, DECLINE_MESSAGES.get(result.decline.code, result.decline.message)),
            form=kept,
        )
    return RedirectResponse(_with_locale(result.redirect_url or "", rt, locale), status_code=303)


def _with_locale(url: str, rt: Runtime, locale: str) -> str:
    if url.startswith(f"{rt.settings.base_url}/"):
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}locale={locale}"
    return url


@router.get("/three_d_secure/{payment_id}", response_class=HTMLResponse)
async def challenge(request: Request, payment_id: str) -> Response:
    rt = _rt(request)

    async def load(conn: Any) -> tuple[Any, sessions.SessionView]:
        payment = await sessions.pending_challenge(conn, payment_id)
        return payment, await sessions.get(conn, None, payment["session_id"])

    payment, view = await execute.read(rt, load)
    locale = pick_locale(request.query_params.get("locale"), payment["locale"])
    return _page(
        request,
        "three_d_secure.html",
        locale,
        session=view.row,
        payment=payment,
        amount=money.format_amount(payment["amount"], payment["currency"], locale),
        csrf_target=payment_id,
    )


@router.post("/three_d_secure/{payment_id}", response_class=HTMLResponse)
async def challenge_answer(request: Request, payment_id: str) -> Response:
    rt = _rt(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    locale = pick_locale(form.get("locale"), "ja")
    if not csrf.valid(rt.secret, request.cookies.get(csrf.COOKIE), payment_id, form.get("csrf")):
        return RedirectResponse(f"/three_d_secure/{payment_id}?locale={locale}", status_code=303)
    result = await execute.write(
        rt, lambda conn: sessions.authenticate(conn, rt, payment_id, form.get("password"))
    )
    if result.decline is not None:
        code = result.decline.code if result.decline.code in DECLINE_MESSAGES else "request_failed"
        return RedirectResponse(
            f"/sessions/{result.session.row['id']}?locale={locale}&failed={code}", status_code=303
        )
    return RedirectResponse(_with_locale(result.redirect_url or "", rt, locale), status_code=303)


def _(locale: str, message: str) -> str:
    return translations(locale).gettext(message)


def _field_message(locale: str, exc: KessaiError) -> str:
    field = (exc.param or "").removeprefix("payment_details[").rstrip("]")
    messages = {
        "number": "Check the card number.",
        "year": "Check the expiry date.",
        "month": "Check the expiry date.",
        "verification_value": "Check the security code.",
        "email": "Check the email address.",
        "name": "Check the cardholder name.",
        "type": "This payment method is not available for this payment.",
    }
    return _(locale, messages.get(field, "Check your details and try again."))
