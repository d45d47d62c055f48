"""The checkout page (`session_url`) and its payment forms.

Paying here is exactly `/pay`: the form becomes `payment_details` and goes to
`services.paying.pay`, after the same card limits (`RateLimiter.checkout`: per merchant
and mode, there being no API key here, and per address in live mode); past them, the
error page with `Retry-After`.

One-click (`services.one_click`): a session with `external_customer_id` shows a consent
checkbox in the card form (`keep_card`, unchecked) and, above it, a form of its own with
the cards kept before (radio inputs `saved_card`), so paying with one needs no script.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kessai.core import money
from kessai.core.cards import DECLINE_MESSAGES
from kessai.core.payment_types import KONBINI_STORES, PAYMENT_TYPES
from kessai.core.sessions import PENDING, is_expired
from kessai.edge.middleware import client_address
from kessai.errors import Conflict, KessaiError, ProcessorUnavailable, SessionNotPayable
from kessai.hosted.i18n import pick_locale
from kessai.hosted.pages import csrf_ok, form_of, render, runtime, translate
from kessai.schemas.requests import PaySession
from kessai.services import clocks, execute, one_click, paying, phases, sessions
from kessai.services.phases import OutcomePending
from kessai.services.runtime import Runtime

router = APIRouter(include_in_schema=False)

# The form fields each kind of payment type sends as payment_details.
FIELDS = {
    "card": ("name", "number", "month", "year", "verification_value", "email"),
    "konbini": ("store", "email"),
    "cash": ("family_name", "given_name", "email"),
    "wallet": ("email",),
}
KEPT = (
    "name",
    "email",
    "month",
    "year",
    "store",
    "family_name",
    "given_name",
    "payment_type",
    "keep_card",
)


def fields_for(payment_type: str) -> tuple[str, ...]:
    if payment_type == "konbini":
        return FIELDS["konbini"]
    ptype = PAYMENT_TYPES.get(payment_type)
    return FIELDS[ptype.kind] if ptype else ()


async def checkout_page(
    request: Request,
    view: sessions.SessionView,
    locale: str,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    rt = runtime(request)
    row = view.row
    now = rt.now()
    state = row["status"]
    if state == PENDING and is_expired(state, row["expires_at"], now):
        state = "expired"
    saved: list[dict[str, str]] = []
    if state == PENDING and one_click.offered(row):
        found = await execute.read(rt, lambda conn: one_click.cards_for(conn, row, now))
        saved = [saved_card(card) for card in found]
    return render(
        request,
        "checkout.html" if state == PENDING else "status.html",
        locale,
        status,
        session=row,
        payment=view.payment,
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
        stores=KONBINI_STORES,
        return_url=sessions.return_url_for(row, rt.settings.base_url)
        if row["return_url"]
        else None,
        error=error,
        form=form or {},
        years=range(now.year, now.year + 15),
        csrf_target=row["id"],
        page_path=f"/sessions/{row['id']}",
        livemode=row["livemode"],
        keep_offered=state == PENDING and one_click.offered(row),
        saved_cards=saved,
    )


BRAND_NAMES = {
    "visa": "VISA",
    "master": "Mastercard",
    "jcb": "JCB",
    "american_express": "American Express",
    "diners_club": "Diners Club",
    "discover": "Discover",
}


def saved_card(card: Mapping[Any, Any]) -> dict[str, str]:
    """A kept card as the page shows it: brand, last four digits, expiry."""
    source = card["source"]
    return {
        "id": card["id"],
        "brand": BRAND_NAMES.get(source["brand"], str(source["brand"]).upper()),
        "last_four_digits": str(source["last_four_digits"]),
        "expiry": f"{int(source['month']):02d}/{int(source['year']) % 100:02d}",
    }


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
async def show(request: Request, session_id: str) -> Response:
    rt = runtime(request)
    view = await execute.read(rt, lambda conn: sessions.get(conn, None, session_id))
    await clocks.enter(rt, view.row["merchant_id"], view.row["livemode"])
    locale = pick_locale(request.query_params.get("locale"), view.row["default_locale"])
    failed = request.query_params.get("failed")
    error = DECLINE_MESSAGES.get(failed) if failed else None
    return await checkout_page(
        request, view, locale, error=translate(locale, error) if error else None
    )


@router.post("/sessions/{session_id}/pay", response_class=HTMLResponse)
async def pay(request: Request, session_id: str) -> Response:
    rt = runtime(request)
    form = await form_of(request)
    view = await execute.read(rt, lambda conn: sessions.get(conn, None, session_id))
    await clocks.enter(rt, view.row["merchant_id"], view.row["livemode"])
    locale = pick_locale(form.get("locale"), view.row["default_locale"])
    kept = {k: v for k, v in form.items() if k in KEPT}
    if not csrf_ok(request, session_id, form):
        message = "Your form expired. Please check your details and try again."
        return await checkout_page(
            request, view, locale, status=403, error=translate(locale, message)
        )
    payment_type = form.get("payment_type", "credit_card")
    details = {"type": payment_type}
    choice = one_click.Choice(
        keep=form.get("keep_card") == "yes", saved_card=form.get("saved_card") or None
    )
    if choice.saved_card is None:  # a kept card is the whole source: no fields to read
        details.update({f: form[f] for f in fields_for(payment_type) if form.get(f)})
    if rt.limiter is not None:  # a 429 here is the app's error page, with Retry-After
        await rt.limiter.checkout(
            view.row["merchant_id"], live=view.row["livemode"], client=client_address(request.scope)
        )
    try:
        pay_request = PaySession(payment_details=details)
        plan = paying.pay(rt, None, session_id, pay_request, locale=locale, choice=choice)
        result = await phases.perform(rt, plan)
    except SessionNotPayable:
        return RedirectResponse(f"/sessions/{session_id}?locale={locale}", status_code=303)
    except KessaiError as exc:
        return await checkout_page(
            request, view, locale, status=exc.status, error=field_message(locale, exc), form=kept
        )
    if result.decline is not None:
        message = DECLINE_MESSAGES.get(result.decline.code, result.decline.message)
        kept.pop("month", None), kept.pop("year", None)
        return await checkout_page(
            request,
            result.session,
            locale,
            status=402,
            error=translate(locale, message),
            form=kept,
        )
    return RedirectResponse(with_locale(result.redirect_url or "", rt, locale), status_code=303)


def with_locale(url: str, rt: Runtime, locale: str) -> str:
    """Keep the customer's language on kessai's own pages (never on the merchant's)."""
    if url.startswith(f"{rt.settings.base_url}/"):
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}locale={locale}"
    return url


CONFIRMING = (
    "We could not confirm your payment with the payment processor yet. Please wait a "
    "moment before trying again: you will not be charged twice."
)


UNAVAILABLE = "Payments cannot be taken here at the moment. Please try again later."


def field_message(locale: str, exc: KessaiError) -> str:
    if isinstance(exc, Conflict | OutcomePending):  # busy, or the answer has not come yet
        return translate(locale, CONFIRMING)
    if isinstance(exc, ProcessorUnavailable):
        return translate(locale, UNAVAILABLE)
    field = (exc.param or "").removeprefix("payment_details[").rstrip("]")
    messages: dict[str, Any] = {
        "number": "Check the card number.",
        "year": "Check the expiry date.",
        "month": "Check the expiry date.",
        "verification_value": "Check the security code.",
        "email": "Check the email address.",
        "name": "Check the cardholder name.",
        "store": "Choose a convenience store.",
        "type": "This payment method is not available for this payment.",
        "saved_card": "This saved card can no longer be used. Choose another card.",
    }
    return translate(locale, messages.get(field, "Check your details and try again."))
