"""Turning entered card details into a processor `Card` and a storable summary."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from kessai.core import cards
from kessai.core.rules import Invalid
from kessai.errors import PARAMETER_ERRORS, InvalidParameter, ParameterError
from kessai.processors.base import Card
from kessai.schemas.requests import CardDetails

T = TypeVar("T")


def checked(param: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call a core rule; a broken rule becomes a KOMOJU error naming `param`."""
    try:
        return fn(*args, **kwargs)
    except Invalid as exc:
        cls: type[ParameterError] = PARAMETER_ERRORS.get(exc.code, InvalidParameter)
        raise cls(f"{param} {exc.message}", param=param) from None


def card_from(details: CardDetails, now: datetime, prefix: str = "payment_details") -> Card:
    number = checked(f"{prefix}[number]", cards.normalize_number, details.number)
    month, year = checked(
        f"{prefix}[year]",
        cards.expiry,
        details.month,
        details.year,
        today_year=now.year,
        today_month=now.month,
    )
    cvv = checked(
        f"{prefix}[verification_value]", cards.verification_value, details.verification_value
    )
    return Card(number, month, year, cvv, details.name, details.email)


def summary(card: Card, email: str | None) -> dict[str, Any]:
    """What is stored and returned about a card: never the number or the CVV."""
    result: dict[str, Any] = {
        "brand": cards.brand_of(card.number),
        "last_four_digits": card.number[-4:],
        "month": card.month,
        "year": card.year,
        "email": card.email or email or "",
        "verification_value": "Approved" if card.verification_value else "Not Supplied",
    }
    if card.name:
        result["name"] = card.name
    return result


def fingerprint(secret: bytes, card: Card) -> str:
    return hmac.new(secret, card.number.encode(), hashlib.sha256).hexdigest()
