"""/kessai/v1/ledger/settings (kessai's own): the fees and settlement schedule of the
key's merchant and mode, shown and changed (`kessai.services.ledger_settings`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import Body, as_is, read, write
from kessai.api.openapi import operation
from kessai.schemas import settlements as wire
from kessai.schemas.requests import parse
from kessai.services import ledger_settings
from kessai.services.runtime import Caller, Runtime

router = APIRouter()


@router.get("/ledger/settings")
@operation("Show the fees and settlement schedule (kessai)", ok=wire.LedgerSettings)
async def show_ledger_settings(request: Request) -> Response:
    async def run(conn: Any, rt: Runtime, caller: Caller) -> wire.LedgerSettings:
        found = await ledger_settings.view(conn, caller.merchant_id, caller.livemode)
        return wire.ledger_settings(found, caller.livemode)

    return await read(request, run, as_is)


@router.patch("/ledger/settings")
@operation(
    "Change the fees or the settlement schedule (kessai)",
    ok=wire.LedgerSettings,
    body=wire.LedgerSettingsParams,
    description="Of the key's mode. A new fee applies to captures from then on. A new "
    "`settlement_schedule` (`daily`, `weekly`, `monthly`; cycles end at midnight in Japan) "
    "starts at once: `next_cutoff_at` becomes its first cut-off after now, and whatever "
    "is unsettled then goes into that settlement.",
)
async def update_ledger_settings(request: Request) -> Response:
    async def run(conn: Any, rt: Runtime, caller: Caller, body: Body) -> wire.LedgerSettings:
        params = parse(wire.LedgerSettingsParams, body())
        found = await ledger_settings.configure(
            conn,
            rt,
            caller.merchant_id,
            caller.livemode,
            schedule=params.settlement_schedule,
            fees=params.fees,
        )
        return wire.ledger_settings(found, caller.livemode)

    return await write(request, run, as_is, store_only=True)
