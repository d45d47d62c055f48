"""Currencies and amounts. Amounts are integers in the currency's minor unit.

Each currency's exponent (its minor unit) is ISO 4217's, held here and pinned by a test:
CLDR, and so Babel, changes its own view between releases (Babel 2.17 gives IDR two digits,
later releases none), and the amounts the API accepts must never move with a library's data.
Babel still supplies each locale's symbols, grouping and layout for display.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.numbers import format_currency

from kessai.core.rules import Invalid, integer

# ISO 4217 minor units of the currencies the contract lists (in the contract's order).
ISO_4217_EXPONENTS: dict[str, int] = {
    "JPY": 0, "USD": 2, "EUR": 2, "TWD": 2, "KRW": 0, "PLN": 2, "GBP": 2, "HKD": 2,
    "SGD": 2, "NZD": 2, "AUD": 2, "IDR": 2, "MYR": 2, "PHP": 2, "THB": 2, "CNY": 2,
    "BRL": 2, "CHF": 2, "CAD": 2, "VND": 0,
}  # fmt: skip
CURRENCIES: tuple[str, ...] = tuple(ISO_4217_EXPONENTS)

# Largest amount we accept: fits a signed 64-bit column with room for sums.
MAX_AMOUNT = 10**15

# The number part of a CLDR currency pattern: "#,##0" and its fraction, if any (".00").
_NUMBER = re.compile(r"([#,0]*0)(\.0+)?")


def currency(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in ISO_4217_EXPONENTS:
        raise Invalid(
            f"must be a supported ISO 4217 currency code: {', '.join(CURRENCIES)}",
            "invalid_currency",
        )
    return value.upper()


def amount(value: Any) -> int:
    return integer(value, minimum=0, maximum=MAX_AMOUNT)


def exponent(code: str) -> int:
    return ISO_4217_EXPONENTS[code]


def to_major(minor: int, code: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(code))


@lru_cache(maxsize=256)
def _pattern(code: str, locale: str) -> str:
    """The locale's currency pattern with exactly ISO 4217's number of fraction digits."""
    pattern = Locale.parse(locale).currency_formats["standard"].pattern
    digits = exponent(code)
    fraction = "." + "0" * digits if digits else ""
    return _NUMBER.sub(lambda m: m.group(1) + fraction, pattern)


def format_amount(minor: int, code: str, locale: str) -> str:
    """Human form with the locale's symbol and layout, e.g. ￥1,000 (ja), $10.50 (en)."""
    return str(
        format_currency(
            to_major(minor, code),
            code,
            format=_pattern(code, locale),
            locale=locale,
            currency_digits=False,
        )
    )
