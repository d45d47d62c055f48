"""Customers: a saved card (as a processor vault reference) with an email and metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.errors import InvalidParameter, NotFound
from kessai.ids import new_id
from kessai.processors.base import Card, Declined
from kessai.schemas import resources
from kessai.schemas.requests import (
    CardDetails,
    CustomerParams,
    ListParams,
    PaymentDetailsType,
    parse,
)
from kessai.services import calls, cards, phases
from kessai.services.charging import Scope, Source, resolve_source
from kessai.services.phases import Done, Plan
from kessai.services.runtime import Caller, Runtime
from kessai.store import customers as store
from kessai.store import events, rows
from kessai.store.tables import customers as table


def scope_of(caller: Caller) -> Scope:
    return Scope(caller.merchant_id, caller.livemode)


Fields = dict[str, Any] | Declined | None


def _token_fields(source: Source) -> dict[str, Any]:
    """A token's card, vaulted by the processor already: the columns to store."""
    return {
        "source": {k: source.summary[k] for k in ("brand", "last_four_digits", "month", "year")},
        "card_reference": source.card_reference,
        "card_fingerprint": source.fingerprint,
    }


async def vault_details(rt: Runtime, scope: Scope, details: Any) -> Fields:
    """Card details to save, checked and vaulted (verified) before any transaction: the
    columns to store, or the processor's decline. A token id (a string) is left for the
    transaction, which consumes it."""
    if details is None or isinstance(details, str):
        return None
    card = parse_card(details, rt)
    reference = await calls.vault(rt, scope.merchant_id, scope.livemode, card, verify=True)
    if isinstance(reference, Declined):
        return reference
    summary = cards.summary(card, None)
    return {
        "source": {k: summary[k] for k in ("brand", "last_four_digits", "month", "year")},
        "card_reference": reference,
        "card_fingerprint": cards.fingerprint(rt.secret, card),
    }


async def fields_in(
    conn: AsyncConnection, rt: Runtime, scope: Scope, details: Any, vaulted: Fields
) -> Fields:
    """Inside the transaction: a token id's card (consuming the token), else `vaulted`."""
    if isinstance(details, str):
        return _token_fields(
            await resolve_source(
                conn, rt, scope, payment_details=details, allowed_types=["credit_card"]
            )
        )
    return vaulted


def parse_card(details: Any, rt: Runtime) -> Card:
    """Card details as a `Card` (checked), or the error naming what is wrong."""
    if not isinstance(details, dict):
        raise InvalidParameter("payment_details must be card details", param="payment_details")
    ptype = parse(PaymentDetailsType, details, prefix="payment_details").type
    if ptype != "credit_card":
        raise InvalidParameter(
            "payment_details[type] must be credit_card to save a card",
            param="payment_details[type]",
        )
    return cards.card_from(parse(CardDetails, details, prefix="payment_details"), rt.now())


async def save(
    conn: AsyncConnection,
    rt: Runtime,
    scope: Scope,
    *,
    customer_id: str | None,
    params: CustomerParams,
    card: Fields,
    scenario: str | None = None,
    create_with_id: str | None = None,
) -> RowMapping | Declined:
    """Create (customer_id None) or update a customer; a declined card changes nothing."""
    now = rt.now()
    existing = None
    if customer_id is not None:
        existing = await store.get(conn, customer_id, lock=True, **scope.kw())
        if existing is None:
            raise NotFound(f"No customer {customer_id!r} exists for this merchant and mode.")
    values: dict[str, Any] = {
        k: v for k, v in params.model_dump(exclude={"payment_details"}).items() if v is not None
    }
    if isinstance(card, Declined):
        return card
    if card is not None:
        values.update(card)
    if existing is None:
        new_id_ = create_with_id or new_id()
        values = {
            "id": new_id_,
            **scope.kw(),
            "email": None,
            "currency": None,
            "locale": None,
            "metadata": {},
            "source": None,
            "card_reference": None,
            "card_fingerprint": None,
            "scenario": scenario,
            "created_at": now,
            "updated_at": now,
            "deleted_at": None,
            **values,
        }
        await store.insert(conn, values)
        event_type, row_id = "customer.created", new_id_
    else:
        await store.update(conn, existing["id"], {**values, "updated_at": now})
        event_type, row_id = "customer.updated", existing["id"]
    row = await store.get(conn, row_id, **scope.kw())
    assert row is not None
    await _event(conn, row, event_type, now)
    return row


async def _event(conn: AsyncConnection, row: Mapping[Any, Any], event_type: str, now: Any) -> None:
    await events.insert(
        conn,
        merchant_id=row["merchant_id"],
        livemode=row["livemode"],
        type=event_type,
        data=resources.customer(row),
        now=now,
    )


def create(
    rt: Runtime, caller: Caller, params: CustomerParams, scenario: str | None
) -> Plan[RowMapping | Declined]:
    return _saving(rt, caller, None, params, scenario)


def update(
    rt: Runtime, caller: Caller, customer_id: str, params: CustomerParams
) -> Plan[RowMapping | Declined]:
    return _saving(rt, caller, customer_id, params, None)


def _saving(
    rt: Runtime,
    caller: Caller,
    customer_id: str | None,
    params: CustomerParams,
    scenario: str | None,
) -> Plan[RowMapping | Declined]:
    """Card details are vaulted before the transaction (`before`); a token id is consumed
    inside it."""
    scope = scope_of(caller)
    if isinstance(params.payment_details, dict):
        parse_card(params.payment_details, rt)  # refused before anything is vaulted
    vaulted: list[Fields] = [None]

    async def before() -> None:
        vaulted[0] = await vault_details(rt, scope, params.payment_details)

    async def prepare(conn: AsyncConnection) -> Done[RowMapping | Declined]:
        card = await fields_in(conn, rt, scope, params.payment_details, vaulted[0])
        saved = await save(
            conn, rt, scope, customer_id=customer_id, params=params, card=card, scenario=scenario
        )
        return Done(saved)

    return Plan(prepare, phases.never, before=before)


async def get(conn: AsyncConnection, caller: Caller, customer_id: str) -> RowMapping:
    row = await store.get(conn, customer_id, **scope_of(caller).kw())
    if row is None:
        raise NotFound(f"No customer {customer_id!r} exists for this merchant and mode.")
    return row


async def delete(
    conn: AsyncConnection, rt: Runtime, caller: Caller, customer_id: str
) -> RowMapping:
    """Erase the saved card and retire the customer; later reads are 404."""
    row = await get(conn, caller, customer_id)
    now = rt.now()
    erased = {"source": None, "card_reference": None, "card_fingerprint": None}
    await store.update(conn, customer_id, {**erased, "deleted_at": now, "updated_at": now})
    gone = {**row, **erased, "deleted_at": now}
    await _event(conn, gone, "customer.deleted", now)
    return gone  # type: ignore[return-value]


async def listing(
    conn: AsyncConnection, caller: Caller, params: ListParams
) -> tuple[int, list[RowMapping]]:
    return await rows.page(
        conn,
        table,
        **scope_of(caller).kw(),
        filters=[table.c.deleted_at.is_(None)],
        page=params.page,
        per_page=params.per_page,
        start=params.start_time,
        end=params.end_time,
    )


async def store_card(
    conn: AsyncConnection,
    rt: Runtime,
    scope: Scope,
    customer_id: str,
    *,
    email: str | None,
    summary: Mapping[Any, Any],
    card_reference: str,
    fingerprint: str | None,
    locale: str | None,
    currency: str | None,
) -> RowMapping:
    """Save an already vaulted card on a customer, creating the customer if it is new."""
    now = rt.now()
    card = {
        "source": {k: summary[k] for k in ("brand", "last_four_digits", "month", "year")},
        "card_reference": card_reference,
        "card_fingerprint": fingerprint,
    }
    existing = await store.get(conn, customer_id, lock=True, **scope.kw())
    if existing is None:
        await store.insert(
            conn,
            {
                "id": customer_id,
                **scope.kw(),
                "email": email,
                "currency": currency,
                "locale": locale,
                "metadata": {},
                "scenario": None,
                "created_at": now,
                "updated_at": now,
                "deleted_at": None,
                **card,
            },
        )
        event_type = "customer.created"
    else:
        await store.update(conn, customer_id, {**card, "updated_at": now})
        event_type = "customer.updated"
    row = await store.get(conn, customer_id, **scope.kw())
    assert row is not None
    await _event(conn, row, event_type, now)
    return row
