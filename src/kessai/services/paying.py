"""Paying a session and finishing a payment after 3-D Secure or a wallet page.

`pay` and `complete_action` are plans for `kessai.services.phases`. Paying exactly once: one
attempt at a time holds the session (`sessions.operation_id`, set with a conditional
update), its status is checked, and completion is a conditional update backed by the
unique `payments.completes_session` column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import payments as payment_states
from kessai.core import sessions as rules
from kessai.errors import InvalidPaymentType, NotFound, SessionNotPayable
from kessai.ids import new_id
from kessai.processors.base import Declined
from kessai.schemas.requests import PaySession
from kessai.services import calls, charging, one_click, outcomes, phases
from kessai.services.customers import store_card
from kessai.services.phases import Busy, Done, Intent, Plan, Prerequisite
from kessai.services.runtime import Caller, Runtime
from kessai.services.sessions import SessionView, return_url_for, scope_of
from kessai.store import payments as payment_store
from kessai.store import sessions as session_store


@dataclass(frozen=True)
class PayResult:
    session: SessionView
    payment: Mapping[Any, Any] | None
    redirect_url: str | None
    decline: Declined | None = None


def pay(
    rt: Runtime,
    caller: Caller | None,
    session_id: str,
    request: PaySession,
    *,
    locale: str | None = None,
    choice: one_click.Choice | None = None,
) -> Plan[PayResult]:
    """Pay (or, in customer modes, register a card on) a session, exactly once.

    Phase 1 holds the session for this one attempt and records the payment `pending`. A
    card to keep (customer modes, or one-click with the customer's consent: `choice`, the
    hosted page's) is vaulted first: phase 1 finds it is needed, and asks for it to be done
    outside any transaction (`Prerequisite`) before it looks again.
    """
    scope = scope_of(caller) if caller else {}
    vaulted: list[str | Declined | None] = []

    async def vault(row: Mapping[Any, Any], source: charging.Source) -> None:
        vaulted.append(await _vault(rt, row, source))

    async def prepare(conn: AsyncConnection) -> Intent | Done[PayResult]:
        row = await session_store.get(conn, session_id, **scope, lock=True)
        if row is None:
            raise NotFound(f"No session {session_id!r} exists for this merchant and mode.")
        now = rt.now()
        rules.check_payable(row["status"], row["expires_at"], now)
        if row["operation_id"] is not None:
            raise Busy()
        processor = await rt.processor(row["merchant_id"], row["livemode"])
        owner = charging.Scope(row["merchant_id"], row["livemode"])
        if choice is not None and choice.saved_card is not None:
            source = await one_click.saved_source(conn, row, choice.saved_card, now)
        else:
            source = await charging.resolve_source(
                conn,
                rt,
                owner,
                payment_details=request.payment_details,
                allowed_types=row["payment_types"],
                email=row["email"],
            )
        keep_for = one_click.keep_for(row, source, choice)
        reference: str | Declined | None = None
        if row["mode"] in rules.CUSTOMER_MODES or keep_for is not None:
            if source.card is None and source.card_reference is None:
                raise InvalidPaymentType(
                    "payment_details: only a card can be saved on a customer",
                    param="payment_details[type]",
                )
            if source.card is not None and not vaulted:
                raise Prerequisite(lambda: vault(row, source))
            reference = vaulted[0] if vaulted else None
            if isinstance(reference, Declined):
                return Done(PayResult(SessionView(row, None), None, None, reference))
            reference = reference or source.card_reference
            if row["mode"] == "customer":
                assert reference is not None
                await save_customer(conn, rt, row, source, reference)
                return Done(await _completed(conn, rt, row, None, now))
        operation_id = new_id()
        if not await session_store.hold(conn, session_id, operation_id):
            raise SessionNotPayable("This session has already been completed.")
        payment_data = row["payment_data"] or {}
        payment, charge = charging.pending_payment(
            rt,
            owner,
            source,
            processor.name,
            operation_id=operation_id,
            amount=row["amount"],
            currency=row["currency"],
            capture=(request.capture or payment_data.get("capture", "auto")) == "auto",
            locale=locale or row["default_locale"],
            session=row,
            external_order_num=row["external_order_num"],
            metadata=row["metadata"],
            mcc=payment_data.get("mcc"),
            scenario=row["scenario"],
            card_reference=reference if isinstance(reference, str) else None,
            customer_id=row["customer_id"],
        )
        payment["keep_card_for"] = keep_for
        await payment_store.insert(conn, payment)
        operation = phases.new_operation(
            rt,
            processor,
            "authorize",
            **owner.kw(),
            operation_id=operation_id,
            payment_id=payment["id"],
            session_id=session_id,
            amount=charge.amount,
            request={"expiry_days": source.expiry_days},
        )
        held: outcomes.Seen = {
            "payment": payment,
            "session": {**row, "operation_id": operation_id},
        }
        return Intent(processor, operation, lambda p, call: p.authorize(call, charge), held)

    return Plan(prepare, presenter(rt))


def presenter(rt: Runtime) -> phases.Present[PayResult]:
    return lambda conn, operation, seen: present(conn, operation, seen, rt.settings.base_url)


async def present(
    conn: AsyncConnection, operation: Mapping[Any, Any], seen: outcomes.Seen, base_url: str
) -> PayResult:
    """What a payment attempt on a session (or a payment's own page) answers."""
    payment = seen.get("payment") or await payment_store.get(conn, operation["payment_id"])
    assert payment is not None
    decline = outcomes.decline_of(operation)
    session = seen.get("session")
    if session is None and payment["session_id"] is not None:
        session = await session_store.get(conn, payment["session_id"])
    if session is None:
        redirect = charging.redirect_of(payment) or payment["return_url"]
        return PayResult(SessionView({}, None), payment, redirect, decline)
    if decline is not None or session["payment_id"] != payment["id"]:
        return PayResult(
            SessionView(session, None), payment, charging.redirect_of(payment), decline
        )
    redirect = charging.redirect_of(payment) or return_url_for(session, base_url)
    return PayResult(SessionView(session, payment), payment, redirect)


async def _vault(
    rt: Runtime, row: Mapping[Any, Any], source: charging.Source
) -> str | Declined | None:
    if source.card_reference is not None:
        return source.card_reference
    if source.card is None:
        return None  # not a card: phase 1 refuses it
    return await calls.vault(
        rt,
        row["merchant_id"],
        row["livemode"],
        source.card,
        verify=row["mode"] == "customer",
        scenario=row["scenario"],
    )


async def save_customer(
    conn: AsyncConnection,
    rt: Runtime,
    row: Mapping[Any, Any],
    source: charging.Source,
    card_reference: str,
) -> None:
    """Create the session's customer, or update the existing one, with the card."""
    await store_card(
        conn,
        rt,
        charging.Scope(row["merchant_id"], row["livemode"]),
        row["customer_id"],
        email=row["email"] or source.summary.get("email") or None,
        summary=source.summary,
        card_reference=card_reference,
        fingerprint=source.fingerprint,
        locale=row["default_locale"],
        currency=row["currency"],
    )


async def _completed(
    conn: AsyncConnection,
    rt: Runtime,
    row: Mapping[Any, Any],
    payment: Mapping[Any, Any] | None,
    now: datetime,
) -> PayResult:
    if not await session_store.complete(conn, row["id"], payment["id"] if payment else None, now):
        raise SessionNotPayable("This session has already been completed.")
    session_row = await session_store.get(conn, row["id"])
    assert session_row is not None
    return PayResult(
        SessionView(session_row, payment),
        payment,
        return_url_for(session_row, rt.settings.base_url),
    )


async def pending_action(conn: AsyncConnection, payment_id: str) -> RowMapping:
    """The payment behind a 3-D Secure or wallet page, if it still awaits the customer."""
    payment = await payment_store.get(conn, payment_id)
    if (
        payment is None
        or payment["status"] != payment_states.PENDING
        or not payment["processor_state"]
    ):
        raise NotFound("This payment page does not exist or is already finished.")
    return payment


def complete_action(rt: Runtime, payment_id: str, answer: str | None) -> Plan[PayResult]:
    """The customer is back from 3-D Secure or a wallet: settle the payment (and session)."""

    async def prepare(conn: AsyncConnection) -> Intent | Done[PayResult]:
        found = await pending_action(conn, payment_id)
        row = None
        if found["session_id"] is not None:  # lock order: session first, as pay() does
            row = await session_store.get(conn, found["session_id"], lock=True)
        payment = await payment_store.get(conn, payment_id, lock=True)
        if payment is None or payment["status"] != payment_states.PENDING:
            raise NotFound("This payment page is already finished.")
        if payment["operation_id"] is not None or (row and row["operation_id"] is not None):
            raise Busy()
        operation_id = new_id()
        if row is not None:
            try:
                rules.check_payable(row["status"], row["expires_at"], rt.now())
                await session_store.hold(conn, row["id"], operation_id)
            except SessionNotPayable as exc:
                if answer is not None:
                    # The customer's answer is still only here: nothing happened anywhere.
                    return Done(await _refuse(conn, rt, payment, exc.message))
                # The acquirer settled it on its own page: record what it did (a success
                # no longer completes the session; the merchant refunds it).
        if not await payment_store.hold(conn, payment_id, (payment_states.PENDING,), operation_id):
            raise Busy()
        processor = await rt.processor(payment["merchant_id"], payment["livemode"])
        tx = outcomes.transaction(payment)
        state = payment["processor_state"] or ""
        operation = phases.new_operation(
            rt,
            processor,
            "complete",
            merchant_id=payment["merchant_id"],
            livemode=payment["livemode"],
            operation_id=operation_id,
            payment_id=payment_id,
            session_id=payment["session_id"],
            amount=tx.amount,
            request={"state": state, "answer": answer},
        )
        return Intent(processor, operation, lambda p, call: p.complete(call, tx, state, answer))

    return Plan(prepare, presenter(rt))


async def _refuse(
    conn: AsyncConnection, rt: Runtime, payment: Mapping[Any, Any], message: str
) -> PayResult:
    """Fail a payment whose session can no longer be paid, without asking the processor."""
    decline = Declined("request_failed", message)
    changes = charging.complete_changes(rt, payment, decline)
    if not await payment_store.move(conn, payment["id"], payment_states.PENDING, changes):
        raise NotFound("This payment page is already finished.")
    updated = {**payment, **changes}
    await charging.record_event(conn, updated, "payment.failed", rt.now(), decline)
    session = await session_store.get(conn, payment["session_id"])
    return PayResult(SessionView(session or {}, None), updated, None, decline)
