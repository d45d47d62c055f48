"""The audit trail: one line on the `kessai.audit` logger per money move, once committed.

A move is a payment authorized, captured, declined, cancelled or expired, a refund, or a
refund request. The line names the merchant, the mode, the payment, the kind of move, the
amount (minor units) and currency, the payment type and the request id. It carries nothing
from the customer: no card number, CVV, name or email (the payment row's summary is never
read here). The same moment counts the move in `kessai_payments_total`.

Both happen only after the transaction that made the move has committed (`on_commit`), so a
rolled-back attempt (a replayed idempotency key, a failure later in the request) leaves no
line and no count.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kessai.observe import context, metrics
from kessai.store.db import on_commit

audit_log = logging.getLogger("kessai.audit")

# Event type -> (audit kind, how much money it concerns).
_EVENTS = {
    "payment.authorized": "authorized",
    "payment.captured": "captured",
    "payment.failed": "declined",
    "payment.cancelled": "cancelled",
    "payment.expired": "expired",
}


def payment_event(payment: Mapping[Any, Any], event_type: str, code: str | None) -> None:
    """A payment event was recorded: audit and count it if it moves money."""
    kind = _EVENTS.get(event_type)
    if kind is None:
        return  # payment.updated, and refunds (audited by `refunded`, which knows the amount)
    if kind == "captured":
        amount = payment["amount_captured"] + payment["tax"]
    else:
        amount = payment["amount"] + payment["tax"]
    outcome = kind if kind != "declined" or code else "failed"
    moved(kind, payment, amount, outcome=outcome, code=code)


def refunded(payment: Mapping[Any, Any], amount: int, *, full: bool) -> None:
    moved("refund", payment, amount, outcome="refunded" if full else "partially_refunded")


def refund_requested(payment: Mapping[Any, Any], amount: int) -> None:
    moved("refund_request", payment, amount, outcome="refund_requested")


def moved(
    kind: str,
    payment: Mapping[Any, Any],
    amount: int,
    *,
    outcome: str,
    code: str | None = None,
) -> None:
    info = context.current()
    fields = {
        "audit": kind,
        "merchant_id": payment["merchant_id"],
        "mode": "live" if payment["livemode"] else "test",
        "payment_id": payment["id"],
        "payment_type": payment["payment_type"],
        "amount": int(amount),
        "currency": payment["currency"],
        "code": code,
        "request_id": info.request_id if info is not None else None,
    }

    def emit() -> None:
        metrics.payment_outcome(fields["payment_type"], outcome, payment["livemode"], code)
        audit_log.info(
            "%s %s %s %d %s merchant=%s mode=%s%s",
            kind,
            fields["payment_id"],
            fields["payment_type"],
            fields["amount"],
            fields["currency"],
            fields["merchant_id"],
            fields["mode"],
            f" code={code}" if code else "",
            extra=fields,
        )

    on_commit(emit)
