"""Tokens: card details exchanged (with the publishable key) for a one-use id."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.errors import InvalidParameter
from kessai.ids import new_id
from kessai.processors.base import Card, Declined
from kessai.schemas.requests import CreateToken
from kessai.services import cards
from kessai.services.customers import card_of, scope_of
from kessai.services.runtime import Caller, Runtime
from kessai.store import tokens as store
from kessai.store.tables import tokens as table

TOKEN_LIFETIME = timedelta(hours=24)


async def create(
    conn: AsyncConnection, rt: Runtime, caller: Caller, params: CreateToken
) -> RowMapping | Declined:
    card = await card_of(conn, rt, scope_of(caller), params.payment_details)
    if not isinstance(card, Card):
        raise InvalidParameter("payment_details must be card details", param="payment_details")
    vaulted = await rt.processor(caller.livemode).vault(card, verify=False)
    if isinstance(vaulted, Declined):  # a processor may still refuse to store a card
        return vaulted
    now = rt.clock()
    values = {
        "id": new_id(),
        **scope_of(caller).kw(),
        "payment_type": "credit_card",
        "payment_details": cards.summary(card, None),
        "card_reference": vaulted.reference,
        "card_fingerprint": cards.fingerprint(rt.secret, card),
        "created_at": now,
        "expires_at": now + TOKEN_LIFETIME,
        "used_at": None,
    }
    await store.insert(conn, values)
    return {**values}  # type: ignore[return-value]


__all__ = ["create", "table"]
