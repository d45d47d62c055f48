"""Dashboard pages: balances and settlements (and a settlement's CSV).

The figures are the API's: a balance is `schemas.settlements.balance` of what
`services.balances.show` reads, a settlement is `settlement_show` of `services.settlements.get`,
and the CSV is `settlement_csv` of `services.settlements.transactions`, exactly as
`GET /api/v1/balances/{currency}`, `/api/v1/settlements/{id}` and its `/csv` build them.
The lists are keyset pages of the viewer's merchant and mode (`store.ledger_pages`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from kessai.core import rules
from kessai.dashboard.auth import CurrentViewer, runtime
from kessai.dashboard.lists import cursor
from kessai.dashboard.render import show
from kessai.errors import NotFound
from kessai.hosted.pages import SECURITY_HEADERS
from kessai.schemas import settlements as wire
from kessai.services import balances, execute, settlements
from kessai.store import ledger_pages

router = APIRouter()

# What a balance or a settlement is made of, as the API's fields name it (a dotted path
# into its JSON), with the label shown for it.
BREAKDOWN = (
    ("payments.captured_amount_total_cents", "Captured payments"),
    ("payments.processing_fees_cents", "Processing fees"),
    ("payments.total_cents", "Payments after fees"),
    ("refunds.total_cents", "Refunds"),
    ("corrections.chargebacks_total_cents", "Chargebacks"),
    ("corrections.chargeback_reversals_total_cents", "Chargebacks reversed"),
    ("disbursements.total_cents", "Disbursements"),
)
BALANCE_TOTALS = (
    ("total_balance_cents", "Balance"),
    ("unsettled_balance_cents", "Not yet in a settlement"),
)
SETTLEMENT_TOTALS = (
    ("transaction_amount_cents", "Transactions"),
    ("fee_amount_cents", "Fees"),
    ("settlement_amount_cents", "Settlement amount"),
    ("remittance_amount_cents", "Remittance amount"),
)
SETTLEMENT_STATUSES = {"pending": "Not paid out"}  # kessai pays no bank
TYPE_LABELS = {
    "payment": "Payment captured",
    "fee": "Processing fee",
    "refund": "Refund",
    "chargeback": "Chargeback",
    "chargeback_reversal": "Chargeback reversed",
    "disbursement": "Disbursement",
    "disbursement_reversal": "Disbursement returned",
}


def field(body: Mapping[str, Any], path: str) -> int:
    value: Any = body
    for part in path.split("."):
        value = value[part]
    return int(value)


def lines(body: Mapping[str, Any], totals: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """The rows of a breakdown table: {field (the API's), label, amount, total}: `totals`
    first (shown bold), then what they are made of."""
    return [
        {"field": path, "label": label, "amount": field(body, path), "total": group is totals}
        for group in (totals, BREAKDOWN)
        for path, label in group
    ]


def settlement_id_of(value: str) -> str:
    if not rules.is_id(value):
        raise NotFound(f"No settlement {value!r} exists for this merchant and mode.")
    return value


@router.get("/dashboard/balances")
async def balance_page(request: Request, who: CurrentViewer) -> Response:
    rt = runtime(request)
    asked = request.query_params.get("currency", "").strip()
    chosen = balances.currency_of(asked) if asked else None  # unknown code: 422 naming it
    at = cursor(request)
    caller = who.caller

    async def read(conn: AsyncConnection) -> dict[str, Any]:
        held = await ledger_pages.currencies(conn, caller.merchant_id, caller.livemode)
        shown = []
        for code in held:
            totals, unsettled = await balances.show(conn, caller, code)
            shown.append(wire.balance(code, totals, unsettled))
        currency = chosen or ("JPY" if "JPY" in held else (held[0] if held else None))
        page = None
        if currency is not None:
            page = await ledger_pages.transactions(
                conn,
                caller.merchant_id,
                caller.livemode,
                currency,
                before=at.before,
                after=at.after,
            )
        return {"held": held, "balances": shown, "currency": currency, "page": page}

    found = await execute.read(rt, read)
    return show(
        request,
        who,
        "balances.html",
        balances=[
            {"currency": body["currency"], "lines": lines(body, BALANCE_TOTALS)}
            for body in found["balances"]
        ],
        held=found["held"],
        currency=found["currency"],
        page=found["page"],
        type_labels=TYPE_LABELS,
    )


@router.get("/dashboard/settlements")
async def settlement_list(request: Request, who: CurrentViewer) -> Response:
    at = cursor(request)
    caller = who.caller
    found = await execute.read(
        runtime(request),
        lambda conn: ledger_pages.settlement_page(
            conn, caller.merchant_id, caller.livemode, before=at.before, after=at.after
        ),
    )
    return show(
        request, who, "settlements.html", page=found, settlement_statuses=SETTLEMENT_STATUSES
    )


@router.get("/dashboard/settlements/{settlement_id}")
async def settlement_detail(request: Request, settlement_id: str, who: CurrentViewer) -> Response:
    rt = runtime(request)
    settlement_id_of(settlement_id)
    at = cursor(request)
    caller = who.caller

    async def read(conn: AsyncConnection) -> dict[str, Any]:
        row = await settlements.get(conn, caller, settlement_id)  # another's: 404
        page = await ledger_pages.transactions(
            conn,
            caller.merchant_id,
            caller.livemode,
            row["currency"],
            settlement_id=settlement_id,
            before=at.before,
            after=at.after,
        )
        return {"row": row, "page": page}

    found = await execute.read(rt, read)
    row = found["row"]
    body = wire.settlement_show(row, caller.merchant_name, rt.settings.base_url)
    return show(
        request,
        who,
        "settlement.html",
        s=body,
        row=row,
        lines=lines(body, SETTLEMENT_TOTALS),
        page=found["page"],
        type_labels=TYPE_LABELS,
        settlement_statuses=SETTLEMENT_STATUSES,
    )


@router.get("/dashboard/settlements/{settlement_id}/csv")
async def settlement_csv(request: Request, settlement_id: str, who: CurrentViewer) -> Response:
    """The same CSV as `GET /api/v1/settlements/{id}/csv`, as a download."""
    settlement_id_of(settlement_id)
    found = await execute.read(
        runtime(request), lambda conn: settlements.transactions(conn, who.caller, settlement_id)
    )
    return Response(
        wire.settlement_csv(found),
        media_type="text/csv",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="settlement-{settlement_id}.csv"',
        },
    )
