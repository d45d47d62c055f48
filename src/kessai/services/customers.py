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
from kessai.services import cards
from kessai.services.charging import Scope, Source, resolve_source
from kessai.services.runtime import Caller, Runtime
from kessai.store import customers as store
from kessai.store import events, rows
from kessai.store.tables import customers as table


def scope_of(caller: Caller) -> Scope:
    return Scope(caller.merchant_id, caller.livemode)


async def _card_fields(rt: Runtime, scope: Scope, card: Card | Source) -> dict[str, Any] | Declined:
    """Check and vault a card (or take a token's vaulted card): the columns to store, or
    the processor's decline."""
    if isinstance(card, Source):  # a token: already vaulted by the processor
        return {
            "source": {k: card.summary[k] for k in ("brand", "last_four_digits", "month", "year")},
            "card_reference": card.card_reference,
            "card_fingerprint": card.fingerprint,
        }
    vaulted = await rt.processor(scope.livemode).vault(card, verify=True)
    if isinstance(vaulted, Declined):
        return vaulted
    summary = cards.summary(card, None)
    return {
        "source": {k: summary[k] for k in ("brand", "last_four_digits", "month", "year")},
        "card_reference": vaulted.reference,
        "card_fingerprint": cards.fingerprint(rt.secret, card),
    }


async def card_of(conn: AsyncConnection, rt: Runtime, scope: Scope, details: Any) -> Card | Source:
    """The card to save: card details, or a token id (consumed here)."""
    if isinstance(details, str):
        return await resolve_source(
            conn, rt, scope, payment_details=details, allowed_types=["credit_card"]
        )
    if not isinstance(details, dict):
        raise InvalidParameter("payment_details must be card details", param="payment_details")
    ptype = parse(PaymentDetailsType, details, prefix="payment_details").type
    if ptype != "credit_card":
        raise InvalidParameter(
            "payment_details[type] must be credit_card to save a card",
            param="payment_details[type]",
        )
    return cards.card_from(parse(CardDetails, details, prefix="payment_details"), rt.clock())


async def save(
    conn: AsyncConnection,
    rt: Runtime,
    scope: Scope,
    *,
    customer_id: str | None,
    params: CustomerParams,
    card: Card | Source | None,
    scenario: str | None = None,
    create_with_id: str | None = None,
) -> RowMapping | Declined:
    """Create (customer_id None) or update a customer; a declined card changes nothing."""
    now = rt.clock()
    existing = None
    if customer_id is not None:
        existing = await store.get(conn, customer_id, lock=True, **scope.kw())
        if existing is None:
            raise NotFound(f"No customer {customer_id!r} exists for this merchant and mode.")
    values: dict[str, Any] = {
        k: v for k, v in params.model_dump(exclude={"payment_details"}).items() if v is not None
    }
    if card is not None:
        fields = await _card_fields(rt, scope, card)
        if isinstance(fields, Declined):
            return fields
        values.update(fields)
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


async def create(
    conn: AsyncConnection, rt: Runtime, caller: Caller, params: CustomerParams, scenario: str | None
) -> RowMapping | Declined:
    scope = scope_of(caller)
    card = None
    if params.payment_details is not None:
        card = await card_of(conn, rt, scope, params.payment_details)
    return await save(
        conn, rt, scope, customer_id=None, params=params, card=card, scenario=scenario
    )


async def update(
    conn: AsyncConnection, rt: Runtime, caller: Caller, customer_id: str, params: CustomerParams
) -> RowMapping | Declined:
    scope = scope_of(caller)
    card = None
    if params.payment_details is not None:
        card = await card_of(conn, rt, scope, params.payment_details)
    return await save(conn, rt, scope, customer_id=customer_id, params=params, card=card)


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
    now = rt.clock()
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
    now = rt.clock()
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
