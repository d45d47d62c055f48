"""/api/v1/payments: create, show, list, update, capture, refund, cancel, refund_request."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import declined, ok, phased, query, read, write
from kessai.api.openapi import operation
from kessai.schemas import resources, shapes
from kessai.schemas.requests import (
    CapturePayment,
    CreatePayment,
    CreateRefundRequest,
    PaymentListParams,
    RefundPayment,
    UpdatePayment,
    parse,
)
from kessai.services import payments
from kessai.services.execute import Rendered
from kessai.services.runtime import Runtime

router = APIRouter()


def body_of(view: payments.PaymentView) -> resources.Payment:
    return resources.payment(view.row, view.refunds, view.refund_requests)


def render(rt: Runtime, view: payments.PaymentView) -> Rendered:
    if view.decline is not None:
        return declined(view.decline, {"payment": body_of(view)})
    return ok(body_of(view))


def render_list(rt: Runtime, result: tuple[int, list[payments.PaymentView], Any]) -> Rendered:
    total, views, params = result
    data = [body_of(v) for v in views]
    return ok(resources.listing(data, total, params, rt.now()))


@router.post("/payments")
@operation(
    "Create a payment",
    ok=shapes.Payment,
    body=CreatePayment,
    declines=True,
    processor=True,
    scenario=True,
)
async def create_payment(request: Request) -> Response:
    scenario = request.headers.get("komoju-scenario")
    return await phased(
        request,
        lambda rt, caller, body: payments.create(
            rt, caller, parse(CreatePayment, body()), scenario
        ),
        render,
    )


@router.get("/payments")
@operation("List payments", ok=shapes.ListPage[shapes.Payment], query=PaymentListParams)
async def list_payments(request: Request) -> Response:
    async def run(conn, rt, caller):  # type: ignore[no-untyped-def]
        params = parse(PaymentListParams, query(request))
        total, views = await payments.listing(conn, caller, params)
        return total, views, params

    return await read(request, run, render_list)


@router.get("/payments/{payment_id}")
@operation("Show a payment", ok=shapes.Payment)
async def show_payment(request: Request, payment_id: str) -> Response:
    return await read(
        request, lambda conn, rt, caller: payments.get(conn, caller, payment_id), render
    )


@router.patch("/payments/{payment_id}")
@operation("Update a payment", ok=shapes.Payment, body=UpdatePayment)
async def update_payment(request: Request, payment_id: str) -> Response:
    return await write(
        request,
        lambda conn, rt, caller, body: payments.update(
            conn, rt, caller, payment_id, parse(UpdatePayment, body())
        ),
        render,
    )


@router.post("/payments/{payment_id}/capture")
@operation(
    "Capture a payment",
    ok=shapes.Payment,
    body=CapturePayment,
    declines=True,
    processor=True,
    scenario=True,
)
async def capture_payment(request: Request, payment_id: str) -> Response:
    scenario = request.headers.get("komoju-scenario")
    return await phased(
        request,
        lambda rt, caller, body: payments.capture(
            rt, caller, payment_id, parse(CapturePayment, body()), scenario
        ),
        render,
    )


@router.post("/payments/{payment_id}/refund")
@operation(
    "Refund a payment",
    ok=shapes.Payment,
    body=RefundPayment,
    declines=True,
    processor=True,
    scenario=True,
)
async def refund_payment(request: Request, payment_id: str) -> Response:
    scenario = request.headers.get("komoju-scenario")
    return await phased(
        request,
        lambda rt, caller, body: payments.refund(
            rt, caller, payment_id, parse(RefundPayment, body()), scenario
        ),
        render,
    )


@router.post("/payments/{payment_id}/cancel")
@operation("Cancel a payment", ok=shapes.Payment, declines=True, processor=True, scenario=True)
async def cancel_payment(request: Request, payment_id: str) -> Response:
    scenario = request.headers.get("komoju-scenario")
    return await phased(
        request, lambda rt, caller, body: payments.cancel(rt, caller, payment_id, scenario), render
    )


@router.post("/payments/{payment_id}/refund_request")
@operation("Request a bank refund", ok=shapes.Payment, body=CreateRefundRequest, processor=True)
async def refund_request(request: Request, payment_id: str) -> Response:
    return await write(
        request,
        lambda conn, rt, caller, body: payments.refund_request(
            conn, rt, caller, payment_id, parse(CreateRefundRequest, body())
        ),
        render,
    )
