"""Subscriptions: a saved customer charged `amount` every `period`.

Statuses: `pending` (just created, its first charge's outcome not recorded yet: only seen
if that request was cut short), `active` (the last charge succeeded), `retrying` (a charge
failed; `retry_at` is the next try), `suspended` (the last retry failed: no more charges),
`deleted` (ended by DELETE: no more charges). A subscription cannot be changed.

Creating one makes its first charge at once, in the same phased request
(`kessai.services.phases`): phase 1 records the subscription (`pending`) with its payment,
phase 3 applies the charge's outcome to both. A declined first charge still creates the
subscription, `retrying`. Later charges are made by `run_due`
(`kessai.services.subscription_charges`), from the worker and from test clocks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import periods
from kessai.errors import InvalidParameter, NotFound
from kessai.ids import new_id
from kessai.schemas.requests import CreatePayment, CreateSubscription, ListParams
from kessai.services import payments, phases
from kessai.services.due import DueWork
from kessai.services.phases import Done, Plan
from kessai.services.runtime import Caller, Runtime
from kessai.services.subscription_charges import (
    SubscriptionView,
    lease,
    next_due,
    record_event,
    run_due,
    settle,
    tagged,
    view,
    views,
)
from kessai.store import customers as customer_store
from kessai.store import subscriptions as store

DUE = DueWork("subscriptions", next_due, run_due)


def _scope(caller: Caller) -> dict[str, Any]:
    return {"merchant_id": caller.merchant_id, "livemode": caller.livemode}


def create(rt: Runtime, caller: Caller, params: CreateSubscription) -> Plan[SubscriptionView]:
    subscription_id = new_id()
    first = payments.create(
        rt,
        caller,
        CreatePayment.model_validate(
            {"amount": params.amount, "currency": params.currency, "customer": params.customer}
        ),
        None,
        subscription_id=subscription_id,
    )

    async def prepare(conn: AsyncConnection) -> phases.Intent | Done[SubscriptionView]:
        customer = await customer_store.get(conn, params.customer, **_scope(caller))
        if customer is None:
            raise InvalidParameter(
                f"customer {params.customer!r} does not exist for this merchant and mode",
                param="customer",
            )
        if customer["card_reference"] is None:
            raise InvalidParameter(
                "customer has no saved card; save one on the customer "
                "(payment_details) before subscribing it",
                param="customer",
            )
        now = rt.now()
        processor = await rt.processor(caller.merchant_id, caller.livemode)
        await store.insert(
            conn,
            {
                "id": subscription_id,
                **_scope(caller),
                "customer_id": params.customer,
                "status": store.PENDING,
                "amount": params.amount,
                "currency": params.currency,
                "period": params.period,
                "day": periods.day_of(now, params.period),
                "payment_details": dict(customer["source"]),
                "metadata": params.metadata,
                "cycle": 0,
                "retry_count": 0,
                "retry_at": None,
                "next_capture_at": now,
                "due_at": now,
                # This request settles the first charge; the worker only if it does not.
                "lease_until": rt.clock() + lease(processor),
                "created_at": now,
                "updated_at": now,
                "ended_at": None,
            },
        )
        made = await first.prepare(conn)
        assert isinstance(made, phases.Intent)  # a payment is always a processor call
        return tagged(made, (0, 0))

    async def present(conn: AsyncConnection, operation: Any, seen: Any) -> SubscriptionView:
        # The payment names its subscription (a resumed request made a plan of its own).
        charge = await payments.present(conn, operation, seen)
        made = charge.row["subscription_id"]
        await settle(conn, rt, made, (0, 0), charge.row, first=True)
        row = await store.get(conn, made)
        assert row is not None
        return await view(conn, row)

    return Plan(prepare, present, (caller.merchant_id, caller.livemode))


async def get(conn: AsyncConnection, caller: Caller, subscription_id: str) -> SubscriptionView:
    row = await store.get(conn, subscription_id, **_scope(caller))
    if row is None:
        raise NotFound(f"No subscription {subscription_id!r} exists for this merchant and mode.")
    return await view(conn, row)


async def listing(
    conn: AsyncConnection, caller: Caller, params: ListParams
) -> tuple[int, list[SubscriptionView]]:
    total, found = await store.page(
        conn,
        **_scope(caller),
        page=params.page,
        per_page=params.per_page,
        start=params.start_time,
        end=params.end_time,
    )
    return total, await views(conn, found)


def delete(rt: Runtime, caller: Caller, subscription_id: str) -> Plan[SubscriptionView]:
    """End the subscription at once: no charge follows. A charge already sent to the
    processor is not waited for: it completes as a payment of the subscription (seen in
    its `payments`), but never moves it again. Deleting a deleted one changes nothing."""

    async def prepare(conn: AsyncConnection) -> Done[SubscriptionView]:
        row: RowMapping | None = await store.get(conn, subscription_id, lock=True, **_scope(caller))
        if row is None:
            raise NotFound(
                f"No subscription {subscription_id!r} exists for this merchant and mode."
            )
        if row["status"] == store.DELETED:
            return Done(await view(conn, row))
        now = rt.now()
        values = {
            "status": store.DELETED,
            "ended_at": now,
            "retry_at": None,
            "due_at": None,
            "updated_at": now,
        }
        await store.end(conn, subscription_id, values)  # the row is locked: it was not ended
        ended = {**row, **values, "lease_until": None}
        await record_event(conn, ended, "subscription.deleted")
        return Done(await view(conn, ended))

    return Plan(prepare, phases.never, (caller.merchant_id, caller.livemode))
