"""What an acquirer tells kessai on its own: KOMOJU's webhooks about the payments the KOMOJU
processor made upstream (a konbini paid, a wallet captured, a deadline passed).

A notice is checked against the merchant's KOMOJU processor settings (signature) and then
applied with the same conditional moves as everything else: a payment an operation holds
is left alone (that operation's outcome will say the same), and a notice that arrives twice
changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import payments as states
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.errors import Conflict, NotFound, Unauthorized
from kessai.processors import komoju_notices
from kessai.processors.base import Approved, Declined
from kessai.processors.simulated import decline
from kessai.services import charging, clocks, execute, outcomes
from kessai.services.payments import expire
from kessai.services.runtime import Runtime
from kessai.store import payments as payment_store
from kessai.store import sessions as session_store
from kessai.store.processors import get_configs

log = logging.getLogger("kessai.processors")
_BUSY = "The payment is being changed right now; deliver this webhook again later."


async def receive_komoju(rt: Runtime, merchant_id: str, body: bytes, signature: str | None) -> str:
    """Verify and apply one KOMOJU webhook for `merchant_id`; what it did, in a word."""
    configs = await execute.read(rt, lambda conn: get_configs(conn, merchant_id))
    secrets = {
        livemode: str(c.config["webhook_secret"])
        for livemode, c in configs.items()
        if c.name == "komoju" and c.config.get("webhook_secret")
    }
    if not secrets:
        raise NotFound("This merchant has no KOMOJU processor with a webhook secret.")
    modes = {
        mode for mode, secret in secrets.items() if komoju_notices.verify(secret, body, signature)
    }
    if not modes:
        raise Unauthorized("The X-Komoju-Signature of this webhook does not match.")
    try:
        notice = komoju_notices.parse(body)
    except ValueError:
        return "ignored"
    if notice is None:
        return "ignored"
    found = await execute.read(rt, lambda conn: payment_store.get(conn, notice.payment_id))
    if found is not None and found["merchant_id"] == merchant_id:
        await clocks.enter(rt, merchant_id, found["livemode"])  # its events' time
    return await execute.write(rt, lambda conn: _apply(conn, rt, merchant_id, modes, notice))


async def _apply(
    conn: AsyncConnection,
    rt: Runtime,
    merchant_id: str,
    modes: set[bool],
    notice: komoju_notices.Notice,
) -> str:
    found = await payment_store.get(conn, notice.payment_id)
    if (
        found is None
        or found["merchant_id"] != merchant_id
        or found["livemode"] not in modes  # signed with the secret of the payment's mode
        or found["processor"] != "komoju"
        or found["processor_reference"] not in (None, notice.upstream_id)
    ):
        return "unknown payment"
    session = None
    if found["session_id"] is not None:  # lock order: session first, as pay() does
        session = await session_store.get(conn, found["session_id"], lock=True)
    payment = await payment_store.get(conn, notice.payment_id, lock=True)
    assert payment is not None
    if payment["operation_id"] is not None or (
        payment["status"] == states.PENDING and session is not None and session["operation_id"]
    ):
        # An operation holds it: answer 409 so that KOMOJU delivers this again later.
        raise Conflict(_BUSY)
    status = payment["status"]
    kind = PAYMENT_TYPES[payment["payment_type"]].kind
    if notice.status == states.CAPTURED and status == states.AUTHORIZED and kind == "cash":
        return await _captured_cash(conn, rt, payment)
    if status == states.PENDING and notice.status in (states.CAPTURED, states.AUTHORIZED):
        outcome: Approved | Declined = Approved(notice.status == states.CAPTURED)
        return await _settle(conn, rt, payment, outcome, session)
    if status == states.PENDING and notice.status in (states.FAILED, states.CANCELLED):
        outcome = decline(notice.failure_code or "request_failed")
        return await _settle(conn, rt, payment, outcome, session)
    if notice.status == states.EXPIRED and status in (states.PENDING, states.AUTHORIZED):
        return "expired" if await expire(conn, rt, payment) else "unchanged"
    return "unchanged"


async def _captured_cash(conn: AsyncConnection, rt: Runtime, payment: Mapping[Any, Any]) -> str:
    now = rt.now()
    changes = {
        "status": states.CAPTURED,
        "amount_captured": payment["amount"],
        "captured_at": now,
        "updated_at": now,
    }
    if not await payment_store.move(conn, payment["id"], states.AUTHORIZED, changes):
        return "unchanged"
    await charging.record_event(conn, {**payment, **changes}, "payment.captured", now)
    return "captured"


async def _settle(
    conn: AsyncConnection,
    rt: Runtime,
    payment: Mapping[Any, Any],
    outcome: Approved | Declined,
    session: Mapping[Any, Any] | None,
) -> str:
    """A 3-D Secure or wallet payment finished upstream before the customer came back."""
    if not await outcomes.settle_attempt(conn, rt, None, "complete", payment, outcome, session):
        return "unchanged"
    updated = await payment_store.get(conn, payment["id"])
    return str(updated["status"]) if updated is not None else "unchanged"
