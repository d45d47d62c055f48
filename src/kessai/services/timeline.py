"""A payment as the dashboard shows it: its facts, the actions its state allows, its
timeline (events, refunds, the chargeback and its steps, ledger lines) in time order, and
the calls made to its processor.

The timeline's times are the merchant's clock (a test clock in test mode); a processor
call's `created_at` is the real time (`rt.clock()`), so the calls are listed apart, in
their own order, never sorted among the timeline's entries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import payments as states
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.core.payments import left_to_refund
from kessai.errors import NotFound
from kessai.services import execute
from kessai.services.chargebacks import disputable
from kessai.services.runtime import Caller, Runtime
from kessai.store import payments as payment_store
from kessai.store import timeline as store

Row = Mapping[Any, Any]
# Ties in time keep this order.
ORDER = ("event", "refund", "refund_request", "chargeback", "ledger")


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # one of ORDER
    what: str  # the event type, the ledger type, the chargeback step
    ref: str | None = None  # the id of the row the entry is
    amount: int | None = None  # minor units, signed for ledger lines
    note: str | None = None  # a description, a status


@dataclass(frozen=True)
class Call:
    """A call to the processor, at the real time it was made (not the test clock)."""

    at: datetime
    kind: str  # authorize | capture | refund | cancel ...
    ref: str
    amount: int | None
    outcome: str  # open | done | declined: <code> | the outcome's type


@dataclass(frozen=True)
class PaymentPage:
    payment: Row
    chargeback: Row | None
    refund_requests: Sequence[Row]
    timeline: list[Entry]
    calls: list[Call]  # real time, oldest first: apart from `timeline`
    refundable: int  # what a refund may still take
    actions: frozenset[str]  # capture | refund | cancel | simulate | chargeback


def actions(payment: Row, chargeback: Row | None) -> frozenset[str]:
    """The dashboard's actions this payment's state allows (the services check again)."""
    kind = PAYMENT_TYPES[payment["payment_type"]].kind
    status, test = payment["status"], not payment["livemode"]
    simulated = payment["processor"] == "simulated"
    found: set[str] = set()
    if status in (states.PENDING, states.AUTHORIZED):
        found.add("cancel")
    if status == states.AUTHORIZED and kind != "cash":
        found.add("capture")
    if status == states.AUTHORIZED and kind == "cash" and test and simulated:
        found.add("simulate")
    refundable = kind != "cash" and not payment["amount_disputed"] and left_to_refund(payment) > 0
    if status == states.CAPTURED and refundable:
        found.add("refund")
    card = payment["payment_type"] == "credit_card"
    open_to_dispute = disputable(payment) > 0 and not payment["refund_reserved"]
    if test and status == states.CAPTURED and card and chargeback is None and open_to_dispute:
        found.add("chargeback")
    return frozenset(found)


def _operation_note(operation: Row) -> str:
    outcome = operation["outcome"] or {}
    if operation["status"] != "done":
        return "open"
    if outcome.get("type") == "declined":
        return f"declined: {outcome.get('code')}"
    return str(outcome.get("type") or "done")


def calls(operations: Sequence[Row]) -> list[Call]:
    return [
        Call(o["created_at"], o["kind"], o["id"], o["amount"], _operation_note(o))
        for o in operations
    ]


def entries(
    events: Sequence[Row],
    refunds: Sequence[Row],
    refund_requests: Sequence[Row],
    chargeback: Row | None,
    ledger: Sequence[Row],
) -> list[Entry]:
    """Everything that happened to the payment, oldest first."""
    found = [Entry(e["created_at"], "event", e["type"], e["id"]) for e in events]
    found += [
        Entry(r["created_at"], "refund", "refund", r["id"], r["amount"], r["description"])
        for r in refunds
    ]
    found += [
        Entry(
            r["created_at"], "refund_request", "refund_request", r["id"], r["amount"], r["status"]
        )
        for r in refund_requests
    ]
    if chargeback is not None:
        for step in chargeback["timeline"] or []:
            at = datetime.fromisoformat(str(step["occurred_at"]).replace("Z", "+00:00"))
            found.append(Entry(at, "chargeback", str(step["type"]), chargeback["id"]))
    found += [
        Entry(t["happened_at"], "ledger", t["type"], t["id"], t["amount"], t["settlement_id"])
        for t in ledger
    ]
    return sorted(found, key=lambda e: (e.at, ORDER.index(e.kind)))


async def load(conn: AsyncConnection, caller: Caller, payment_id: str) -> PaymentPage:
    scope = (caller.merchant_id, caller.livemode)
    payment = await payment_store.get(
        conn, payment_id, merchant_id=caller.merchant_id, livemode=caller.livemode
    )
    if payment is None:
        raise NotFound(f"No payment {payment_id!r} exists for this merchant and mode.")
    chargeback = await store.chargeback_of(conn, *scope, payment_id)
    about = [payment_id] + ([chargeback["id"]] if chargeback is not None else [])
    requests = await store.refund_requests_of(conn, payment_id)
    timeline = entries(
        await store.events_about(conn, *scope, about),
        await store.refunds_of(conn, payment_id),
        requests,
        chargeback,
        await store.ledger_lines(conn, *scope, payment_id),
    )
    return PaymentPage(
        payment,
        chargeback,
        requests,
        timeline,
        calls(await store.operations_of(conn, *scope, payment_id)),
        max(0, left_to_refund(payment)),
        actions(payment, chargeback),
    )


async def show(rt: Runtime, caller: Caller, payment_id: str) -> PaymentPage:
    """The payment's page, if it is the caller's merchant's in the caller's mode."""
    return await execute.read(rt, lambda conn: load(conn, caller, payment_id))
