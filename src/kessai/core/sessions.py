"""The session state machine.

    pending ──► completed        (paid, or card registered; at most once)
       └──────► cancelled        (by the merchant)

Expiry is not a status: a session is `expired` once `expires_at` has passed while it is not
completed. Only a pending, unexpired session can be paid.
"""

from __future__ import annotations

from datetime import datetime

from kessai.core.payment_types import PAYMENT_TYPES, serves
from kessai.errors import InvalidPaymentType, NotCancellable, SessionNotPayable

PENDING, COMPLETED, CANCELLED = "pending", "completed", "cancelled"
MODES = ("payment", "customer", "customer_payment")
PAYMENT_MODES = ("payment", "customer_payment")
CUSTOMER_MODES = ("customer", "customer_payment")
LOCALES = ("ja", "en", "ko")
DEFAULT_EXPIRES_IN = 86400


def is_expired(status: str, expires_at: datetime, now: datetime) -> bool:
    return status != COMPLETED and now >= expires_at


def check_payable(status: str, expires_at: datetime, now: datetime) -> None:
    if status == COMPLETED:
        raise SessionNotPayable("This session has already been completed.")
    if status == CANCELLED:
        raise SessionNotPayable("This session has been cancelled and cannot be paid.")
    if is_expired(status, expires_at, now):
        raise SessionNotPayable("This session has expired; create a new session.")


def check_cancellable(status: str) -> bool:
    """True when cancelling changes something; False for an already cancelled session."""
    if status == COMPLETED:
        raise NotCancellable("A completed session cannot be cancelled.")
    return status == PENDING


def offered_types(
    requested: list[str] | None, currency: str, mode: str, supported: frozenset[str]
) -> list[str]:
    """The payment types a new session offers, in catalogue order when defaulted."""
    if requested is None:
        return [
            slug
            for slug, ptype in PAYMENT_TYPES.items()
            if slug in supported and serves(ptype, currency, mode)
        ]
    if not requested:
        raise InvalidPaymentType(
            "payment_types must name at least one payment type", param="payment_types"
        )
    offered: list[str] = []
    for slug in requested:
        if not serves(PAYMENT_TYPES[slug], currency, mode):
            raise InvalidPaymentType(
                f"payment_types: {slug} cannot be used for {currency} in {mode} mode",
                param="payment_types",
            )
        if slug not in supported:
            raise InvalidPaymentType(
                f"payment_types: {slug} is not available from this server's processor",
                param="payment_types",
            )
        if slug not in offered:
            offered.append(slug)
    return offered
