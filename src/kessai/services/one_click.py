"""One-click: cards customers keep on the hosted page, per merchant, mode and the
merchant's `external_customer_id` (KOMOJU's "Hosted Page One-Click").

A session created with `external_customer_id` (a payment mode, the card offered) lets the
customer keep the card they pay with, with their consent (`Choice.keep`), and offers the
cards kept before for the same merchant, mode and id (`Choice.saved_card`): one click, no
card details and no security code (the card may still ask for 3-D Secure, the customer
being there). The card is vaulted before the payment, like `customer_payment` mode's, and
kept (`keep`) in phase 3, in the transaction that records the payment's success: a
declined or failed payment keeps nothing. `forget` is `DELETE /external_customers/{id}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import rules
from kessai.core.sessions import PAYMENT_MODES
from kessai.errors import InvalidParameter, NotFound
from kessai.ids import new_id
from kessai.services.charging import Source
from kessai.services.runtime import Caller, Runtime
from kessai.store import saved_cards as store

# What is kept of a card: never its number or security code.
SUMMARY = ("brand", "last_four_digits", "month", "year", "name")


@dataclass(frozen=True)
class Choice:
    """What the customer chose on the hosted page's card form."""

    keep: bool = False  # consent: keep the card entered for next time
    saved_card: str | None = None  # pay with this kept card instead


def offered(session: Mapping[Any, Any]) -> bool:
    """Whether this session's page may keep and offer cards."""
    return (
        bool(session["external_customer_id"])
        and session["mode"] in PAYMENT_MODES
        and "credit_card" in session["payment_types"]
    )


def _unexpired(card: Mapping[Any, Any], now: datetime) -> bool:
    source = card["source"]
    return (int(source["year"]), int(source["month"])) >= (now.year, now.month)


async def cards_for(
    conn: AsyncConnection, session: Mapping[Any, Any], now: datetime
) -> list[RowMapping]:
    """The kept cards the session's page offers (expired ones are not)."""
    if not offered(session):
        return []
    found = await store.of_customer(
        conn, session["merchant_id"], session["livemode"], session["external_customer_id"]
    )
    return [card for card in found if _unexpired(card, now)]


def keep_for(session: Mapping[Any, Any], source: Source, choice: Choice | None) -> str | None:
    """The external id a payment keeps its card for (`payments.keep_card_for`), if any:
    only a card entered now, with the customer's consent, on a page that offers it."""
    if choice is None or not choice.keep or source.card is None or not offered(session):
        return None
    return str(session["external_customer_id"])


async def saved_source(
    conn: AsyncConnection, session: Mapping[Any, Any], card_id: str, now: datetime
) -> Source:
    """A kept card of the session's external customer, as the payment's source: charged by
    its vault reference, the customer present."""
    card = None
    if offered(session) and rules.is_id(card_id):
        card = await store.get(
            conn,
            card_id,
            session["merchant_id"],
            session["livemode"],
            session["external_customer_id"],
        )
    if card is None or not _unexpired(card, now):
        raise InvalidParameter(
            "saved_card: no such saved card for this session's customer", param="saved_card"
        )
    return Source(
        "credit_card",
        {**card["source"], "email": session["email"] or ""},
        card_reference=card["card_reference"],
        fingerprint=card["card_fingerprint"],
    )


async def keep(conn: AsyncConnection, rt: Runtime, payment: Mapping[Any, Any]) -> None:
    """Phase 3 of a successful payment: keep its card if the customer asked to."""
    external_id = payment.get("keep_card_for")
    if not external_id or not payment["card_reference"] or not payment["card_fingerprint"]:
        return
    details = payment["payment_details"]
    await store.keep(
        conn,
        {
            "id": new_id(),
            "merchant_id": payment["merchant_id"],
            "livemode": payment["livemode"],
            "external_customer_id": external_id,
            "source": {key: details[key] for key in SUMMARY if key in details},
            "card_reference": payment["card_reference"],
            "card_fingerprint": payment["card_fingerprint"],
            "created_at": rt.now(),
        },
    )


async def forget(conn: AsyncConnection, caller: Caller, external_id: str) -> str:
    """Erase every card kept for the external id in the caller's merchant and mode."""
    try:
        rules.text(external_id, max_length=255, allow_empty=False)
    except rules.Invalid:
        erased = 0  # no session could have been given this id: nothing kept under it
    else:
        erased = await store.forget(conn, caller.merchant_id, caller.livemode, external_id)
    if not erased:
        raise NotFound("No saved payment details exist for this external customer id in this mode.")
    return external_id
