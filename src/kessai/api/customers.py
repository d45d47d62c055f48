"""/api/v1/customers: create, show, list, update, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import ok, phased, query, read, row_or_decline, write
from kessai.api.openapi import operation
from kessai.schemas import resources, shapes
from kessai.schemas.requests import CustomerParams, ListParams, parse
from kessai.services import customers
from kessai.services.charging import check_scenario
from kessai.services.execute import Rendered
from kessai.services.runtime import Runtime

router = APIRouter()


render = row_or_decline(resources.customer)


@router.post("/customers")
@operation(
    "Create a customer",
    ok=shapes.Customer,
    body=CustomerParams,
    declines=True,
    processor=True,
    scenario=True,
)
async def create_customer(request: Request) -> Response:
    scenario = request.headers.get("komoju-scenario")

    def make(rt, caller, body):  # type: ignore[no-untyped-def]
        check_scenario(scenario, caller.livemode)
        return customers.create(rt, caller, parse(CustomerParams, body()), scenario)

    return await phased(request, make, render)


@router.get("/customers")
@operation("List customers", ok=shapes.ListPage[shapes.Customer], query=ListParams)
async def list_customers(request: Request) -> Response:
    async def run(conn, rt, caller):  # type: ignore[no-untyped-def]
        params = parse(ListParams, query(request))
        total, rows = await customers.listing(conn, caller, params)
        return total, rows, params

    def render_list(rt: Runtime, result: Any) -> Rendered:
        total, rows, params = result
        data = [resources.customer(r) for r in rows]
        return ok(resources.listing(data, total, params, rt.now()))

    return await read(request, run, render_list)


@router.get("/customers/{customer_id}")
@operation("Show a customer", ok=shapes.Customer)
async def show_customer(request: Request, customer_id: str) -> Response:
    return await read(
        request, lambda conn, rt, caller: customers.get(conn, caller, customer_id), render
    )


@router.patch("/customers/{customer_id}")
@router.post("/customers/{customer_id}")
@operation(
    "Update a customer", ok=shapes.Customer, body=CustomerParams, declines=True, processor=True
)
async def update_customer(request: Request, customer_id: str) -> Response:
    return await phased(
        request,
        lambda rt, caller, body: customers.update(
            rt, caller, customer_id, parse(CustomerParams, body())
        ),
        render,
    )


@router.delete("/customers/{customer_id}")
@operation("Delete a customer", ok=shapes.Customer)
async def delete_customer(request: Request, customer_id: str) -> Response:
    return await write(
        request,
        lambda conn, rt, caller, body: customers.delete(conn, rt, caller, customer_id),
        render,
    )
