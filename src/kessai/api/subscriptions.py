"""/api/v1/subscriptions: create, list, show, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import ok, phased, query, read
from kessai.api.openapi import operation
from kessai.schemas import resources, shapes
from kessai.schemas.requests import CreateSubscription, ListParams, parse
from kessai.services import subscription_charges, subscriptions
from kessai.services.execute import Rendered
from kessai.services.runtime import Runtime

router = APIRouter()


def render(rt: Runtime, found: subscription_charges.SubscriptionView) -> Rendered:
    return ok(subscription_charges.body(found))


@router.post("/subscriptions")
@operation(
    "Create a subscription (its first charge is made at once)",
    ok=shapes.Subscription,
    body=CreateSubscription,
    processor=True,
)
async def create_subscription(request: Request) -> Response:
    return await phased(
        request,
        lambda rt, caller, body: subscriptions.create(
            rt, caller, parse(CreateSubscription, body())
        ),
        render,
    )


@router.get("/subscriptions")
@operation("List subscriptions", ok=shapes.SubscriptionList, query=ListParams)
async def list_subscriptions(request: Request) -> Response:
    async def run(conn, rt, caller):  # type: ignore[no-untyped-def]
        params = parse(ListParams, query(request))
        total, found = await subscriptions.listing(conn, caller, params)
        return total, found, params

    def render_list(rt: Runtime, result: Any) -> Rendered:
        total, found, params = result
        data = [subscription_charges.body(v) for v in found]
        return ok(resources.subscription_list(data, total, params, rt.now()))

    return await read(request, run, render_list)


@router.get("/subscriptions/{subscription_id}")
@operation("Show a subscription", ok=shapes.Subscription)
async def show_subscription(request: Request, subscription_id: str) -> Response:
    return await read(
        request,
        lambda conn, rt, caller: subscriptions.get(conn, caller, subscription_id),
        render,
    )


@router.delete("/subscriptions/{subscription_id}")
@operation("Delete (end) a subscription", ok=shapes.Subscription)
async def delete_subscription(request: Request, subscription_id: str) -> Response:
    return await phased(
        request,
        lambda rt, caller, body: subscriptions.delete(rt, caller, subscription_id),
        render,
    )
