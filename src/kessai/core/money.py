"""Currencies and amounts. Amounts are integers in the currency's minor unit.

Exponents come from Babel's CLDR data, which matches ISO 4217 for every supported currency.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel.numbers import format_currency, get_currency_precision

from kessai.core.rules import Invalid, integer

CURRENCIES: tuple[str, ...] = (
    "JPY", "USD", "EUR", "TWD", "KRW", "PLN", "GBP", "HKD", "SGD", "NZD",
    "AUD", "IDR", "MYR", "PHP", "THB", "CNY", "BRL", "CHF", "CAD", "VND",
)  # fmt: skip

# Largest amount we accept: fits a signed 64-bit column with room for sums.
MAX_AMOUNT = 10**15


def currency(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in CURRENCIES:
        raise Invalid(
            f"must be a supported ISO 4217 currency code: {', '.join(CURRENCIES)}",
            "invalid_currency",
        )
    return value.upper()


def amount(value: Any) -> int:
    return integer(value, minimum=0, maximum=MAX_AMOUNT)


def exponent(code: str) -> int:
    return int(get_currency_precision(code))


def to_major(minor: int, code: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(code))


def format_amount(minor: int, code: str, locale: str) -> str:
    """Human form per Babel's CLDR data, e.g. ￥1,000 (ja, JPY), $10.50 (en, USD)."""
    return str(format_currency(to_major(minor, code), code, locale=locale))
