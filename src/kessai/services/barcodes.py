"""Konbini barcodes (`GET /api/v1/barcodes/{payment_id}`, and the instructions page).

A konbini payment of the simulated processor carries `payment_details.barcode_url`; its
barcode is the Code 128 of its receipt number (`kessai.core.barcodes`). Payments of other
processors keep whatever barcode their acquirer gave (KOMOJU's own `barcode_url`), and
have none here.

- `pending` (ask again after `RETRY_AFTER` seconds): the payment is still `pending`, its
  processor has not answered, so there is no receipt number yet.
- `ready`: the payment is `authorized` (awaiting the customer) and before its deadline. The
  image is the same for the same receipt, so it is the same while valid; `expires_at` ends
  the 10-minute window of the merchant's clock it was asked in.
- Paid, expired, cancelled or failed: 422, a barcode can no longer be used.

No key is needed: KOMOJU's SDK and its documented `fetch(barcode_url)` send none, and the
payment id is 25 random characters. A request that does send a key is held to it: another
merchant's or mode's payment is 404, as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping

from kessai.core import barcodes
from kessai.core import payments as states
from kessai.errors import InvalidParameter, NotFound
from kessai.services import clocks, execute
from kessai.services.runtime import Caller, Runtime
from kessai.store import payments as payment_store

RETRY_AFTER = 2  # seconds; a processor answers well within that
NO_BARCODE = (
    "No such barcode: only konbini payments with a payment_details.barcode_url have one. "
    "Check the payment id."
)


@dataclass(frozen=True)
class Barcode:
    """A barcode to show (`png`, valid until `expires_at`), or None of both: pending."""

    png: bytes | None = None
    expires_at: datetime | None = None


async def show(rt: Runtime, payment_id: str, caller: Caller | None) -> Barcode:
    """The barcode of a konbini payment, on its merchant's clock."""
    payment = await _payment(rt, payment_id, caller)
    await clocks.enter(rt, payment["merchant_id"], payment["livemode"])
    return barcode_of(payment, rt.now())


async def _payment(rt: Runtime, payment_id: str, caller: Caller | None) -> RowMapping:
    scope: dict[str, Any] = {}
    if caller is not None:
        scope = {"merchant_id": caller.merchant_id, "livemode": caller.livemode}
    payment = await execute.read(rt, lambda conn: payment_store.get(conn, payment_id, **scope))
    if (
        payment is None
        or payment["payment_type"] != "konbini"
        or payment["processor"] != "simulated"
    ):
        raise NotFound(NO_BARCODE)
    return payment


def barcode_of(payment: RowMapping, now: datetime) -> Barcode:
    status = payment["status"]
    deadline = payment["payment_deadline"]
    if status == states.PENDING:
        return Barcode()
    receipt = payment["payment_details"].get("receipt")
    if status != states.AUTHORIZED or not receipt or (deadline is not None and deadline <= now):
        shown = "expired" if status == states.AUTHORIZED else status
        raise InvalidParameter(
            f"This payment is {shown}: its barcode can no longer be used for payment.",
            param="payment_id",
        )
    return Barcode(barcodes.png(receipt), barcodes.expires_at(payment["created_at"], now, deadline))
