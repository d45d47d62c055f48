"""Dashboard pages: sessions, customers and subscriptions (lists and one of each).

A single object is read with the service the API reads it with and shaped by the same
resource function, so the page shows what `GET /api/v1/...` shows; the lists are keyset
pages of the viewer's merchant and mode (`store.object_lists`). Deleted customers stay
visible here, marked, with their payments; the API answers 404 for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from kessai.core import rules
from kessai.core.sessions import PENDING, is_expired
from kessai.dashboard.auth import CurrentViewer, Viewer, runtime
from kessai.dashboard.labels import brand_name, type_name
from kessai.dashboard.lists import cursor
from kessai.dashboard.render import gettext, show
from kessai.errors import InvalidParameter, NotFound
from kessai.schemas import resources
from kessai.services import execute, sessions, subscription_charges, subscriptions
from kessai.store import keyset, object_lists
from kessai.store.keyset import Cursor
from kessai.store.object_lists import Scope

router = APIRouter()
SEARCH_MAX = 255
SESSION_STATUS_ERROR = "status must be one of: pending, expired, completed, cancelled."
SUBSCRIPTION_STATUS_ERROR = "status must be one of: pending, active, retrying, suspended, deleted."
SEARCH_ERROR = "q (search) must be at most 255 characters."
SEARCH_CONTROL_ERROR = "q (search) must not contain control characters."
# No search can match these (PostgreSQL text cannot even hold NUL or a lone surrogate).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def scope_of(who: Viewer) -> Scope:
    return Scope(who.merchant_id, who.livemode)


def status_of(request: Request, allowed: tuple[str, ...], message: str) -> str | None:
    value = request.query_params.get("status", "").strip()
    if not value:
        return None
    if value not in allowed:
        raise InvalidParameter(message, param="status")
    return value


def search_of(request: Request) -> str | None:
    value = request.query_params.get("q", "").strip()
    if len(value) > SEARCH_MAX:
        raise InvalidParameter(SEARCH_ERROR, param="q")
    if CONTROL.search(value):
        raise InvalidParameter(SEARCH_CONTROL_ERROR, param="q")
    return value or None


def refused(
    request: Request, who: Viewer, template: str, exc: InvalidParameter, **context: Any
) -> Response:
    """A list asked for with a bad filter: the page, with the problem instead of rows (422)."""
    return show(
        request,
        who,
        template,
        status_code=422,
        problem=gettext(who.locale, exc.message),
        page=keyset.Page([], None, None),
        status="",
        search="",
        **context,
    )


def checked_id(object_id: str, what: str) -> str:
    if not rules.is_id(object_id):
        raise NotFound(f"No {what} {object_id!r} exists for this merchant and mode.")
    return object_id


def session_state(row: Mapping[Any, Any], now: datetime) -> str:
    """The status a person reads: a pending session past its expiry is "expired"."""
    status = str(row["status"])
    if status == PENDING and is_expired(status, row["expires_at"], now):
        return "expired"
    return status


def pretty(value: Any) -> str:
    return json.dumps(value or {}, ensure_ascii=False, indent=2, sort_keys=True)


# --- sessions ------------------------------------------------------------------------


@router.get("/dashboard/sessions")
async def session_list(request: Request, who: CurrentViewer) -> Response:
    rt = runtime(request)
    statuses = object_lists.SESSION_STATUSES
    try:
        status = status_of(request, statuses, SESSION_STATUS_ERROR)
        search = search_of(request)
    except InvalidParameter as exc:
        return refused(request, who, "sessions.html", exc, rows=[], statuses=statuses)
    position = cursor(request)
    now = rt.now()
    found = await execute.read(
        rt,
        lambda conn: object_lists.session_page(
            conn, scope_of(who), position, now=now, status=status, search=search
        ),
    )
    rows = [{**row, "state": session_state(row, now)} for row in found.rows]
    return show(
        request,
        who,
        "sessions.html",
        page=found,
        rows=rows,
        statuses=statuses,
        status=status or "",
        search=search or "",
    )


@router.get("/dashboard/sessions/{session_id}")
async def session_detail(request: Request, session_id: str, who: CurrentViewer) -> Response:
    rt = runtime(request)
    checked_id(session_id, "session")

    async def read(conn: AsyncConnection) -> dict[str, Any]:
        view = await sessions.get(conn, who.caller, session_id)
        customer = None
        if view.row["customer_id"] is not None:
            customer = await object_lists.customer(conn, scope_of(who), view.row["customer_id"])
        attempts = await object_lists.payment_page(
            conn, scope_of(who), Cursor(), session_id=session_id
        )
        return {"view": view, "customer": customer, "attempts": attempts.rows}

    found = await execute.read(rt, read)
    view = found["view"]
    now = rt.now()
    body = resources.session(
        view.row, base_url=rt.settings.base_url, now=now, payment_row=view.payment
    )
    state = session_state(view.row, now)
    return show(
        request,
        who,
        "session.html",
        s=body,
        row=view.row,
        state=state,
        hosted=body["session_url"] if state == PENDING else None,
        types=[type_name(slug, who.locale) for slug in view.row["payment_types"]],
        customer=found["customer"],
        attempts=found["attempts"],
        metadata=pretty(body["metadata"]),
    )


# --- customers -----------------------------------------------------------------------


@router.get("/dashboard/customers")
async def customer_list(request: Request, who: CurrentViewer) -> Response:
    rt = runtime(request)
    try:
        search = search_of(request)
    except InvalidParameter as exc:
        return refused(request, who, "customers.html", exc)
    position = cursor(request)
    found = await execute.read(
        rt, lambda conn: object_lists.customer_page(conn, scope_of(who), position, search=search)
    )
    return show(request, who, "customers.html", page=found, search=search or "", brand=brand_name)


@router.get("/dashboard/customers/{customer_id}")
async def customer_detail(request: Request, customer_id: str, who: CurrentViewer) -> Response:
    rt = runtime(request)
    checked_id(customer_id, "customer")
    position = cursor(request)
    scope = scope_of(who)

    async def read(conn: AsyncConnection) -> dict[str, Any]:
        row = await object_lists.customer(conn, scope, customer_id)
        if row is None:
            raise NotFound(f"No customer {customer_id!r} exists for this merchant and mode.")
        paid = await object_lists.payment_page(conn, scope, position, customer_id=customer_id)
        subscribed = await object_lists.subscriptions_of(conn, scope, customer_id)
        return {"row": row, "payments": paid, "subscriptions": subscribed.rows}

    found = await execute.read(rt, read)
    body = resources.customer(found["row"])
    return show(
        request,
        who,
        "customer.html",
        brand=brand_name,
        c=body,
        row=found["row"],
        card=body["source"],
        page=found["payments"],
        subscriptions=found["subscriptions"],
        metadata=pretty(body["metadata"]),
    )


# --- subscriptions -------------------------------------------------------------------


@router.get("/dashboard/subscriptions")
async def subscription_list(request: Request, who: CurrentViewer) -> Response:
    rt = runtime(request)
    statuses = object_lists.SUBSCRIPTION_STATUSES
    try:
        status = status_of(request, statuses, SUBSCRIPTION_STATUS_ERROR)
    except InvalidParameter as exc:
        return refused(request, who, "subscriptions.html", exc, items=[], statuses=statuses)
    position = cursor(request)

    async def read(conn: AsyncConnection) -> tuple[Any, list[Any]]:
        found = await object_lists.subscription_page(conn, scope_of(who), position, status=status)
        return found, await subscription_charges.views(conn, found.rows)

    found, views = await execute.read(rt, read)
    return show(
        request,
        who,
        "subscriptions.html",
        page=found,
        items=[(subscription_charges.body(v), v.customer) for v in views],
        statuses=statuses,
        status=status or "",
    )


@router.get("/dashboard/subscriptions/{subscription_id}")
async def subscription_detail(
    request: Request, subscription_id: str, who: CurrentViewer
) -> Response:
    rt = runtime(request)
    checked_id(subscription_id, "subscription")
    position = cursor(request)

    async def read(conn: AsyncConnection) -> tuple[Any, Any]:
        view = await subscriptions.get(conn, who.caller, subscription_id)
        charges = await object_lists.payment_page(
            conn, scope_of(who), position, subscription_id=subscription_id
        )
        return view, charges

    view, charges = await execute.read(rt, read)
    body = subscription_charges.body(view)
    return show(
        request,
        who,
        "subscription.html",
        brand=brand_name,
        sub=body,
        row=view.row,
        customer=view.customer,
        page=charges,
        metadata=pretty(body["metadata"]),
    )
