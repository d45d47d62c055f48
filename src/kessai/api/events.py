"""/api/v1/events (KOMOJU) and kessai's own webhook management under /kessai/v1.

The /kessai/v1 paths are not part of KOMOJU's API: they manage this server's webhook
endpoints and deliveries, with the merchant's secret key.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.auth import authenticate
from kessai.api.body import parse_body
from kessai.api.common import as_is, idempotency_key, query, read, runtime, write
from kessai.api.openapi import operation
from kessai.errors import KessaiError
from kessai.schemas import resources, shapes
from kessai.schemas.requests import ListParams, parse
from kessai.services import execute, webhooks
from kessai.services.runtime import Caller, Runtime

router = APIRouter()
admin = APIRouter()


@router.get("/events")
@operation(
    "List events",
    ok=shapes.ListPage[shapes.Event],
    query=ListParams,
    extra_query={"type": str},
)
async def list_events(request: Request) -> Response:
    async def run(conn, rt, caller):  # type: ignore[no-untyped-def]
        params = parse(ListParams, query(request))
        total, data = await webhooks.event_list(
            conn,
            caller.merchant_id,
            caller.livemode,
            params,
            event_type=request.query_params.get("type"),
        )
        return resources.listing(data, total, params, rt.now())

    return await read(request, run, as_is)


@router.get("/events/{event_id}")
@operation("Show an event", ok=shapes.Event)
async def show_event(request: Request, event_id: str) -> Response:
    return await read(
        request,
        lambda conn, rt, caller: webhooks.event(
            conn, event_id, caller.merchant_id, caller.livemode
        ),
        as_is,
    )


@admin.get("/webhook_endpoints")
@operation("List webhook endpoints (kessai)", ok=shapes.WebhookEndpointList)
async def list_endpoints(request: Request) -> Response:
    async def run(conn, rt, caller):  # type: ignore[no-untyped-def]
        data = await webhooks.list_endpoints(conn, caller.merchant_id, caller.livemode)
        return {"resource": "list", "data": data}

    return await read(request, run, as_is)


@admin.post("/webhook_endpoints")
@operation(
    "Add a webhook endpoint (kessai)",
    ok=shapes.WebhookEndpoint,
    body=shapes.WebhookEndpointParams,
    description="The answer carries the endpoint's signing `secret`, shown only here.",
)
async def add_endpoint(request: Request) -> Response:
    async def run(conn, rt, caller, body):  # type: ignore[no-untyped-def]
        params = body()
        return await webhooks.add_endpoint(
            conn,
            merchant_id=caller.merchant_id,
            livemode=caller.livemode,
            url=params.get("url"),
            event_types=params.get("event_types"),
            now=rt.now(),
            policy=rt.settings.webhook_allow_private,
        )

    rt = runtime(request)
    caller = await authenticate(rt, request, secret_only=True)
    await _vet_url(request, rt, caller)
    return await write(request, run, as_is, caller=caller)


async def _vet_url(request: Request, rt: Runtime, caller: Caller) -> None:
    """Judge the addresses the URL's host name resolves to, before the transaction (a
    lookup inside it would hold the store's writers); everything else is the operation's.
    A replay of a stored response is not judged again: `write` answers what was stored."""
    raw = await request.body()
    try:
        key = idempotency_key(request, raw)
        if key is not None and await execute.stored(rt, caller, key) is not None:
            return
        params = parse_body(request.headers.get("content-type"), raw)
    except KessaiError:
        return  # the operation reports it
    await webhooks.vet_url(
        params.get("url"), livemode=caller.livemode, policy=rt.settings.webhook_allow_private
    )


@admin.delete("/webhook_endpoints/{endpoint_id}")
@operation("Remove a webhook endpoint (kessai)", ok=shapes.WebhookEndpointDeleted)
async def remove_endpoint(request: Request, endpoint_id: str) -> Response:
    return await write(
        request,
        lambda conn, rt, caller, body: webhooks.remove_endpoint(
            conn, endpoint_id, caller.merchant_id, caller.livemode, rt.now()
        ),
        as_is,
    )


@admin.get("/events/{event_id}/deliveries")
@operation("An event's webhook deliveries (kessai)", ok=shapes.EventDeliveries)
async def event_deliveries(request: Request, event_id: str) -> Response:
    return await read(
        request,
        lambda conn, rt, caller: webhooks.deliveries(
            conn, event_id, caller.merchant_id, caller.livemode
        ),
        as_is,
    )


@admin.post("/events/{event_id}/redeliver")
@operation("Deliver an event again (kessai)", ok=shapes.Redelivery)
async def redeliver(request: Request, event_id: str) -> Response:
    return await write(
        request,
        lambda conn, rt, caller, body: webhooks.redeliver(
            conn, event_id, caller.merchant_id, caller.livemode, rt.now()
        ),
        as_is,
    )
