"""/api/v1/sessions: create, show, cancel, pay."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.auth import authenticate
from kessai.api.common import body_of, idempotency_key, json_response, ok, raw_body, runtime
from kessai.errors import error_body
from kessai.schemas import resources
from kessai.schemas.requests import CreateSession, PaySession, parse
from kessai.services import execute, sessions
from kessai.services.execute import Rendered, dumps
from kessai.services.runtime import Runtime

router = APIRouter()


def _render_session(rt: Runtime, view: sessions.SessionView) -> Rendered:
    return ok(
        resources.session(
            view.row, base_url=rt.settings.base_url, now=rt.clock(), payment_row=view.payment
        )
    )


def _render_pay(result: sessions.PayResult) -> Rendered:
    payment = resources.payment(result.payment) if result.payment is not None else None
    if result.decline is not None:
        details = {"payment": payment} if payment else {}
        return 402, dumps(error_body(result.decline.code, result.decline.message, None, details))
    return ok(resources.pay_result(result.session.row["status"], result.redirect_url, payment))


@router.post("/sessions")
async def create_session(request: Request) -> Response:
    rt = runtime(request)
    caller = await authenticate(rt, request, secret_only=True)
    raw = await raw_body(request)
    key = idempotency_key(request, raw)
    scenario = request.headers.get("komoju-scenario")
    return json_response(
        await execute.run(
            rt,
            caller,
            key,
            lambda conn: sessions.create(
                conn, rt, caller, parse(CreateSession, body_of(request, raw)), scenario
            ),
            lambda view: _render_session(rt, view),
        )
    )


@router.get("/sessions/{session_id}")
async def show_session(request: Request, session_id: str) -> Response:
    rt = runtime(request)
    caller = await authenticate(rt, request, secret_only=False)
    view = await execute.read(rt, lambda conn: sessions.get(conn, caller, session_id))
    return json_response(_render_session(rt, view))


@router.post("/sessions/{session_id}/cancel")
async def cancel_session(request: Request, session_id: str) -> Response:
    rt = runtime(request)
    caller = await authenticate(rt, request, secret_only=True)
    raw = await raw_body(request)
    key = idempotency_key(request, raw)
    return json_response(
        await execute.run(
            rt,
            caller,
            key,
            lambda conn: sessions.cancel(conn, rt, caller, session_id),
            lambda view: _render_session(rt, view),
        )
    )


@router.post("/sessions/{session_id}/pay")
async def pay_session(request: Request, session_id: str) -> Response:
    rt = runtime(request)
    caller = await authenticate(rt, request, secret_only=False)
    raw = await raw_body(request)
    key = idempotency_key(request, raw)
    return json_response(
        await execute.run(
            rt,
            caller,
            key,
            lambda conn: sessions.pay(
                conn, rt, caller, session_id, parse(PaySession, body_of(request, raw))
            ),
            _render_pay,
        )
    )
