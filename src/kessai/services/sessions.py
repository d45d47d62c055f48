"""Session operations: create, show, cancel, pay, and finishing 3-D Secure.

Each function runs inside the transaction `execute.run()` opened and gets its connection.
Paying exactly once: the session row is locked (PostgreSQL) or the database is (SQLite),
its status checked, and completion is a conditional update backed by the unique
`payments.completes_session` column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import payments as payment_states
from kessai.core import sessions as rules
from kessai.core.cards import DECLINE_MESSAGES
from kessai.errors import (
    InvalidParameter,
    InvalidPaymentType,
    NotFound,
    SessionNotPayable,
)
from kessai.ids import new_id
from kessai.processors.base import Approved, Charge, Declined, NeedsAction, Outcome
from kessai.schemas import resources
from kessai.schemas.requests import (
    CardDetails,
    CreateSession,
    PaymentDetailsType,
    PaySession,
    parse,
)
from kessai.services import cards
from kessai.services.runtime import Caller, Runtime
from kessai.store import events
from kessai.store import payments as payment_store
from kessai.store import sessions as session_store

SCENARIOS = tuple(code for code in DECLINE_MESSAGES if code != "three_d_secure_failed")


@dataclass(frozen=True)
class SessionView:
    row: Mapping[Any, Any]
    payment: Mapping[Any, Any] | None


@dataclass(frozen=True)
class PayResult:
    session: SessionView
    payment: Mapping[Any, Any] | None
    redirect_url: str | None
    decline: Declined | None = None


def _scope(caller: Caller) -> dict[str, Any]:
    return {"merchant_id": caller.merchant_id, "livemode": caller.livemode}


async def _view(conn: AsyncConnection, row: RowMapping) -> SessionView:
    payment = None
    if row["payment_id"] is not None:
        payment = await payment_store.get(conn, row["payment_id"])
    return SessionView(row, payment)


async def create(
    conn: AsyncConnection,
    rt: Runtime,
    caller: Caller,
    params: CreateSession,
    scenario: str | None = None,
) -> SessionView:
    processor = rt.processor(caller.livemode)
    offered = rules.offered_types(
        params.payment_types, params.currency, params.mode, processor.supported_types
    )
    if scenario is not None and (caller.livemode or scenario not in SCENARIOS):
        raise InvalidParameter(
            f"Komoju-Scenario must be one of {', '.join(SCENARIOS)}, and only in test mode",
            param="Komoju-Scenario",
        )
    payment_data = None
    order_num = None
    if params.mode in rules.PAYMENT_MODES:
        payment_data = (
            params.payment_data.model_dump(exclude_none=True)
            if params.payment_data
            else {"capture": "auto"}
        )
        order_num = payment_data.get("external_order_num")
        if order_num is not None and await _order_num_taken(conn, caller, order_num):
            raise InvalidParameter(
                "payment_data[external_order_num] is already used by another session of "
                "this merchant; external order numbers must be unique",
                param="payment_data[external_order_num]",
            )
    now = rt.clock()
    session_id = new_id()
    values = {
        "id": session_id,
        **_scope(caller),
        "mode": params.mode,
        "status": rules.PENDING,
        "amount": params.amount if params.amount is not None else 0,
        "currency": params.currency,
        "return_url": params.return_url,
        "email": params.email,
        "default_locale": params.default_locale,
        "external_customer_id": params.external_customer_id,
        "external_order_num": order_num,
        "customer_id": (params.customer_id or new_id())
        if params.mode in rules.CUSTOMER_MODES
        else None,
        "payment_types": offered,
        "line_items": [item.model_dump(exclude_none=True) for item in params.line_items]
        if params.line_items is not None
        else None,
        "metadata": params.metadata,
        "payment_data": payment_data,
        "scenario": scenario,
        "payment_id": None,
        "created_at": now,
        "expires_at": now
        + timedelta(seconds=params.expires_in_seconds or rules.DEFAULT_EXPIRES_IN),
        "completed_at": None,
        "cancelled_at": None,
    }
    try:
        await session_store.insert(conn, values)
    except sa.exc.IntegrityError:
        raise InvalidParameter(
            "payment_data[external_order_num] is already used by another session",
            param="payment_data[external_order_num]",
        ) from None
    return SessionView({**values, "merchant_name": caller.merchant_name}, None)


async def _order_num_taken(conn: AsyncConnection, caller: Caller, order_num: str) -> bool:
    from kessai.store.tables import sessions

    query = sa.select(sessions.c.id).where(
        sessions.c.merchant_id == caller.merchant_id,
        sessions.c.livemode == caller.livemode,
        sessions.c.external_order_num == order_num,
    )
    return (await conn.execute(query)).first() is not None


async def get(conn: AsyncConnection, caller: Caller | None, session_id: str) -> SessionView:
    """A session of the caller's merchant and mode; `caller=None` for the hosted page."""
    scope = _scope(caller) if caller else {}
    row = await session_store.get(conn, session_id, **scope)
    if row is None:
        raise NotFound(f"No session {session_id!r} exists for this merchant and mode.")
    return await _view(conn, row)


async def cancel(
    conn: AsyncConnection, rt: Runtime, caller: Caller, session_id: str
) -> SessionView:
    row = await session_store.get(conn, session_id, **_scope(caller), lock=True)
    if row is None:
        raise NotFound(f"No session {session_id!r} exists for this merchant and mode.")
    if rules.check_cancellable(row["status"]):
        await session_store.cancel(conn, session_id, rt.clock())
        row = await session_store.get(conn, session_id)
        assert row is not None
    return await _view(conn, row)


def return_url_for(row: Mapping[Any, Any], base_url: str) -> str:
    """Where the customer goes when done: return_url with session_id, else the session page."""
    url = row["return_url"]
    if not url:
        return f"{base_url}/sessions/{row['id']}"
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "session_id"]
    query.append(("session_id", row["id"]))
    return urlunsplit(parts._replace(query=urlencode(query)))


async def pay(
    conn: AsyncConnection,
    rt: Runtime,
    caller: Caller | None,
    session_id: str,
    request: PaySession,
    *,
    locale: str | None = None,
) -> PayResult:
    scope = _scope(caller) if caller else {}
    row = await session_store.get(conn, session_id, **scope, lock=True)
    if row is None:
        raise NotFound(f"No session {session_id!r} exists for this merchant and mode.")
    now = rt.clock()
    rules.check_payable(row["status"], row["expires_at"], now)
    if row["mode"] not in rules.PAYMENT_MODES:
        raise SessionNotPayable(
            f"Sessions in {row['mode']} mode are not yet supported by this kessai version."
        )
    processor = rt.processor(row["livemode"])
    details = request.payment_details
    if isinstance(details, str):
        raise InvalidParameter(
            "payment_details: no such token (or it was already used or has expired)",
            param="payment_details",
        )
    ptype = parse(PaymentDetailsType, details, prefix="payment_details").type
    if ptype not in row["payment_types"]:
        raise InvalidPaymentType(
            f"payment_details[type]: {ptype} is not offered by this session "
            f"(it offers {', '.join(row['payment_types'])})",
            param="payment_details[type]",
        )
    card = cards.card_from(parse(CardDetails, details, prefix="payment_details"), now)
    capture = (request.capture or (row["payment_data"] or {}).get("capture", "auto")) == "auto"
    payment_id = new_id()
    charge = Charge(
        payment_id, row["amount"], row["currency"], ptype, capture, card, row["scenario"]
    )
    outcome = await processor.authorize(charge)
    payment = {
        "id": payment_id,
        "merchant_id": row["merchant_id"],
        "livemode": row["livemode"],
        "session_id": row["id"],
        "completes_session": None,
        "status": payment_states.PENDING,
        "payment_type": ptype,
        "amount": row["amount"],
        "tax": 0,
        "payment_method_fee": 0,
        "currency": row["currency"],
        "amount_refunded": 0,
        "capture_requested": capture,
        "payment_details": cards.summary(card, row["email"]),
        "card_fingerprint": cards.fingerprint(rt.secret, card),
        "processor": processor.name,
        "processor_state": None,
        "failure_code": None,
        "customer_id": None,
        "description": None,
        "external_order_num": row["external_order_num"],
        "metadata": row["metadata"],
        "locale": locale or row["default_locale"],
        "mcc": (row["payment_data"] or {}).get("mcc"),
        "statement_descriptor": None,
        "customer_family_name": None,
        "customer_given_name": None,
        "payment_deadline": None,
        "created_at": now,
        "updated_at": now,
        "captured_at": None,
    }
    if isinstance(outcome, NeedsAction):
        payment["processor_state"] = outcome.state
        await payment_store.insert(conn, payment)
        redirect = outcome.redirect_url or f"{rt.settings.base_url}/three_d_secure/{payment_id}"
        return PayResult(SessionView(row, None), payment, redirect)
    await payment_store.insert(conn, payment)
    return await _settle(conn, rt, row, payment, outcome, now)


async def _settle(
    conn: AsyncConnection,
    rt: Runtime,
    row: RowMapping,
    payment: dict[str, Any],
    outcome: Outcome,
    now: datetime,
) -> PayResult:
    """Record an approval or a decline of a payment that is still `pending`."""
    if isinstance(outcome, Approved):
        status = payment_states.CAPTURED if outcome.captured else payment_states.AUTHORIZED
        changes = {
            "status": status,
            "completes_session": row["id"],
            "processor_state": None,
            "captured_at": now if outcome.captured else None,
            "updated_at": now,
        }
        if not await session_store.complete(conn, row["id"], payment["id"], now):
            raise SessionNotPayable("This session has already been completed.")
        event_type = "payment.captured" if outcome.captured else "payment.authorized"
    else:
        assert isinstance(outcome, Declined)
        changes = {
            "status": payment_states.FAILED,
            "failure_code": outcome.code,
            "processor_state": None,
            "updated_at": now,
        }
        event_type = "payment.failed"
    await payment_store.move(conn, payment["id"], payment_states.PENDING, changes)
    payment = {**payment, **changes}
    await events.insert(
        conn,
        merchant_id=row["merchant_id"],
        livemode=row["livemode"],
        type=event_type,
        data=resources.payment(payment),
        now=now,
        reason=outcome.code if isinstance(outcome, Declined) else None,
    )
    session_row = await session_store.get(conn, row["id"])
    assert session_row is not None
    if isinstance(outcome, Declined):
        return PayResult(SessionView(session_row, None), payment, None, outcome)
    return PayResult(
        SessionView(session_row, payment),
        payment,
        return_url_for(session_row, rt.settings.base_url),
    )


async def pending_challenge(conn: AsyncConnection, payment_id: str) -> RowMapping:
    """The payment behind a 3-D Secure page, if it still awaits the customer."""
    payment = await payment_store.get(conn, payment_id)
    if payment is None or payment["status"] != payment_states.PENDING:
        raise NotFound("This 3-D Secure authentication does not exist or is already finished.")
    return payment


async def authenticate(
    conn: AsyncConnection, rt: Runtime, payment_id: str, answer: str | None
) -> PayResult:
    """The customer is back from the 3-D Secure page: approve or decline the payment."""
    found = await pending_challenge(conn, payment_id)
    row = await session_store.get(conn, found["session_id"], lock=True)  # session first
    payment = await payment_store.get(conn, payment_id, lock=True)
    assert row is not None
    if payment is None or payment["status"] != payment_states.PENDING:
        raise NotFound("This 3-D Secure authentication is already finished.")
    now = rt.clock()
    try:
        rules.check_payable(row["status"], row["expires_at"], now)
    except SessionNotPayable as exc:
        outcome: Outcome = Declined("request_failed", exc.message)
    else:
        processor = rt.processor(row["livemode"])
        charge = Charge(
            payment_id,
            payment["amount"],
            payment["currency"],
            payment["payment_type"],
            payment["capture_requested"],
        )
        outcome = await processor.authenticate(charge, payment["processor_state"] or "", answer)
        if isinstance(outcome, NeedsAction):
            outcome = Declined("request_failed", DECLINE_MESSAGES["request_failed"])
    return await _settle(conn, rt, row, dict(payment), outcome, now)
