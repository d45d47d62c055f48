"""/api/v1/balances/{currency}: the balance and its transactions (KOMOJU's SettlementsApi)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import as_is, query, read
from kessai.api.openapi import operation
from kessai.schemas import settlements as wire
from kessai.schemas.requests import parse
from kessai.services import balances
from kessai.services.runtime import Caller, Runtime

router = APIRouter()


@router.get("/balances/{currency}")
@operation(
    "Show a balance",
    ok=wire.BalanceShow,
    description="Everything the key's merchant and mode holds in `currency`: "
    "`total_balance_cents` is the sum of all its balance transactions, broken down as "
    "KOMOJU does; `unsettled_balance_cents` is the part no settlement covers yet. A "
    "currency without transactions has a balance of zero.",
)
async def show_balance(request: Request, currency: str) -> Response:
    async def run(conn: Any, rt: Runtime, caller: Caller) -> wire.BalanceShow:
        code = balances.currency_of(currency)
        totals, unsettled = await balances.show(conn, caller, code)
        return wire.balance(code, totals, unsettled)

    return await read(request, run, as_is)


@router.get("/balances/{currency}/transactions")
@operation(
    "List balance transactions",
    ok=wire.BalanceTransactionList,
    query=wire.TransactionListParams,
    description="Newest first. Amounts are signed: credits (`payment`, "
    "`chargeback_reversal`, `disbursement_reversal`) positive, debits (`fee`, `refund`, "
    "`chargeback`, `disbursement`) negative. `start_time`/`end_time` bound `happened_at`.",
)
async def list_balance_transactions(request: Request, currency: str) -> Response:
    async def run(conn: Any, rt: Runtime, caller: Caller) -> wire.BalanceTransactionList:
        code = balances.currency_of(currency)
        params = parse(wire.TransactionListParams, query(request))
        total, found = await balances.transactions(conn, caller, code, params)
        return wire.transaction_list([wire.transaction(r) for r in found], total, params, rt.now())

    return await read(request, run, as_is)


@router.get("/balances/{currency}/transactions/{transaction_id}")
@operation(
    "Show a balance transaction",
    ok=list[wire.Transaction],
    description="An array, as KOMOJU's SDK types it; kessai's transactions are single "
    "lines, so it holds the one transaction.",
)
async def show_balance_transaction(
    request: Request, currency: str, transaction_id: str
) -> Response:
    async def run(conn: Any, rt: Runtime, caller: Caller) -> list[wire.Transaction]:
        code = balances.currency_of(currency)
        return [wire.transaction(await balances.transaction(conn, caller, code, transaction_id))]

    return await read(request, run, as_is)
