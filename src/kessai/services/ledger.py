"""Booking money moves: each is written to the ledger in the transaction that makes it.

A capture books the payment's total (`payment`) and the merchant's fee on it (`fee`), and
records the fee on the payment (`processing_fee`); in test mode it also plans the
chargeback a chargeback test card or scenario asked for. Every capture path records its
`payment.captured` event through `charging.record_event`, which calls `captured` here, so
no capture goes unbooked. Refunds, chargebacks and disbursements book theirs where they
happen (`refunded` here; `kessai.services.chargebacks`, `kessai.services.disbursements`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import fees
from kessai.store import ledger as store
from kessai.store import ledger_settings, rows
from kessai.store.ledger import Line
from kessai.store.tables import payments


def captured_total(payment: Mapping[Any, Any]) -> int:
    """What the customer paid: the amount captured, tax and their payment method fee."""
    return int(payment["amount_captured"] + payment["tax"] + payment["payment_method_fee"])


async def captured(
    conn: AsyncConnection, payment: Mapping[Any, Any], now: datetime
) -> dict[str, Any]:
    """Book a capture (and its fee); the payment as it is now, with its `processing_fee`."""
    total = captured_total(payment)
    overrides = await ledger_settings.fees(conn, payment["merchant_id"], payment["livemode"])
    fee = fees.rate_of(payment["payment_type"], overrides).fee(total)
    await store.post(
        conn,
        merchant_id=payment["merchant_id"],
        livemode=payment["livemode"],
        currency=payment["currency"],
        lines=[
            Line("payment", total, payment["id"], payment["id"]),
            Line("fee", fee, payment["id"], payment["id"]),
        ],
        happened_at=now,
    )
    await rows.update_where(conn, payments, payment["id"], [], {"processing_fee": fee})
    updated = {**payment, "processing_fee": fee}
    if updated.get("dispute") and not updated["livemode"]:
        from kessai.services import chargebacks  # chargebacks imports the payment services

        await chargebacks.plan(conn, updated, now)
    return updated


async def refunded(
    conn: AsyncConnection, payment: Mapping[Any, Any], refund_id: str, amount: int, now: datetime
) -> None:
    await store.post(
        conn,
        merchant_id=payment["merchant_id"],
        livemode=payment["livemode"],
        currency=payment["currency"],
        lines=[Line("refund", amount, refund_id, payment["id"])],
        happened_at=now,
    )
