"""Dashboard pages: the merchant's webhook endpoints (add, remove, send a ping).

Adding one goes through the same checks as `POST /kessai/v1/webhook_endpoints`: the URL's
host name is looked up and judged against the server's policy before the transaction
(`services.webhooks.vet_url`), then `add_endpoint` judges the URL as written. The new
endpoint's signing secret is shown on the page that answers the form, and never again.
Each form carries a nonce (`services.webhooks.add_endpoint_once`): submitting the same form
again (reloading the answer) shows the endpoint it added, with its secret, and adds no
second one.
A refused form shows the page again with the problem and the field (422; 404 for an
endpoint that is not there).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.core import rules
from kessai.dashboard.auth import CurrentViewer, Viewer, checked_form, runtime, see_other
from kessai.dashboard.render import gettext, show
from kessai.errors import NotFound, ParameterError
from kessai.services import execute, webhooks

router = APIRouter()
PAGE = "/dashboard/webhooks"
NOTICES = {"removed": "Endpoint removed. Nothing more is sent to it."}
NOT_ADDED = "The endpoint was not added: see the field marked below."
GONE = "No such webhook endpoint: it may have been removed already."


async def _page(
    request: Request, who: Viewer, *, status_code: int = 200, **context: Any
) -> Response:
    found = await execute.read(
        runtime(request),
        lambda conn: webhooks.list_endpoints(conn, who.merchant_id, who.livemode),
    )
    endpoints = [{**e, "url": webhooks.without_user_info(e["url"])} for e in found]
    notice = NOTICES.get(request.query_params.get("notice", ""))
    response = show(
        request,
        who,
        "webhooks.html",
        endpoints=endpoints,
        types=webhooks.EVENT_TYPES,
        nonce=webhooks.form_nonce(),
        notice=gettext(who.locale, notice) if notice else None,
        **context,
    )
    response.status_code = status_code
    return response


def _endpoint_id(endpoint_id: str) -> str:
    if not rules.is_id(endpoint_id):
        raise NotFound(GONE)
    return endpoint_id


@router.get(PAGE)
async def list_endpoints(request: Request, who: CurrentViewer) -> Response:
    return await _page(request, who)


@router.post(PAGE)
async def add_endpoint(request: Request, who: CurrentViewer) -> Response:
    form = await checked_form(request)
    url = form.get("url", "").strip()
    chosen = [str(t) for t in (await request.form()).getlist("event_types")]
    rt = runtime(request)
    try:
        # The lookup happens here, outside the transaction (it would hold the writers).
        await webhooks.vet_url(url, livemode=who.livemode, policy=rt.settings.webhook_allow_private)
        added = await execute.write(
            rt,
            lambda conn: webhooks.add_endpoint_once(
                conn,
                nonce=form.get("nonce", ""),
                merchant_id=who.merchant_id,
                livemode=who.livemode,
                url=url or None,
                event_types=chosen or None,  # none checked: every type
                now=rt.now(),
                policy=rt.settings.webhook_allow_private,
            ),
        )
    except ParameterError as exc:
        marked = exc.param in ("url", "event_types")  # the form's fields
        return await _page(
            request,
            who,
            status_code=exc.status,
            problem=gettext(who.locale, NOT_ADDED if marked else exc.message),
            field=exc.param,
            field_problem=gettext(who.locale, exc.message),
            url=url,
            chosen=chosen,
        )
    return await _page(request, who, added=added)


async def _gone(request: Request, who: Viewer) -> Response:
    return await _page(request, who, status_code=404, problem=gettext(who.locale, GONE))


@router.post(PAGE + "/{endpoint_id}/remove")
async def remove_endpoint(request: Request, endpoint_id: str, who: CurrentViewer) -> Response:
    await checked_form(request)
    rt = runtime(request)
    try:
        await execute.write(
            rt,
            lambda conn: webhooks.remove_endpoint(
                conn, _endpoint_id(endpoint_id), who.merchant_id, who.livemode, rt.now()
            ),
        )
    except NotFound:
        return await _gone(request, who)
    return see_other(PAGE + "?notice=removed")


@router.post(PAGE + "/{endpoint_id}/ping")
async def ping_endpoint(request: Request, endpoint_id: str, who: CurrentViewer) -> Response:
    await checked_form(request)
    rt = runtime(request)
    try:
        event_id = await execute.write(
            rt,
            lambda conn: webhooks.ping_endpoint(
                conn, _endpoint_id(endpoint_id), who.merchant_id, who.livemode, rt.now()
            ),
        )
    except NotFound:
        return await _gone(request, who)
    return see_other(f"/dashboard/events/{event_id}?notice=pinged")
