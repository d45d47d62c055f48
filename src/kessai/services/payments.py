"""Payment operations after creation: show, list, update, capture, refund, cancel,
refund requests, and the test-mode cash "customer paid" action.

Every move is checked against the state machine (`kessai.core.payments`) while the payment
row is locked, and applied with a conditional update, so concurrent requests can never
capture twice, refund more than was captured, or cancel a captured payment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import payments as states
from kessai.core.payment_types import PAYMENT_TYPES, serves
from kessai.errors import (
    Forbidden,
    InvalidParameter,
    NotCancellable,
    NotCapturable,
    NotFound,
    NotRefundable,
)
from kessai.ids import new_id
from kessai.observe import audit
from kessai.processors.base import Declined
from kessai.schemas.requests import (
    CapturePayment,
    CreatePayment,
    CreateRefundRequest,
    PaymentListParams,
    RefundPayment,
    UpdatePayment,
)
from kessai.services import charging, outcomes, phases
from kessai.services.charging import Scope
from kessai.services.phases import Intent, Plan
from kessai.services.runtime import Caller, Runtime
from kessai.store import payments as store
from kessai.store import rows
from kessai.store.tables import payments as table
from kessai.store.tables import refund_requests


@dataclass(frozen=True)
class PaymentView:
    row: Mapping[Any, Any]
    refunds: list[Any]
    refund_requests: list[Any]
    decline: Declined | None = None


def _scope(caller: Caller) -> Scope:
    return Scope(caller.merchant_id, caller.livemode)


async def view(conn: AsyncConnection, row: Mapping[Any, Any]) -> PaymentView:
    found_refunds, found_requests = await store.children(conn, [row["id"]])
    return PaymentView(row, found_refunds[row["id"]], found_requests[row["id"]])


async def _locked(conn: AsyncConnection, caller: Caller, payment_id: str) -> Mapping[Any, Any]:
    row = await rows.get(conn, table, payment_id, lock=True, **_scope(caller).kw())
    if row is None:
        raise NotFound(f"No payment {payment_id!r} exists for this merchant and mode.")
    return row


async def get(conn: AsyncConnection, caller: Caller, payment_id: str) -> PaymentView:
    row = await store.get(conn, payment_id, **_scope(caller).kw())
    if row is None:
        raise NotFound(f"No payment {payment_id!r} exists for this merchant and mode.")
    return await view(conn, row)


def create(
    rt: Runtime,
    caller: Caller,
    params: CreatePayment,
    scenario: str | None,
    *,
    subscription_id: str | None = None,
) -> Plan[PaymentView]:
    """`subscription_id`: the payment is a charge of that subscription."""
    scope = _scope(caller)
    charging.check_scenario(scenario, caller.livemode)

    async def prepare(conn: AsyncConnection) -> Intent:
        processor = await rt.processor(caller.merchant_id, caller.livemode)
        allowed = [
            slug
            for slug, ptype in PAYMENT_TYPES.items()
            if slug in processor.supported_types and serves(ptype, params.currency, "payment")
        ]
        source = await charging.resolve_source(
            conn,
            rt,
            scope,
            payment_details=params.payment_details,
            customer_id=params.customer,
            allowed_types=allowed,
        )
        operation_id = new_id()
        payment, charge = charging.pending_payment(
            rt,
            scope,
            source,
            processor.name,
            operation_id=operation_id,
            amount=params.amount,
            currency=params.currency,
            capture=params.capture,
            locale=params.locale,
            description=params.description,
            external_order_num=params.external_order_num,
            metadata=params.metadata,
            tax=params.tax,
            scenario=scenario,
            return_url=params.return_url,
        )
        payment["subscription_id"] = subscription_id
        await store.insert(conn, payment)
        return Intent(
            processor,
            phases.new_operation(
                rt,
                processor,
                "authorize",
                **scope.kw(),
                operation_id=operation_id,
                payment_id=payment["id"],
                amount=charge.amount,
                request={"expiry_days": source.expiry_days},
            ),
            lambda p, call: p.authorize(call, charge),
            {"payment": payment},
        )

    return Plan(prepare, present, (caller.merchant_id, caller.livemode))


async def present(
    conn: AsyncConnection, operation: Mapping[Any, Any], seen: outcomes.Seen
) -> PaymentView:
    """A payment operation's answer: the payment as it is now, with the decline if any."""
    decline = outcomes.decline_of(operation)
    if operation["kind"] == "authorize" and "payment" in seen:  # new: nothing hangs off it
        return PaymentView(seen["payment"], [], [], decline)
    row = await store.get(conn, operation["payment_id"])
    assert row is not None
    found = await view(conn, row)
    return PaymentView(row, found.refunds, found.refund_requests, decline)


async def update(
    conn: AsyncConnection, rt: Runtime, caller: Caller, payment_id: str, params: UpdatePayment
) -> PaymentView:
    row = await _locked(conn, caller, payment_id)
    changes = params.model_dump(exclude_none=True)
    if changes:
        now = rt.now()
        await rows.update_where(conn, table, payment_id, [], {**changes, "updated_at": now})
        row = {**row, **changes, "updated_at": now}
        result = await view(conn, row)
        await charging.record_event(
            conn,
            row,
            "payment.updated",
            now,
            refunds=result.refunds,
            refund_requests=result.refund_requests,
        )
        return result
    return await view(conn, row)


def _moving(
    rt: Runtime,
    caller: Caller,
    payment_id: str,
    kind: str,
    check: Callable[[Mapping[Any, Any]], int | None],
    scenario: str | None,
    request: dict[str, Any] | None = None,
) -> Plan[PaymentView]:
    """Capture, refund or cancel: check the state machine and hold the payment (phase 1),
    ask the processor (phase 2); `outcomes.apply` moves it (phase 3)."""
    charging.check_scenario(scenario, caller.livemode)

    async def prepare(conn: AsyncConnection) -> Intent:
        row = await _locked(conn, caller, payment_id)
        amount = check(row)
        if row["operation_id"] is not None:
            raise phases.Busy()
        operation_id = new_id()
        if kind == "refund":
            assert amount is not None
            if not await store.reserve_refund(conn, payment_id, amount):
                raise NotRefundable("The refund would exceed the captured amount.")
        elif not await store.hold(conn, payment_id, (row["status"],), operation_id):
            raise phases.Busy()
        processor = await rt.processor(row["merchant_id"], row["livemode"])
        tx = outcomes.transaction(row, scenario)
        invoke: phases.Invoke
        if kind == "capture":  # the tax was authorized with the amount: it is taken too
            invoke = lambda p, call: p.capture(call, tx, (amount or 0) + row["tax"])  # noqa: E731
        elif kind == "refund":
            invoke = lambda p, call: p.refund(call, tx, amount or 0)  # noqa: E731
        else:
            invoke = lambda p, call: p.cancel(call, tx)  # noqa: E731
        operation = phases.new_operation(
            rt,
            processor,
            kind,
            **_scope(caller).kw(),
            operation_id=operation_id,
            payment_id=payment_id,
            amount=amount,
            request={"scenario": scenario, **(request or {})},
        )
        return Intent(processor, operation, invoke)

    return Plan(prepare, present, (caller.merchant_id, caller.livemode))


def capture(
    rt: Runtime, caller: Caller, payment_id: str, params: CapturePayment, scenario: str | None
) -> Plan[PaymentView]:
    def check(row: Mapping[Any, Any]) -> int:
        if row["status"] != states.AUTHORIZED or PAYMENT_TYPES[row["payment_type"]].kind == "cash":
            raise NotCapturable(
                f"Only an authorized card or wallet payment can be captured; this one is "
                f"{row['status']} ({row['payment_type']})."
            )
        amount = params.amount if params.amount is not None else row["amount"]
        if not 0 < amount <= row["amount"]:
            raise InvalidParameter(
                f"amount must be between 1 and the authorized amount ({row['amount']})",
                param="amount",
            )
        return int(amount)

    return _moving(rt, caller, payment_id, "capture", check, scenario)


def refund(
    rt: Runtime, caller: Caller, payment_id: str, params: RefundPayment, scenario: str | None
) -> Plan[PaymentView]:
    def check(row: Mapping[Any, Any]) -> int:
        if row["status"] != states.CAPTURED:
            raise NotRefundable(
                f"Only a captured payment can be refunded; this one is {row['status']}."
            )
        if PAYMENT_TYPES[row["payment_type"]].kind == "cash":
            raise NotRefundable(
                "Cash payments (konbini, bank transfer, Pay-easy) are refunded to a bank "
                "account: use POST /payments/{id}/refund_request."
            )
        if row["amount_disputed"]:
            raise NotRefundable(
                "This payment is disputed: a chargeback on it is open or was lost, so it "
                "cannot be refunded (see GET /chargeback_requests?payment_id=...)."
            )
        left = states.left_to_refund(row)
        amount = params.amount if params.amount is not None else left
        if not 0 < amount <= left:
            raise NotRefundable(
                f"The refund amount must be between 1 and what is left to refund ({left})."
            )
        return int(amount)

    return _moving(
        rt, caller, payment_id, "refund", check, scenario, {"description": params.description}
    )


def cancel(
    rt: Runtime, caller: Caller, payment_id: str, scenario: str | None = None
) -> Plan[PaymentView]:
    def check(row: Mapping[Any, Any]) -> None:
        if row["status"] not in (states.PENDING, states.AUTHORIZED):
            raise NotCancellable(
                f"Only a pending or authorized payment can be cancelled; this one is "
                f"{row['status']}."
            )

    return _moving(rt, caller, payment_id, "cancel", check, scenario)


async def refund_request(
    conn: AsyncConnection,
    rt: Runtime,
    caller: Caller,
    payment_id: str,
    params: CreateRefundRequest,
) -> PaymentView:
    row = await _locked(conn, caller, payment_id)
    if row["status"] != states.CAPTURED or PAYMENT_TYPES[row["payment_type"]].kind != "cash":
        raise NotRefundable(
            "A refund request is for a captured cash payment (konbini, bank transfer, "
            "Pay-easy); refund card and wallet payments with POST /payments/{id}/refund."
        )
    current = await view(conn, row)
    requested = sum(r["amount"] for r in current.refund_requests if r["status"] != "rejected")
    left = row["amount_captured"] + row["tax"] - row["amount_refunded"] - requested
    if not 0 < params.amount <= left:
        raise NotRefundable(f"The requested amount must be between 1 and {left}.")
    now = rt.now()
    await rows.insert(
        conn,
        refund_requests,
        {
            "id": new_id(),
            "payment_id": payment_id,
            "status": "pending",
            "created_at": now,
            **params.model_dump(),
        },
    )
    audit.refund_requested(row, params.amount)
    return await view(conn, row)


async def listing(
    conn: AsyncConnection, caller: Caller, params: PaymentListParams
) -> tuple[int, list[PaymentView]]:
    filters: list[Any] = []
    if params.status:
        filters.append(table.c.status.in_(params.status))
    if params.currency:
        filters.append(table.c.currency == params.currency)
    if params.external_order_num:
        filters.append(table.c.external_order_num == params.external_order_num)
    total, found = await rows.page(
        conn,
        table,
        **_scope(caller).kw(),
        filters=filters,
        page=params.page,
        per_page=params.per_page,
        start=params.start_time,
        end=params.end_time,
    )
    found_refunds, found_requests = await store.children(conn, [r["id"] for r in found])
    return total, [PaymentView(r, found_refunds[r["id"]], found_requests[r["id"]]) for r in found]


async def customer_paid(conn: AsyncConnection, rt: Runtime, payment_id: str) -> PaymentView:
    """Test mode: the customer paid a cash-type payment at the store or bank (captures it).

    A real processor reports this through its own notification, which calls the same move.
    """
    found = await rows.get(conn, table, payment_id, lock=True)
    if found is None:
        raise NotFound("No such payment.")
    row: Mapping[Any, Any] = found
    if row["livemode"] or row["processor"] != "simulated":
        raise Forbidden(
            "Simulating a cash payment is only possible in test mode, with the simulated "
            "processor (pay a KOMOJU payment on KOMOJU's own page)."
        )
    now = rt.now()
    if row["status"] != states.AUTHORIZED or PAYMENT_TYPES[row["payment_type"]].kind != "cash":
        raise NotCapturable(f"This payment is {row['status']} and is not waiting for cash.")
    if row["payment_deadline"] is not None and row["payment_deadline"] <= now:
        await expire(conn, rt, row)  # too late: it expires instead (and that is committed)
        return await view(conn, {**row, "status": states.EXPIRED})
    changes = {
        "status": states.CAPTURED,
        "amount_captured": row["amount"],
        "captured_at": now,
        "updated_at": now,
    }
    if not await store.move(conn, payment_id, states.AUTHORIZED, changes):
        raise NotCapturable("This payment is being cancelled; it is no longer waiting for cash.")
    row = await charging.record_event(conn, {**row, **changes}, "payment.captured", now)
    return await view(conn, row)


async def expire(conn: AsyncConnection, rt: Runtime, row: Mapping[Any, Any]) -> bool:
    now = rt.now()
    changes = {"status": states.EXPIRED, "processor_state": None, "updated_at": now}
    if not await store.move(conn, row["id"], row["status"], changes):
        return False
    await charging.record_event(conn, {**row, **changes}, "payment.expired", now)
    return True
