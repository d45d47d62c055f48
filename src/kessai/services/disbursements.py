"""Disbursements: money leaving a merchant's balance for its bank account (test mode).

Creating one is one transaction: take the balance's lock (`store.ledger.lock_balance`),
then read the balance in a later statement (it sees every disbursement committed before
the lock was granted), refuse what the balance does not cover, else insert the
disbursement (`pending`, due `DELAY` later), book its `disbursement` line (amount + fee +
fee tax, a debit) and record `disbursement.created`. Concurrent disbursements of one
balance queue on that lock, so together they never take more than it holds.

A pending disbursement leaves `pending` exactly once, by a conditional update on its
status, with its ledger line and event in the same transaction:
* when it falls due (the worker, or a test clock moved past `due_at`): `paid`
  (`disbursement.paid`), or, to the documented failing test account `FAILING_ACCOUNT`,
  `failed` with `error` `FAILED_ERROR`, its money given back (`disbursement_reversal`)
  and `disbursement.failed`;
* when the merchant cancels it: `cancelled`, the money given back, `disbursement.cancelled`.
Of a cancel and a payout racing, one wins; the other sees it no longer pending.

kessai has no bank rail: live mode refuses disbursements (403), and there are no fees.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.errors import Forbidden, InsufficientBalance, NotCancellable, NotFound
from kessai.ids import new_id
from kessai.schemas.disbursements import (
    CancelDisbursement,
    CreateDisbursement,
    DisbursementListParams,
    DisbursementReportParams,
    disbursement,
)
from kessai.services import execute
from kessai.services.due import DueWork, Scope
from kessai.services.runtime import Caller, Runtime
from kessai.store import disbursements as store
from kessai.store import events, ledger
from kessai.store.ledger import Line
from kessai.store.tables import disbursements as table

FEE = 0  # decided: kessai charges nothing to disburse
FEE_TAX = 0
DELAY = timedelta(days=1)  # from request to the money on the account, in test mode
FAILING_ACCOUNT = "9999999"  # the test account number whose transfer fails
FAILED_ERROR = "account_not_found"
BATCH = 200
Row = Any


def _scope(caller: Caller) -> dict[str, Any]:
    return {"merchant_id": caller.merchant_id, "livemode": caller.livemode}


def _not_found(disbursement_id: str) -> NotFound:
    return NotFound(f"No disbursement {disbursement_id!r} exists for this merchant and mode.")


async def _record(conn: AsyncConnection, row: Row, type_: str, now: datetime) -> None:
    await events.insert(
        conn,
        merchant_id=row["merchant_id"],
        livemode=row["livemode"],
        type=type_,
        data=disbursement(row),
        now=now,
    )


async def _book(conn: AsyncConnection, row: Row, type_: str, now: datetime) -> None:
    total = int(row["amount"] + row["fee"] + row["fee_tax"])
    await ledger.post(
        conn,
        merchant_id=row["merchant_id"],
        livemode=row["livemode"],
        currency=row["currency"],
        lines=[Line(type_, total, row["id"])],
        happened_at=now,
    )


async def create(
    conn: AsyncConnection, rt: Runtime, caller: Caller, params: CreateDisbursement
) -> dict[str, Any]:
    if caller.livemode:
        raise Forbidden(
            "kessai has no bank transfer rail: disbursements are made in test mode only. "
            "Use your test secret key."
        )
    merchant_id, livemode, currency = caller.merchant_id, caller.livemode, params.currency
    await ledger.lock_balance(conn, merchant_id, livemode, currency)
    available = await ledger.balance(conn, merchant_id, livemode, currency)
    total = params.amount + FEE + FEE_TAX
    if total > available:
        raise InsufficientBalance(
            f"amount ({params.amount}, with fees {total}) is more than the available "
            f"{currency} balance ({available}): disburse at most {max(available, 0)}.",
            param="amount",
            details={"available_balance": available, "requested": total},
        )
    now = rt.now()
    row = {
        "id": new_id(),
        **_scope(caller),
        "currency": currency,
        "amount": params.amount,
        "fee": FEE,
        "fee_tax": FEE_TAX,
        "status": store.PENDING,
        "bank_code": params.bank_code,
        "branch_code": params.branch_code,
        "account_type": params.account_type,
        "account_number": params.account_number,
        "account_name_kana": params.account_name_kana,
        "external_id": params.external_id or None,
        "error": None,
        "cancel_reason": None,
        "due_at": now + DELAY,
        "created_at": now,
        "updated_at": now,
    }
    await store.insert(conn, row)
    await _book(conn, row, "disbursement", now)
    await _record(conn, row, "disbursement.created", now)
    return row


async def get(conn: AsyncConnection, caller: Caller, disbursement_id: str) -> RowMapping:
    row = await store.get(conn, disbursement_id, **_scope(caller))
    if row is None:
        raise _not_found(disbursement_id)
    return row


async def listing(
    conn: AsyncConnection, caller: Caller, params: DisbursementListParams
) -> tuple[int, list[RowMapping]]:
    return await store.page(
        conn,
        **_scope(caller),
        currency=params.currency,
        page=params.page,
        per_page=params.per_page,
        start=params.start_time,
        end=params.end_time,
    )


async def report(
    conn: AsyncConnection, caller: Caller, params: DisbursementReportParams
) -> list[RowMapping]:
    return await store.report(
        conn,
        **_scope(caller),
        currency=params.currency,
        status=params.status,
        start=params.start_time,
        end=params.end_time,
    )


async def cancel(
    conn: AsyncConnection,
    rt: Runtime,
    caller: Caller,
    disbursement_id: str,
    params: CancelDisbursement,
) -> RowMapping:
    """Cancel a pending disbursement, giving its money back; a cancelled one is returned
    unchanged; a paid or failed one cannot be cancelled."""
    row = await store.get(conn, disbursement_id, lock=True, **_scope(caller))
    if row is None:
        raise _not_found(disbursement_id)
    now = rt.now()
    moved = None
    if row["status"] == store.PENDING:
        values = {"cancel_reason": params.cancel_reason, "updated_at": now}
        moved = await store.move(conn, disbursement_id, "cancelled", values)
        if moved is None:  # moved meanwhile: answer for what it is now
            row = await get(conn, caller, disbursement_id)
    if moved is not None:
        await _book(conn, moved, "disbursement_reversal", now)
        await _record(conn, moved, "disbursement.cancelled", now)
        return moved
    if row["status"] == "cancelled":
        return row
    raise NotCancellable(
        f"Disbursement {disbursement_id!r} is {row['status']}: only a pending disbursement "
        "can be cancelled.",
        details={"status": row["status"]},
    )


async def _pay_out(conn: AsyncConnection, row: Row, now: datetime) -> bool:
    """Pay (or, to the failing test account, fail) one due disbursement: True if this
    runner moved it."""
    if row["account_number"] == FAILING_ACCOUNT:
        moved = await store.move(
            conn, row["id"], "failed", {"error": FAILED_ERROR, "updated_at": now}
        )
        if moved is None:
            return False
        await _book(conn, moved, "disbursement_reversal", now)
        await _record(conn, moved, "disbursement.failed", now)
        return True
    moved = await store.move(conn, row["id"], "paid", {"updated_at": now})
    if moved is None:
        return False
    await _record(conn, moved, "disbursement.paid", now)
    return True


async def next_due(conn: AsyncConnection, merchant_id: str, after: datetime) -> datetime | None:
    return await store.next_due(conn, merchant_id, after)


async def run_due(rt: Runtime, scope: Scope, *, batch: int = BATCH) -> int:
    """Pay out the disbursements in `scope` due at `rt.now()`, each in a transaction of its
    own (a batch's reversals in one transaction would lock balance slots in an order
    another runner's batch may reverse: a deadlock); how many were moved."""
    total = 0
    while True:
        now = rt.now()

        async def due(conn: AsyncConnection, now: datetime = now) -> Sequence[RowMapping]:
            return await store.due(conn, scope.where(table), now, batch)

        found = await execute.read(rt, due)
        moved = 0
        for row in found:

            async def pay(conn: AsyncConnection, row: Row = row, now: datetime = now) -> bool:
                return await _pay_out(conn, row, now)

            moved += await execute.write(rt, pay)
        total += moved
        if len(found) < batch or moved == 0:
            return total


DUE = DueWork("disbursements", next_due, run_due)
