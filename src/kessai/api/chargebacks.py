"""/api/v1/chargeback_requests: list, show, accept, defend (KOMOJU's ChargebacksApi); and
kessai's own /kessai/v1/chargebacks: the test tool that opens one, and each defense's
document."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.auth import authenticate
from kessai.api.body import parse_body
from kessai.api.common import check_edge, ok, query, read, runtime, write
from kessai.api.openapi import operation
from kessai.edge.middleware import DOCUMENT_BODY_BYTES
from kessai.schemas import chargebacks as wire
from kessai.schemas import resources
from kessai.schemas.requests import parse
from kessai.services import chargebacks, execute
from kessai.services.chargebacks import ChargebackView
from kessai.services.execute import Rendered
from kessai.services.runtime import Caller, Runtime

router = APIRouter()
admin = APIRouter()


def render(rt: Runtime, found: ChargebackView) -> Rendered:
    return ok(chargebacks.detail(rt, found))


def done(rt: Runtime, result: None) -> Rendered:
    return 204, b""


def no_content(response: Response) -> Response:
    """KOMOJU's empty answer: 204 without a body or a content type."""
    return Response(status_code=204) if response.status_code == 204 else response


@router.get("/chargeback_requests")
@operation(
    "List chargebacks",
    ok=wire.ChargebackRequestList,
    query=wire.ChargebackListParams,
    description="Pending chargebacks first, then the others; newest first within each. "
    "`start_time`/`end_time` bound `created_at`, `due_date_start`/`due_date_end` the due date.",
)
async def list_chargeback_requests(request: Request) -> Response:
    async def run(conn: Any, rt: Runtime, caller: Caller) -> wire.ChargebackRequestList:
        params = parse(wire.ChargebackListParams, query(request))
        total, found = await chargebacks.listing(conn, caller, params)
        data = [wire.list_item(v.row, v.payment) for v in found]
        return resources.listing(data, total, params, rt.now())

    return await read(request, run, lambda rt, body: ok(body))


@router.get("/chargeback_requests/{chargeback_id}")
@operation("Show a chargeback", ok=wire.ChargebackRequestDetail)
async def show_chargeback_request(request: Request, chargeback_id: str) -> Response:
    return await read(
        request, lambda conn, rt, caller: chargebacks.get(conn, caller, chargeback_id), render
    )


@router.post("/chargeback_requests/{chargeback_id}/accept")
@operation(
    "Accept a chargeback",
    ok=None,
    description="Only while it is pending and before its due date; the disputed money "
    "stays with the cardholder. Accepting an accepted chargeback answers 204 again.",
)
async def accept_chargeback_request(request: Request, chargeback_id: str) -> Response:
    response = await write(
        request,
        lambda conn, rt, caller, body: chargebacks.accept(conn, rt, caller, chargeback_id),
        done,
        store_only=True,
    )
    return no_content(response)


@router.post("/chargeback_requests/{chargeback_id}/defend")
@operation(
    "Defend a chargeback",
    ok=None,
    body=wire.DefendChargeback,
    description="Only while it is pending and before its due date; one defense per "
    "chargeback (defending a defended one answers 204 and keeps the first). "
    "`document.document_base64`: a PDF, JPEG, PNG or GIF file of at most 15 MB, its type "
    "read from its bytes. The document is served back at the defense's `documents[].url`.",
)
async def defend_chargeback_request(request: Request, chargeback_id: str) -> Response:
    async def run(conn: Any, rt: Runtime, caller: Caller, body: Any) -> None:
        raw = await request.body()  # read already; a document makes it larger than most
        data = parse_body(request.headers.get("content-type"), raw, max_bytes=DOCUMENT_BODY_BYTES)
        params = parse(wire.DefendChargeback, data)
        await chargebacks.defend(conn, rt, caller, chargeback_id, params)

    return no_content(await write(request, run, done, store_only=True))


@admin.post("/chargebacks")
@operation(
    "Open a chargeback now (test mode, kessai)",
    ok=wire.ChargebackRequestDetail,
    body=wire.OpenChargeback,
    description="Opens a chargeback on a captured card payment at once, as a chargeback "
    "test card does a day after capture. `outcome` is what a defense of it gets 5 days "
    "after it is made: `won` (it ends `cancelled` and the money comes back) or `lost`.",
)
async def open_chargeback(request: Request) -> Response:
    return await write(
        request,
        lambda conn, rt, caller, body: chargebacks.open_now(
            conn, rt, caller, parse(wire.OpenChargeback, body())
        ),
        render,
        store_only=True,
    )


@admin.get("/chargebacks/{chargeback_id}/document")
@operation(
    "Download a chargeback defense's document (kessai)",
    ok=bytes,
    media_type=tuple(sorted({mime for _, mime, _ in wire.DOCUMENT_TYPES})),
    description="The file the defense was submitted with, as uploaded (the `url` of the "
    "chargeback's `defense.documents`).",
)
async def show_chargeback_document(request: Request, chargeback_id: str) -> Response:
    rt = runtime(request)
    caller = await authenticate(rt, request, secret_only=True)
    check_edge(request)
    found = await execute.read(rt, lambda conn: chargebacks.document(conn, caller, chargeback_id))
    disposition = f"attachment; filename*=UTF-8''{quote(found.file_name, safe='')}"
    headers = {
        "Content-Disposition": disposition,
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(found.content, media_type=found.content_type, headers=headers)
