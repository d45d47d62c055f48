"""/api/v1/settlements: list, show, and the CSV of a settlement's transactions (KOMOJU's
SettlementsApi). PDF and XLS are not made: they answer 404 `format_unavailable`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.auth import authenticate
from kessai.api.common import as_is, check_edge, query, read, runtime
from kessai.api.openapi import operation
from kessai.errors import FormatUnavailable
from kessai.schemas import settlements as wire
from kessai.schemas.requests import ListParams, parse
from kessai.services import execute, settlements
from kessai.services.runtime import Caller, Runtime

router = APIRouter()


@router.get("/settlements")
@operation(
    "List settlements",
    ok=wire.SettlementList,
    query=ListParams,
    description="Newest first. A settlement is the statement of one cycle of the key's "
    "merchant and mode in one currency: every balance transaction before its "
    "`cutoff_time` that no earlier settlement covers. kessai pays no bank: settlements "
    "stay `pending`; money leaves by disbursement.",
)
async def list_settlements(request: Request) -> Response:
    async def run(conn: Any, rt: Runtime, caller: Caller) -> wire.SettlementList:
        params = parse(ListParams, query(request))
        total, found = await settlements.listing(conn, caller, params)
        base = rt.settings.base_url
        data = [wire.settlement(row, caller.merchant_name, base) for row in found]
        return wire.settlement_list(data, total, params, rt.now())

    return await read(request, run, as_is)


@router.get("/settlements/{settlement_id}")
@operation("Show a settlement", ok=wire.SettlementShow)
async def show_settlement(request: Request, settlement_id: str) -> Response:
    async def run(conn: Any, rt: Runtime, caller: Caller) -> wire.SettlementShow:
        row = await settlements.get(conn, caller, settlement_id)
        return wire.settlement_show(row, caller.merchant_name, rt.settings.base_url)

    return await read(request, run, as_is)


@router.get("/settlements/{settlement_id}/csv")
@operation(
    "A settlement's transactions as CSV",
    ok=str,
    media_type="text/csv",
    description="A header line (`" + ",".join(wire.CSV_COLUMNS) + "`), then one line per "
    "balance transaction of the settlement, oldest first; `amount` is signed, in the "
    "currency's minor unit, and the amounts add up to `settlement_amount_cents`.",
)
async def show_settlement_csv(request: Request, settlement_id: str) -> Response:
    rt = runtime(request)
    caller = await authenticate(rt, request, secret_only=True)
    check_edge(request)
    found = await execute.read(
        rt, lambda conn: settlements.transactions(conn, caller, settlement_id)
    )
    return Response(
        wire.settlement_csv(found),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="settlement-{settlement_id}.csv"'},
    )


async def _unavailable(request: Request, settlement_id: str, kind: str) -> Response:
    async def run(conn: Any, rt: Runtime, caller: Caller) -> None:
        await settlements.get(conn, caller, settlement_id)  # an unknown one is not_found
        raise FormatUnavailable(
            f"kessai makes settlements as CSV only, not {kind}: "
            f"GET /api/v1/settlements/{settlement_id}/csv"
        )

    return await read(request, run, as_is)


UNAVAILABLE = (
    "kessai makes settlements as CSV only: this answers 404 `format_unavailable` for a "
    "settlement that exists (and `not_found` for one that does not)."
)


@router.get("/settlements/{settlement_id}/pdf")
@operation(
    "A settlement as PDF (not made: CSV only)",
    ok=str,
    media_type="application/pdf",
    description=UNAVAILABLE,
)
async def show_settlement_pdf(request: Request, settlement_id: str) -> Response:
    return await _unavailable(request, settlement_id, "PDF")


@router.get("/settlements/{settlement_id}/xls")
@operation(
    "A settlement as XLS (not made: CSV only)",
    ok=str,
    media_type="application/vnd.ms-excel",
    description=UNAVAILABLE,
)
async def show_settlement_xls(request: Request, settlement_id: str) -> Response:
    return await _unavailable(request, settlement_id, "XLS")
