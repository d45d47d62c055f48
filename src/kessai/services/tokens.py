"""Tokens: card details exchanged (with the publishable key) for a one-use id."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.ids import new_id
from kessai.processors.base import Declined
from kessai.schemas.requests import CreateToken
from kessai.services import calls, cards, phases
from kessai.services.customers import parse_card, scope_of
from kessai.services.phases import Done, Plan
from kessai.services.runtime import Caller, Runtime
from kessai.store import tokens as store
from kessai.store.tables import tokens as table

TOKEN_LIFETIME = timedelta(hours=24)


def create(rt: Runtime, caller: Caller, params: CreateToken) -> Plan[RowMapping | Declined]:
    """Vault the card (before any transaction), then keep the token."""
    card = parse_card(params.payment_details, rt)
    scope = scope_of(caller)
    vaulted: list[str | Declined] = []

    async def before() -> None:
        vaulted.append(await calls.vault(rt, scope.merchant_id, scope.livemode, card, verify=False))

    async def prepare(conn: AsyncConnection) -> Done[RowMapping | Declined]:
        reference = vaulted[0]
        if isinstance(reference, Declined):  # a processor may still refuse to store a card
            return Done(reference)
        now = rt.now()
        values = {
            "id": new_id(),
            **scope.kw(),
            "payment_type": "credit_card",
            "payment_details": cards.summary(card, None),
            "card_reference": reference,
            "card_fingerprint": cards.fingerprint(rt.secret, card),
            "created_at": now,
            "expires_at": now + TOKEN_LIFETIME,
            "used_at": None,
        }
        await store.insert(conn, values)
        return Done(values)  # type: ignore[arg-type]

    return Plan(prepare, phases.never, before=before)


__all__ = ["create", "table"]
