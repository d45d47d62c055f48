"""/api/v1/sessions: create, show, cancel, pay."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import declined, ok, phased, view, write
from kessai.api.openapi import operation
from kessai.schemas import resources, shapes
from kessai.schemas.requests import CreateSession, PaySession, parse
from kessai.services import paying, sessions
from kessai.services.execute import Rendered
from kessai.services.runtime import Runtime

router = APIRouter()


def render_session(rt: Runtime, view: sessions.SessionView) -> Rendered:
    return ok(
        resources.session(
            view.row, base_url=rt.settings.base_url, now=rt.now(), payment_row=view.payment
        )
    )


def render_pay(rt: Runtime, result: paying.PayResult) -> Rendered:
    payment = resources.payment(result.payment) if result.payment is not None else None
    if result.decline is not None:
        return declined(result.decline, {"payment": payment} if payment else {})
    return ok(resources.pay_result(result.session.row["status"], result.redirect_url, payment))


@router.post("/sessions")
@operation("Create a session", ok=shapes.Session, body=CreateSession, scenario=True)
async def create_session(request: Request) -> Response:
    scenario = request.headers.get("komoju-scenario")
    return await write(
        request,
        lambda conn, rt, caller, body: sessions.create(
            conn, rt, caller, parse(CreateSession, body()), scenario
        ),
        render_session,
        store_only=True,
    )


@router.get("/sessions/{session_id}")
@operation("Show a session", ok=shapes.Session, key="publishable")
async def show_session(request: Request, session_id: str) -> Response:
    return await view(
        request,
        lambda rt, caller: sessions.show(rt, caller, session_id),
        render_session,
        secret_only=False,
    )


@router.post("/sessions/{session_id}/cancel")
@operation("Cancel a session", ok=shapes.Session)
async def cancel_session(request: Request, session_id: str) -> Response:
    return await phased(
        request, lambda rt, caller, body: sessions.cancel(rt, caller, session_id), render_session
    )


@router.post("/sessions/{session_id}/pay")
@operation(
    "Pay a session",
    ok=shapes.PayResult,
    key="publishable",
    body=PaySession,
    declines=True,
    processor=True,
)
async def pay_session(request: Request, session_id: str) -> Response:
    return await phased(
        request,
        lambda rt, caller, body: paying.pay(rt, caller, session_id, parse(PaySession, body())),
        render_pay,
        secret_only=False,
    )
