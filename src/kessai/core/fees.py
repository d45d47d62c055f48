"""What the merchant pays kessai per payment: a percentage plus a fixed amount, per payment
type. Pure, no I/O.

A rate is in basis points (hundredths of a percent: 360 is 3.60 %), so fees are integer
arithmetic from end to end: the fee on a captured total is `total * bps / 10000` rounded
half up, plus `fixed` (in the payment currency's minor unit), and never more than the total.
The customer's `payment_method_fee` is a different thing: it is part of what the customer
pays, and so part of the total the fee is taken on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kessai.core.money import MAX_AMOUNT
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.core.rules import Invalid, integer


@dataclass(frozen=True)
class Rate:
    bps: int  # 360 = 3.60 %
    fixed: int = 0

    def fee(self, total: int) -> int:
        if total <= 0:
            return 0
        return min(total, (total * self.bps + 5_000) // 10_000 + self.fixed)

    def as_json(self) -> dict[str, Any]:
        return {"percent": percent_text(self.bps), "fixed": self.fixed}


def percent_text(bps: int) -> str:
    """360 -> "3.6", 300 -> "3", 5 -> "0.05"."""
    text = f"{Decimal(bps) / 100:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# Documented defaults (README, "Fees"): cards 3.6 %, cash 2.75 % (bank transfer 1.5 % +
# 100), wallets 3.25 %.
_BY_KIND = {"card": Rate(360), "cash": Rate(275), "wallet": Rate(325)}
DEFAULT_FEES: dict[str, Rate] = {
    slug: _BY_KIND[ptype.kind] for slug, ptype in PAYMENT_TYPES.items()
}
DEFAULT_FEES["bank_transfer"] = Rate(150, 100)

_PERCENT = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?")
_DIGITS = re.compile(r"[0-9]{1,16}")


def rates(overrides: Mapping[str, Any] | None) -> dict[str, Rate]:
    """Every payment type's rate for a merchant: the defaults with its overrides."""
    return {slug: rate_of(slug, overrides) for slug in DEFAULT_FEES}


def rate_of(payment_type: str, overrides: Mapping[str, Any] | None) -> Rate:
    """The merchant's rate for this type: its override if it set one, else the default."""
    found = (overrides or {}).get(payment_type)
    if found is None:
        return DEFAULT_FEES.get(payment_type, Rate(360))
    return Rate(parse_percent(found["percent"]), int(found["fixed"]))


def parse_percent(value: object) -> int:
    """A percentage as given by a merchant ("3.6", or a whole number; 3.6 is refused: no
    floats) in basis points: digits with at most one decimal point, 0 to 100, at most two
    decimals. No signs, exponents, spaces or underscores (all of which `Decimal` takes)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Invalid('must be a percentage written as a string, e.g. "3.6"')
    if isinstance(value, str) and not _PERCENT.fullmatch(value):
        raise Invalid('must be a percentage written with digits and one decimal point, e.g. "3.6"')
    bps = Decimal(value) * 100
    if bps != bps.to_integral_value() or not 0 <= bps <= 10_000:
        raise Invalid("must be a percentage from 0 to 100 with at most two decimals")
    return int(bps)


def parse_fixed(value: object) -> int:
    """The fixed part of a fee: a whole number of minor units (as JSON or a form field
    gives it; not a bool or a float), 0 to `MAX_AMOUNT`."""
    return integer(value, minimum=0, maximum=MAX_AMOUNT)


def parse_rate(text: str) -> Rate:
    """`PERCENT` or `PERCENT+FIXED` as the CLI takes it: "3.6", "1.5+100"."""
    percent, plus, fixed = (part.strip() for part in text.partition("+"))
    if plus and not _DIGITS.fullmatch(fixed):
        raise Invalid("the fixed part must be a whole number of minor units, e.g. 1.5+100")
    return Rate(parse_percent(percent), parse_fixed(int(fixed or 0)))
