"""Settlements: statements of a merchant mode's ledger, one per currency and cycle.

Each merchant mode has a schedule (`ledger_settings`: daily, weekly or monthly, cycles
ending at midnight in Japan) and its next cut-off. When the cut-off has passed (on the
merchant's test clock in test mode, the real time in live mode), `run_due` settles that
cycle in ONE short transaction:

1. claim the cut-off: a conditional update moving `next_cutoff_at` from it to the next one
   (`store.ledger_settings.claim_cutoff`); a lost claim means another runner settled it;
2. per currency with unsettled transactions before the cut-off: stamp the new
   settlement's id on them (only where none is set yet), sum what now carries it, record
   the settlement and its `settlement.created` event.

A schedule far behind (a worker that was down, a clock moved months) is settled one
cut-off at a time, each in its own transaction, until the next cut-off is in the future.
A settlement moves no money: kessai pays no bank, so it is the statement of what is owed
and stays `pending`; money leaves only by disbursement. Its totals never change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import ledger as rules
from kessai.core.ledger import JST
from kessai.errors import NotFound
from kessai.ids import new_id
from kessai.schemas import settlements as wire
from kessai.schemas.requests import ListParams
from kessai.services import execute
from kessai.services.due import DueWork, Scope
from kessai.services.runtime import Caller, Runtime
from kessai.store import events, ledger_settings
from kessai.store import ledger as ledger_store
from kessai.store import settlements as store
from kessai.store.tables import ledger_settings as schedules

BATCH = 100
PENDING = "pending"


def reference(settlement_id: str, cutoff: datetime) -> str:
    """A human-readable reference: the cut-off's date in Japan and four characters of
    the id ("KS-20261207-7QX2")."""
    return f"KS-{cutoff.astimezone(JST):%Y%m%d}-{settlement_id[-4:].upper()}"


async def next_due(conn: AsyncConnection, merchant_id: str, after: datetime) -> datetime | None:
    """The merchant's test-mode cut-off, if it is after `after`."""
    return await store.next_cutoff(conn, merchant_id, after)


async def settle_cutoff(conn: AsyncConnection, rt: Runtime, schedule: RowMapping) -> int:
    """Settle the cycle ending at the schedule's cut-off (see the module's docstring);
    how many settlements were made (none if another runner had claimed it)."""
    merchant_id, livemode = schedule["merchant_id"], schedule["livemode"]
    cutoff = schedule["next_cutoff_at"]
    kind = schedule["settlement_schedule"]
    following = rules.next_cutoff(kind, cutoff)
    claimed = await ledger_settings.claim_cutoff(
        conn, merchant_id, livemode, cutoff, following, schedule=kind
    )
    if not claimed:
        return 0
    currencies = await store.unsettled_currencies(conn, merchant_id, livemode, cutoff)
    if not currencies:
        return 0
    name = await store.merchant_name(conn, merchant_id)
    now = rt.now()
    for currency in currencies:
        settlement_id = new_id()
        scope = {"merchant_id": merchant_id, "livemode": livemode, "currency": currency}
        await store.assign(conn, settlement_id, **scope, before=cutoff)
        totals, count = await store.totals_of(conn, settlement_id)
        row: dict[str, Any] = {
            "id": settlement_id,
            **scope,
            "reference": reference(settlement_id, cutoff),
            "status": PENDING,
            "cycle": rules.cycle_name(kind, cutoff),
            "period_start": await store.previous_cutoff(conn, **scope, before=cutoff),
            "cutoff_time": cutoff,
            "totals": totals,
            "amount": rules.net(totals),
            "transaction_count": count,
            "created_at": now,
        }
        await store.insert(conn, row)
        await events.insert(
            conn,
            merchant_id=merchant_id,
            livemode=livemode,
            type="settlement.created",
            data=wire.settlement(row, name, rt.settings.base_url),
            now=now,
        )
    return len(currencies)


def _settling(rt: Runtime, schedule: RowMapping) -> execute.Operation[int]:
    return lambda conn: settle_cutoff(conn, rt, schedule)


async def run_due(rt: Runtime, scope: Scope) -> int:
    """Settle every cycle in `scope` whose cut-off is at or before `rt.now()`, each
    cut-off in a transaction of its own; how many settlements were made."""
    made = 0

    async def due_now(conn: AsyncConnection) -> list[RowMapping]:
        return await store.due(conn, scope.where(schedules), rt.now(), BATCH)

    while due := await execute.read(rt, due_now):
        for schedule in due:
            made += await execute.write(rt, _settling(rt, schedule))
    return made  # logged with the rest of the pass's work (`swept: ...`)


DUE = DueWork("settlements", next_due, run_due)


# Reading them (the API).


async def listing(
    conn: AsyncConnection, caller: Caller, params: ListParams
) -> tuple[int, list[RowMapping]]:
    return await store.page(
        conn,
        caller.merchant_id,
        caller.livemode,
        page=params.page,
        per_page=params.per_page,
        start=params.start_time,
        end=params.end_time,
    )


async def get(conn: AsyncConnection, caller: Caller, settlement_id: str) -> RowMapping:
    row = await store.get(conn, settlement_id, caller.merchant_id, caller.livemode)
    if row is None:
        raise NotFound(f"No settlement {settlement_id!r} exists for this merchant and mode.")
    return row


async def transactions(
    conn: AsyncConnection, caller: Caller, settlement_id: str
) -> list[RowMapping]:
    """The settlement's transactions, oldest first (NotFound if it is not the caller's)."""
    await get(conn, caller, settlement_id)
    return await ledger_store.of_settlement(conn, settlement_id)
