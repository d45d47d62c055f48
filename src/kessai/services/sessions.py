"""Session operations: create, show and cancel (paying one is `kessai.services.paying`).

`create` runs in the transaction `execute.run()` opened; `cancel` is a plan for
`kessai.services.phases`, so that it waits for a payment attempt in flight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import sessions as rules
from kessai.errors import InvalidParameter, NotFound
from kessai.ids import new_id
from kessai.schemas.requests import CreateSession
from kessai.services import charging, phases
from kessai.services.phases import Busy, Done, Plan
from kessai.services.runtime import Caller, Runtime
from kessai.store import customers as customer_store
from kessai.store import payments as payment_store
from kessai.store import sessions as session_store
from kessai.store.tables import sessions


@dataclass(frozen=True)
class SessionView:
    row: Mapping[Any, Any]
    payment: Mapping[Any, Any] | None


def scope_of(caller: Caller) -> dict[str, Any]:
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
    processor = await rt.processor(caller.merchant_id, caller.livemode)
    offered = rules.offered_types(
        params.payment_types, params.currency, params.mode, processor.supported_types
    )
    charging.check_scenario(scenario, caller.livemode)
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
    if params.customer_id is not None and (
        await customer_store.get(conn, params.customer_id, **scope_of(caller)) is None
    ):
        raise InvalidParameter(
            f"customer_id {params.customer_id!r} is not a customer of this merchant",
            param="customer_id",
        )
    now = rt.now()
    session_id = new_id()
    values = {
        "id": session_id,
        **scope_of(caller),
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
    query = sa.select(sessions.c.id).where(
        sessions.c.merchant_id == caller.merchant_id,
        sessions.c.livemode == caller.livemode,
        sessions.c.external_order_num == order_num,
    )
    return (await conn.execute(query)).first() is not None


async def get(conn: AsyncConnection, caller: Caller | None, session_id: str) -> SessionView:
    """A session of the caller's merchant and mode; `caller=None` for the hosted page."""
    scope = scope_of(caller) if caller else {}
    row = await session_store.get(conn, session_id, **scope)
    if row is None:
        raise NotFound(f"No session {session_id!r} exists for this merchant and mode.")
    return await _view(conn, row)


async def show(rt: Runtime, caller: Caller, session_id: str) -> SessionView:
    """A session of the caller's merchant and mode, read together with the other shows
    running at the same moment (one query for all of them)."""
    view = await rt.batched(_views).get(session_id)
    if view is None or (view.row["merchant_id"], view.row["livemode"]) != (
        caller.merchant_id,
        caller.livemode,
    ):
        raise NotFound(f"No session {session_id!r} exists for this merchant and mode.")
    return view


async def _views(rt: Runtime, session_ids: list[str]) -> dict[str, SessionView]:
    async with rt.db.transaction(write=False) as conn:
        found = await session_store.get_many(conn, session_ids)
        paid = await payment_store.get_many(
            conn, [row["payment_id"] for row in found.values() if row["payment_id"]]
        )
    return {
        session_id: SessionView(row, paid.get(row["payment_id"]) if row["payment_id"] else None)
        for session_id, row in found.items()
    }


def cancel(rt: Runtime, caller: Caller, session_id: str) -> Plan[SessionView]:
    """Cancel a pending session (waiting first for a payment attempt in flight)."""

    async def prepare(conn: AsyncConnection) -> Done[SessionView]:
        row = await session_store.get(conn, session_id, **scope_of(caller), lock=True)
        if row is None:
            raise NotFound(f"No session {session_id!r} exists for this merchant and mode.")
        if rules.check_cancellable(row["status"]):
            if row["operation_id"] is not None:
                raise Busy()
            await session_store.cancel(conn, session_id, rt.now())
            row = await session_store.get(conn, session_id)
            assert row is not None
        return Done(await _view(conn, row))

    return Plan(prepare, phases.never)


def return_url_for(row: Mapping[Any, Any], base_url: str) -> str:
    """Where the customer goes when done: return_url with session_id, else the session page."""
    url = row["return_url"]
    if not url:
        return f"{base_url}/sessions/{row['id']}"
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "session_id"]
    query.append(("session_id", row["id"]))
    return urlunsplit(parts._replace(query=urlencode(query)))
