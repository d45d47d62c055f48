"""The payment state machine (contract section 3).

    pending ──► authorized ──► captured ──► refunded (only when fully refunded)
       │            │   └──► cancelled / expired
       └──► failed  └──► (cash types: customer pays → captured)

`authorized` is either a card authorization awaiting capture or a cash-type payment
awaiting the customer. A partly refunded payment stays `captured`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PENDING = "pending"
AUTHORIZED = "authorized"
CAPTURED = "captured"
REFUNDED = "refunded"
CANCELLED = "cancelled"
EXPIRED = "expired"
FAILED = "failed"

STATUSES = (PENDING, AUTHORIZED, CAPTURED, REFUNDED, CANCELLED, EXPIRED, FAILED)

MOVES: dict[str, frozenset[str]] = {
    PENDING: frozenset({AUTHORIZED, CAPTURED, FAILED, CANCELLED, EXPIRED}),
    AUTHORIZED: frozenset({CAPTURED, CANCELLED, EXPIRED}),
    CAPTURED: frozenset({REFUNDED}),
    REFUNDED: frozenset(),
    CANCELLED: frozenset(),
    EXPIRED: frozenset(),
    FAILED: frozenset(),
}

# Statuses of a payment that completed its session (a failed attempt never does).
SUCCESSFUL = frozenset({AUTHORIZED, CAPTURED, REFUNDED, CANCELLED, EXPIRED})


def can_move(current: str, new: str) -> bool:
    return new in MOVES[current]


def left_to_refund(payment: Mapping[Any, Any]) -> int:
    """What a refund of this card or wallet payment may still take: what was captured (and
    its tax), less what was refunded and what a refund under way holds."""
    return int(
        payment["amount_captured"]
        + payment["tax"]
        - payment["amount_refunded"]
        - payment["refund_reserved"]
    )
