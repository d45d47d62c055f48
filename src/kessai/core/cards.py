"""Card rules: number checks, brands, expiry, and the test-mode card table.

Pure functions. A card number only ever lives in memory for the length of a request; what
leaves this module for storage is `CardSummary` (brand, last four, expiry, name, email).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from kessai.core.rules import Invalid, integer


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def normalize_number(value: object) -> str:
    """Digits only (spaces and dashes allowed between groups); 12 to 19 digits, Luhn-valid."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise Invalid("must be a card number made of digits")
    digits = re.sub(r"[ -]", "", str(value))
    if not re.fullmatch(r"[0-9]{12,19}", digits):
        raise Invalid("must be a card number of 12 to 19 digits")
    if not luhn_ok(digits):
        raise Invalid("is not a valid card number (check digit mismatch)")
    return digits


# (brand, prefix ranges) checked in order; ranges are inclusive on the leading digits.
_BRANDS: tuple[tuple[str, tuple[tuple[int, int, int], ...]], ...] = (
    ("american_express", ((2, 34, 34), (2, 37, 37))),
    ("jcb", ((4, 3528, 3589),)),
    ("diners_club", ((3, 300, 305), (2, 36, 36), (2, 38, 39))),
    ("discover", ((4, 6011, 6011), (2, 64, 65))),
    ("master", ((2, 51, 55), (4, 2221, 2720))),
    ("visa", ((1, 4, 4),)),
)


def brand_of(number: str) -> str:
    for brand, ranges in _BRANDS:
        for width, low, high in ranges:
            if low <= int(number[:width]) <= high:
                return brand
    return "unknown"


def expiry(month: object, year: object, *, today_year: int, today_month: int) -> tuple[int, int]:
    """(month, four-digit year). Two-digit years are in the current century. Not in the past."""
    m = integer(month, minimum=1, maximum=12)
    y = integer(year, minimum=0, maximum=9999)
    if y < 100:
        y += today_year // 100 * 100
    if (y, m) < (today_year, today_month):
        raise Invalid("the card has expired: month and year are in the past")
    return m, y


def verification_value(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not re.fullmatch(r"[0-9]{3,4}", str(value)):
        raise Invalid("must be the 3 or 4 digit security code")
    return str(value)


class CardRule(Enum):
    APPROVE = "approve"
    DECLINE = "decline"
    THREE_DS_FRICTIONLESS = "3ds_frictionless"
    THREE_DS_CHALLENGE = "3ds_challenge"
    THREE_DS_CHALLENGE_FAILS = "3ds_challenge_fails"
    THREE_DS_FAILS_ON_RETURN = "3ds_fails_on_return"


@dataclass(frozen=True)
class TestCard:
    rule: CardRule
    decline_code: str | None = None
    # Approved, then disputed a day after capture; a defense is won or lost.
    dispute: str | None = None


_DECLINES = {
    "4123111111111000": "insufficient_funds",
    "4123111111111018": "exceeds_limit",
    "4123111111111034": "bad_verification_value",
    "4123111111111042": "card_expired",
    "4123111111111059": "card_declined",
    "4123111111111067": "invalid_number",
    "4123111111111075": "invalid_number",
}
_THREE_DS = {
    CardRule.THREE_DS_FRICTIONLESS: ("4100000000000100", "5100000000000107", "3528000000000106"),
    CardRule.THREE_DS_CHALLENGE: ("4100000000005000", "5100000000005007", "3528000000005006"),
    CardRule.THREE_DS_CHALLENGE_FAILS: (
        "4100000000300005",
        "5100000000300002",
        "3528000000300001",
    ),
    CardRule.THREE_DS_FAILS_ON_RETURN: (
        "4100000000500000",
        "5100000000500007",
        "3528000000500006",
    ),
}
_DISPUTES = {"4123111111111208": "won", "4123111111111216": "lost"}
TEST_CARDS: dict[str, TestCard] = {
    **{n: TestCard(CardRule.DECLINE, code) for n, code in _DECLINES.items()},
    **{n: TestCard(CardRule.APPROVE, dispute=outcome) for n, outcome in _DISPUTES.items()},
    **{n: TestCard(rule) for rule, numbers in _THREE_DS.items() for n in numbers},
}
THREE_DS_PASSWORD = "123456"  # noqa: S105 - the documented test-mode password


def test_card(number: str) -> TestCard:
    """What test mode does with this (valid) number; any unlisted number is approved."""
    return TEST_CARDS.get(number, TestCard(CardRule.APPROVE))


# `Komoju-Scenario` values that open a chargeback a day after capture (test mode), with
# what a defense of it gets.
CHARGEBACK_SCENARIOS = {"chargeback": "won", "chargeback_lost": "lost"}

DECLINE_MESSAGES = {
    "card_declined": "The card was declined. Try another card.",
    "insufficient_funds": "The card has insufficient funds. Try another card.",
    "exceeds_limit": "The payment exceeds the card's limit. Try another card.",
    "bad_verification_value": "The security code (CVV) is incorrect. Check it and try again.",
    "card_expired": "The card has expired. Try another card.",
    "invalid_number": "The card number is invalid. Check it and try again.",
    "three_d_secure_failed": "3-D Secure authentication failed. Try again or use another card.",
    "request_failed": "The payment could not be completed. Try again or use another method.",
    "processor_unavailable": (
        "The payment processor could not be reached and nothing was charged. Try again."
    ),
}
