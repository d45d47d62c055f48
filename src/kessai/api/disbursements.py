"""/api/v1/disbursements: create, list, show, cancel, and the CSV report.

`/disbursements/report` is declared before `/disbursements/{disbursement_id}`, so it is
never taken for an id.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import ok, query, read, write
from kessai.api.openapi import operation
from kessai.schemas import disbursements as schema
from kessai.schemas.requests import parse
from kessai.services import disbursements
from kessai.services.execute import Rendered
from kessai.services.runtime import Runtime

router = APIRouter()


def render(rt: Runtime, row: Any) -> Rendered:
    return ok(schema.disbursement(row))


@router.post("/disbursements")
@operation(
    "Create a disbursement",
    ok=schema.Disbursement,
    body=schema.CreateDisbursement,
    description="Pays `amount` (JPY) from the balance to a Japanese bank account: refused "
    "with 422 `insufficient_balance` (param `amount`) when the balance does not cover it. "
    "In test mode it is paid a day later on the test clock (`disbursement.paid`); to account "
    "number `9999999` it fails (`error` `account_not_found`, the money given back, "
    "`disbursement.failed`). Live mode: 403 `forbidden` (kessai has no bank rail). No fees.",
)
async def create_disbursement(request: Request) -> Response:
    return await write(
        request,
        lambda conn, rt, caller, body: disbursements.create(
            conn, rt, caller, parse(schema.CreateDisbursement, body())
        ),
        render,
        store_only=True,
    )


@router.get("/disbursements")
@operation("List disbursements", ok=schema.DisbursementList, query=schema.DisbursementListParams)
async def list_disbursements(request: Request) -> Response:
    async def run(conn, rt, caller):  # type: ignore[no-untyped-def]
        params = parse(schema.DisbursementListParams, query(request))
        total, rows = await disbursements.listing(conn, caller, params)
        return total, rows, params

    def render_list(rt: Runtime, result: Any) -> Rendered:
        total, rows, params = result
        data = [schema.disbursement(row) for row in rows]
        return ok(schema.disbursement_list(data, total, params, rt.now()))

    return await read(request, run, render_list)


@router.get("/disbursements/report")
@operation(
    "Disbursements as CSV",
    ok=str,
    query=schema.DisbursementReportParams,
    media_type="text/csv",
    description="Every disbursement matching (created between `start_time` and `end_time`, "
    "of `currency`, with `status`), oldest first, one CSV line each under a header line: "
    + ",".join(schema.REPORT_COLUMNS)
    + ". UTF-8, CRLF line ends; amounts in minor units; text a spreadsheet would run as a "
    "formula starts with an apostrophe.",
)
async def disbursement_report(request: Request) -> Response:
    async def run(conn, rt, caller):  # type: ignore[no-untyped-def]
        params = parse(schema.DisbursementReportParams, query(request))
        return await disbursements.report(conn, caller, params)

    def render_csv(rt: Runtime, rows: Any) -> Rendered:
        return 200, schema.report_csv(rows).encode()

    response = await read(request, run, render_csv, media_type="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="disbursements.csv"'
    return response


@router.get("/disbursements/{disbursement_id}")
@operation("Show a disbursement", ok=schema.Disbursement)
async def show_disbursement(request: Request, disbursement_id: str) -> Response:
    return await read(
        request,
        lambda conn, rt, caller: disbursements.get(conn, caller, disbursement_id),
        render,
    )


@router.post("/disbursements/{disbursement_id}/cancel")
@operation(
    "Cancel a pending disbursement",
    ok=schema.Disbursement,
    body=schema.CancelDisbursement,
    description="Only while `pending`: the money goes back to the balance "
    "(`disbursement.cancelled`). Cancelling a cancelled disbursement returns it unchanged; "
    "a paid or failed one is 422 `not_cancellable`.",
)
async def cancel_disbursement(request: Request, disbursement_id: str) -> Response:
    return await write(
        request,
        lambda conn, rt, caller, body: disbursements.cancel(
            conn, rt, caller, disbursement_id, parse(schema.CancelDisbursement, body())
        ),
        render,
        store_only=True,
    )
