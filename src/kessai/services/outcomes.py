"""Phase 3: what a processor's answer does to the payment (and session) it was about.

`apply` is the same whoever learned the outcome: the request that made the call, a retry
of it, or the reconciler (an acquirer's notification uses `settle_attempt` too). It runs in
the transaction that closed the operation, so an outcome is applied exactly once; every
move but a refund's is also conditional on the payment still being held by that operation
(a refund settles the amount it reserved).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import payments as states
from kessai.core.cards import CHARGEBACK_SCENARIOS
from kessai.ids import new_id
from kessai.observe import audit
from kessai.processors.base import (
    Approved,
    AwaitingCustomer,
    Declined,
    NeedsAction,
    OpenOperation,
    Outcome,
    Transaction,
    Vaulted,
)
from kessai.services import charging, ledger, one_click
from kessai.services.runtime import Runtime
from kessai.store import payments as payment_store
from kessai.store import rows
from kessai.store import sessions as session_store
from kessai.store.tables import payments as payments_table
from kessai.store.tables import refunds

# The rows an applied outcome left, as they are now ("payment", "session"): what the
# request's answer is made of, without reading them again.
Seen = dict[str, Mapping[Any, Any]]


def encode(outcome: Any) -> dict[str, Any]:
    if isinstance(outcome, Approved):
        return {"type": "approved", "captured": outcome.captured, "reference": outcome.reference}
    if isinstance(outcome, Declined):
        return {"type": "declined", "code": outcome.code, "message": outcome.message}
    if isinstance(outcome, NeedsAction):
        return {
            "type": "needs_action",
            "state": outcome.state,
            "redirect_url": outcome.redirect_url,
            "reference": outcome.reference,
        }
    if isinstance(outcome, AwaitingCustomer):
        return {
            "type": "awaiting",
            "details": dict(outcome.details),
            "reference": outcome.reference,
        }
    if isinstance(outcome, Vaulted):
        return {"type": "vaulted"}  # the reference is kept where it is used, not here
    raise TypeError(f"not an outcome: {type(outcome).__name__}")


def decode(encoded: Mapping[str, Any]) -> Outcome:
    kind = encoded["type"]
    if kind == "approved":
        return Approved(bool(encoded["captured"]), encoded.get("reference"))
    if kind == "declined":
        return Declined(encoded["code"], encoded["message"])
    if kind == "needs_action":
        return NeedsAction(encoded["state"], encoded.get("redirect_url"), encoded.get("reference"))
    return AwaitingCustomer(encoded.get("details") or {}, encoded.get("reference"))


def decline_of(operation: Mapping[Any, Any]) -> Declined | None:
    """The decline an operation ended with, if it did."""
    outcome = operation["outcome"] or {}
    if outcome.get("type") != "declined":
        return None
    return Declined(outcome["code"], outcome["message"])


def transaction(payment: Mapping[Any, Any], scenario: str | None = None) -> Transaction:
    return Transaction(
        payment["id"],
        payment["payment_type"],
        payment["amount"] + payment["tax"],
        payment["currency"],
        reference=payment["processor_reference"],
        capture=payment["capture_requested"],
        scenario=None if scenario in CHARGEBACK_SCENARIOS else scenario,
    )


async def open_operation(conn: AsyncConnection, operation: Mapping[Any, Any]) -> OpenOperation:
    """How `reconcile` sees an open operation."""
    payment = await payment_store.get(conn, operation["payment_id"])
    assert payment is not None
    request = operation["request"] or {}
    amount = operation["amount"]
    if operation["kind"] == "capture" and amount is not None:
        amount += payment["tax"]  # what the capture asked for: the tax was authorized too
    return OpenOperation(
        operation["kind"],
        transaction(payment, request.get("scenario")),
        amount,
        state=request.get("state"),
        answer=request.get("answer"),
    )


async def apply(
    conn: AsyncConnection,
    rt: Runtime,
    operation: Mapping[Any, Any],
    outcome: Outcome,
    rows_held: Seen | None = None,
) -> Seen:
    """`rows_held`: the payment (and session) as phase 1 left them, held by this operation
    (so unchanged since), when the request that made the call applies it."""
    kind = operation["kind"]
    held = rows_held or {}
    session = held.get("session")
    if session is None and operation["session_id"] is not None:
        # lock order: session first, as pay() does
        session = await session_store.get(conn, operation["session_id"], lock=True)
    payment = held.get("payment") or await payment_store.get(
        conn, operation["payment_id"], lock=True
    )
    if payment is None:
        return {}
    if kind in ("authorize", "complete"):
        expiry_days = (operation["request"] or {}).get("expiry_days")
        seen = await settle_attempt(
            conn, rt, operation["id"], kind, payment, outcome, session, expiry_days
        )
        return seen or {}
    if kind == "capture":
        await _capture(conn, rt, operation, payment, outcome)
    elif kind == "refund":
        await _refund(conn, rt, operation, payment, outcome)
    elif kind == "cancel":
        await _cancel(conn, rt, operation, payment, outcome)
    return {}


async def _move(
    conn: AsyncConnection, operation: Mapping[Any, Any], changes: dict[str, Any]
) -> bool:
    """Change the payment only while this operation still holds it."""
    return await rows.update_where(
        conn,
        payments_table,
        operation["payment_id"],
        [payments_table.c.operation_id == operation["id"]],
        changes,
    )


async def settle_attempt(
    conn: AsyncConnection,
    rt: Runtime,
    operation_id: str | None,
    kind: str,
    payment: Mapping[Any, Any],
    outcome: Outcome,
    session: Mapping[Any, Any] | None,
    expiry_days: int | None = None,
) -> Seen | None:
    """Move a pending payment as its authorization or completion ended (the caller holds
    the session's lock, then the payment's). `operation_id`: the operation holding the
    payment, or None for an acquirer's notice (then nobody may hold it). The rows as they
    are now, or None if the payment was not this operation's to move.

    A success completes the session, unless the session was completed (or closed) some
    other way meanwhile: then the payment is still recorded as it is at the acquirer, and
    does not complete the session (the merchant sees a second captured payment to refund).
    """
    if kind == "authorize":
        changes, event_type = charging.authorize_changes(rt, payment, outcome, expiry_days)
    elif isinstance(outcome, Approved | Declined):
        changes = charging.complete_changes(rt, payment, outcome)
        event_type = charging.event_of(outcome)
    else:  # still waiting on the acquirer's page: let go, stay pending
        changes, event_type = {"operation_id": None}, None
    completes = session is not None and session["status"] == "pending"
    if not completes:
        changes["completes_session"] = None
    held_by = payments_table.c.operation_id
    where = [held_by == operation_id] if operation_id else [held_by.is_(None)]
    if not await rows.update_where(conn, payments_table, payment["id"], where, changes):
        return None
    updated = {**payment, **changes}
    if event_type is not None:
        updated = dict(await charging.record_event(conn, updated, event_type, rt.now(), outcome))
    seen: Seen = {"payment": updated}
    if session is not None:
        seen["session"] = await after_attempt(conn, rt, session, operation_id, updated)
    return seen


async def after_attempt(
    conn: AsyncConnection,
    rt: Runtime,
    session: Mapping[Any, Any],
    operation_id: str | None,
    payment: Mapping[Any, Any],
) -> Mapping[Any, Any]:
    """Release the session and complete it if the payment completes it (saving the card on
    the session's customer first in `customer_payment` mode, and keeping it for one-click
    when the customer asked), in one statement; the session as it is now."""
    from kessai.services.paying import save_customer  # paying imports this module

    now = rt.now()
    completes = payment["completes_session"] == session["id"] and session["status"] == "pending"
    if completes and session["mode"] == "customer_payment" and payment["card_reference"]:
        source = charging.Source(
            "credit_card", payment["payment_details"], fingerprint=payment["card_fingerprint"]
        )
        await save_customer(conn, rt, session, source, payment["card_reference"])
    if completes:
        await one_click.keep(conn, rt, payment)
    await session_store.settle(
        conn, session["id"], operation_id, payment["id"] if completes else None, now
    )
    after = dict(session)
    if operation_id is not None and session["operation_id"] == operation_id:
        after["operation_id"] = None
    if completes:
        after.update(status="completed", completed_at=now, payment_id=payment["id"])
    return after


async def _capture(
    conn: AsyncConnection,
    rt: Runtime,
    operation: Mapping[Any, Any],
    payment: Mapping[Any, Any],
    outcome: Outcome,
) -> None:
    now = rt.now()
    changes = {"status": states.CAPTURED, "amount_captured": operation["amount"]}
    await _moved(conn, operation, payment, outcome, {**changes, "captured_at": now}, now)


async def _cancel(
    conn: AsyncConnection,
    rt: Runtime,
    operation: Mapping[Any, Any],
    payment: Mapping[Any, Any],
    outcome: Outcome,
) -> None:
    changes = {"status": states.CANCELLED, "processor_state": None}
    await _moved(conn, operation, payment, outcome, changes, rt.now())


async def _moved(
    conn: AsyncConnection,
    operation: Mapping[Any, Any],
    payment: Mapping[Any, Any],
    outcome: Outcome,
    changes: dict[str, Any],
    now: Any,
) -> None:
    """A capture or cancel answered: approved, the payment moves (with its event);
    declined, it is only let go."""
    if not isinstance(outcome, Approved):
        await _move(conn, operation, {"operation_id": None})
        return
    changes = {**changes, "updated_at": now, "operation_id": None}
    if await _move(conn, operation, changes):
        event_type = f"payment.{changes['status']}"  # payment.captured, payment.cancelled
        await charging.record_event(conn, {**payment, **changes}, event_type, now)


async def _refund(
    conn: AsyncConnection,
    rt: Runtime,
    operation: Mapping[Any, Any],
    payment: Mapping[Any, Any],
    outcome: Outcome,
) -> None:
    """A refund holds no guard: its amount was reserved in phase 1 and is released here."""
    amount = operation["amount"]
    now = rt.now()
    approved = isinstance(outcome, Approved)
    if not await payment_store.settle_refund(conn, payment["id"], amount, approved, now):
        return
    if not approved:
        return
    refund_id = new_id()
    await rows.insert(
        conn,
        refunds,
        {
            "id": refund_id,
            "payment_id": payment["id"],
            "amount": amount,
            "currency": payment["currency"],
            "description": (operation["request"] or {}).get("description"),
            "created_at": now,
        },
    )
    refunded = await payment_store.get(conn, payment["id"])
    assert refunded is not None
    await ledger.refunded(conn, refunded, refund_id, amount, now)
    full = refunded["status"] == states.REFUNDED
    found_refunds, found_requests = await payment_store.children(conn, [payment["id"]])
    for event_type in ("payment.refund.created", *(["payment.refunded"] if full else [])):
        await charging.record_event(
            conn,
            refunded,
            event_type,
            now,
            refunds=found_refunds[payment["id"]],
            refund_requests=found_requests[payment["id"]],
        )
    audit.refunded(refunded, amount, full=full)
