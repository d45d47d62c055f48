"""Dashboard pages: the payment list (filters, search, keyset pages) and one payment's page
(its facts, actions and timeline). The actions themselves are in `payment_actions`."""

from __future__ import annotations

import json
import re
import secrets
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from kessai.core import rules
from kessai.core.ledger import JST
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.core.payments import STATUSES
from kessai.dashboard import amounts
from kessai.dashboard import payment_view as view
from kessai.dashboard.auth import CurrentViewer, Viewer, runtime
from kessai.dashboard.labels import type_name
from kessai.dashboard.lists import cursor
from kessai.dashboard.render import gettext, show
from kessai.errors import InvalidParameter, NotFound
from kessai.schemas.chargebacks import OUTCOMES, REASONS
from kessai.services import payment_pages, timeline
from kessai.services.payment_pages import Filters

router = APIRouter()
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The dates a filter takes (one past them cannot be turned into an instant and back).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)
NOTICES = {
    "captured": "The payment was captured.",
    "refunded": "The refund was made.",
    "cancelled": "The payment was cancelled.",
    "paid": "The customer's payment was recorded: the payment is captured.",
    "expired": "The payment deadline had passed: the payment expired instead.",
    "charged_back": "A chargeback was opened on the payment.",
}


def _refuse(locale: str, message: str, field: str, **params: Any) -> InvalidParameter:
    label = gettext(locale, FIELD_LABELS[field])
    return InvalidParameter(gettext(locale, message) % {"field": label, **params}, param=field)


FIELD_LABELS = {
    "status": "Status",
    "type": "Payment type",
    "from": "Created from",
    "to": "Created to",
    "q": "Search",
}


def _day(params: QueryParams, field: str, locale: str) -> date | None:
    text = params.get(field, "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if DAY.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None:
        raise _refuse(locale, "%(field)s must be a date written YYYY-MM-DD.", field)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise _refuse(
            locale,
            "%(field)s must be between %(first)s and %(last)s.",
            field,
            first=FIRST_DAY.isoformat(),
            last=LAST_DAY.isoformat(),
        )
    return day


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=JST)


def read_filters(params: QueryParams, locale: str) -> Filters:
    """The list's filters from the query string; a bad one is a 422 naming it."""
    for name, value in params.multi_items():
        try:
            rules.single_line(value)
        except rules.Invalid:
            raise _refuse(
                locale, "%(field)s has characters that cannot be searched.", name
            ) from None
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise _refuse(
            locale, "%(field)s: there is no payment status %(value)s.", "status", value=repr(status)
        )
    ptype = params.get("type") or None
    if ptype is not None and ptype not in PAYMENT_TYPES:
        raise _refuse(
            locale, "%(field)s: there is no payment type %(value)s.", "type", value=repr(ptype)
        )
    first, last = _day(params, "from", locale), _day(params, "to", locale)
    if first is not None and last is not None and last < first:
        raise _refuse(locale, "%(field)s must not be before the first date.", "to")
    q = (params.get("q") or "").strip() or None
    if q is not None and len(q) > 255:
        raise _refuse(locale, "%(field)s is too long (at most 255 characters).", "q")
    return Filters(
        status=status,
        payment_type=ptype,
        created_from=_midnight(first) if first else None,
        created_before=_midnight(last + timedelta(days=1)) if last else None,
        q=q,
        q_is_id=q is not None and rules.is_id(q),
    )


def _choices(locale: str) -> dict[str, Any]:
    return {
        "statuses": STATUSES,
        "types": [(slug, type_name(slug, locale)) for slug in PAYMENT_TYPES],
    }


@router.get("/dashboard/payments")
async def payment_list(request: Request, who: CurrentViewer) -> Response:
    params = request.query_params
    try:
        filters = read_filters(params, who.locale)
    except InvalidParameter as exc:
        return show(
            request, who, "payments.html", status_code=422, problem=exc.message, rows=None,
            page=None, **_choices(who.locale),
        )  # fmt: skip
    position = cursor(request)
    page = await payment_pages.listing(
        runtime(request), who.caller, filters, before=position.before, after=position.after
    )
    return show(
        request, who, "payments.html", rows=view.list_rows(page.rows, who.locale), page=page,
        filtered=any(params.get(k) for k in FIELD_LABELS), **_choices(who.locale),
    )  # fmt: skip


def new_nonce() -> str:
    """A fresh nonce for one rendered action form: the key that makes it act once."""
    return secrets.token_hex(16)


async def payment_page(
    request: Request,
    who: Viewer,
    payment_id: str,
    *,
    problem: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    failed: str | None = None,
) -> Response:
    """The payment's page; after a refused action, with the problem and what was typed."""
    if not rules.is_id(payment_id):
        raise NotFound("No such payment: ids are 25 lowercase letters and digits.")
    found = await timeline.show(runtime(request), who.caller, payment_id)
    p = found.payment
    notice = NOTICES.get(request.query_params.get("notice", "")) if not problem else None
    return show(
        request,
        who,
        "payment.html",
        status_code=status_code,
        problem=problem,
        notice=gettext(who.locale, notice) if notice else None,
        p=p,
        found=found,
        amount=view.shown_amount(p),
        type_label=type_name(p["payment_type"], who.locale),
        card=view.card_of(p),
        details=view.details(p, who.locale),
        metadata=json.dumps(p["metadata"], ensure_ascii=False, indent=2) if p["metadata"] else None,
        entries=view.timeline_rows(found.timeline, who.locale),
        calls=view.processor_rows(found.calls, who.locale),
        nonces={action: new_nonce() for action in found.actions},
        failed=failed,
        form=form or {},
        refundable=amounts.shown(found.refundable, p["currency"]),
        authorized=amounts.shown(p["amount"], p["currency"]),
        reasons=list(REASONS.items()),
        outcomes=OUTCOMES,
    )


@router.get("/dashboard/payments/{payment_id}")
async def payment(request: Request, payment_id: str, who: CurrentViewer) -> Response:
    return await payment_page(request, who, payment_id)
