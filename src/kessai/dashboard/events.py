"""Dashboard pages: the event log, and one event with its webhook deliveries and attempts.

An event page shows the body exactly as sent (and pretty-printed), every delivery with
every attempt, and the headers of the request; its Redeliver button queues the event again
to every current endpoint that takes it, as `POST /kessai/v1/events/{id}/redeliver` does.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.core import rules
from kessai.dashboard.auth import CurrentViewer, checked_form, runtime, see_other
from kessai.dashboard.lists import cursor
from kessai.dashboard.render import gettext, show
from kessai.errors import NotFound
from kessai.services import execute, webhooks

router = APIRouter()

# What a `?notice=` after an action says (translated in locale/*/events.po).
NOTICES = {
    "redelivered": "Queued for delivery again. Reload this page to see the new attempt.",
    "nothing_queued": "No current webhook endpoint takes this event: nothing was queued.",
    "pinged": "Ping queued. Reload this page to see its delivery.",
}


def _notice(request: Request, locale: str) -> str | None:
    found = NOTICES.get(request.query_params.get("notice", ""))
    return gettext(locale, found) if found else None


def _event_id(event_id: str) -> str:
    if not rules.is_id(event_id):
        raise NotFound("No such event.")
    return event_id


@router.get("/dashboard/events")
async def list_events(request: Request, who: CurrentViewer) -> Response:
    event_type = request.query_params.get("type") or None
    position = cursor(request)
    page, counts = await execute.read(
        runtime(request),
        lambda conn: webhooks.event_page(
            conn,
            who.merchant_id,
            who.livemode,
            event_type=event_type,
            before=position.before,
            after=position.after,
        ),
    )
    return show(
        request,
        who,
        "events.html",
        page=page,
        counts=counts,
        types=webhooks.EVENT_TYPES,
        chosen=event_type,
        statuses=webhooks.DELIVERY_STATUSES,
    )


@router.get("/dashboard/events/{event_id}")
async def show_event(request: Request, event_id: str, who: CurrentViewer) -> Response:
    found = await execute.read(
        runtime(request),
        lambda conn: webhooks.event_detail(
            conn, _event_id(event_id), who.merchant_id, who.livemode
        ),
    )
    return show(request, who, "event.html", event=found, notice=_notice(request, who.locale))


@router.post("/dashboard/events/{event_id}/redeliver")
async def redeliver(request: Request, event_id: str, who: CurrentViewer) -> Response:
    await checked_form(request)
    rt = runtime(request)
    queued = await execute.write(
        rt,
        lambda conn: webhooks.redeliver(
            conn, _event_id(event_id), who.merchant_id, who.livemode, rt.now()
        ),
    )
    notice = "redelivered" if queued["queued"] else "nothing_queued"
    return see_other(f"/dashboard/events/{event_id}?notice={notice}")
