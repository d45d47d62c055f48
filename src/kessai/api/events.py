"""/api/v1/events (KOMOJU) and kessai's own webhook management under /kessai/v1.

The /kessai/v1 paths are not part of KOMOJU's API: they manage this server's webhook
endpoints and deliveries, with the merchant's secret key.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import ok, query, read, write
from kessai.schemas import resources
from kessai.schemas.requests import ListParams, parse
from kessai.services import webhooks
from kessai.services.execute import Rendered
from kessai.services.runtime import Runtime

router = APIRouter()
admin = APIRouter()


def as_is(rt: Runtime, body: Any) -> Rendered:
    return ok(body)


@router.get("/events")
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
        return resources.listing(data, total, params, rt.clock())

    return await read(request, run, as_is)


@router.get("/events/{event_id}")
async def show_event(request: Request, event_id: str) -> Response:
    return await read(
        request,
        lambda conn, rt, caller: webhooks.event(
            conn, event_id, caller.merchant_id, caller.livemode
        ),
        as_is,
    )


@admin.get("/webhook_endpoints")
async def list_endpoints(request: Request) -> Response:
    async def run(conn, rt, caller):  # type: ignore[no-untyped-def]
        data = await webhooks.list_endpoints(conn, caller.merchant_id, caller.livemode)
        return {"resource": "list", "data": data}

    return await read(request, run, as_is)


@admin.post("/webhook_endpoints")
async def add_endpoint(request: Request) -> Response:
    async def run(conn, rt, caller, body):  # type: ignore[no-untyped-def]
        params = body()
        return await webhooks.add_endpoint(
            conn,
            merchant_id=caller.merchant_id,
            livemode=caller.livemode,
            url=params.get("url"),
            event_types=params.get("event_types"),
            now=rt.clock(),
        )

    return await write(request, run, as_is)


@admin.delete("/webhook_endpoints/{endpoint_id}")
async def remove_endpoint(request: Request, endpoint_id: str) -> Response:
    return await write(
        request,
        lambda conn, rt, caller, body: webhooks.remove_endpoint(
            conn, endpoint_id, caller.merchant_id, caller.livemode, rt.clock()
        ),
        as_is,
    )


@admin.get("/events/{event_id}/deliveries")
async def event_deliveries(request: Request, event_id: str) -> Response:
    return await read(
        request,
        lambda conn, rt, caller: webhooks.deliveries(
            conn, event_id, caller.merchant_id, caller.livemode
        ),
        as_is,
    )


@admin.post("/events/{event_id}/redeliver")
async def redeliver(request: Request, event_id: str) -> Response:
    return await write(
        request,
        lambda conn, rt, caller, body: webhooks.redeliver(
            conn, event_id, caller.merchant_id, caller.livemode, rt.clock()
        ),
        as_is,
    )
