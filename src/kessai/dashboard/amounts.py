"""Amounts typed by people into dashboard forms, read exactly into minor units.

JPY (and every currency without a minor unit) takes whole numbers; a currency with
decimals takes its major unit ("10.50" USD is 1050), converted with `Decimal`, never a
float. Full-width digits and grouping commas are accepted ("１,０００"); a sign, zero, a
non-number (other scripts' digits included) or more decimals than the currency has are
refused, naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from kessai.core.money import MAX_AMOUNT, exponent
from kessai.dashboard.render import gettext
from kessai.errors import InvalidParameter

# ASCII digits only (after NFKC, which folds full-width ones): "٣" or "३" is not a 3.
NUMBER = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


def example(currency: str) -> str:
    places = exponent(currency)
    return "1000" if places == 0 else "10." + "5" + "0" * (places - 1)


def parse(
    text: str | None, currency: str, *, field: str, label: str, locale: str, required: bool
) -> int | None:
    """`text` in minor units of `currency` (None when empty and not `required`).

    `field` is the form field's name (the error's `param`), `label` how the page names it.
    """

    def refuse(message: str, **params: object) -> InvalidParameter:
        shown = gettext(locale, message) % {"field": label, **params}
        return InvalidParameter(shown, param=field)

    typed = unicodedata.normalize("NFKC", text or "").strip().replace(",", "").replace(" ", "")
    if not typed:
        if required:
            raise refuse("Enter %(field)s.")
        return None
    if typed.startswith("-"):
        raise refuse("%(field)s must be more than zero.")
    found = NUMBER.fullmatch(typed)
    if found is None:
        raise refuse("%(field)s must be a number, such as %(example)s.", example=example(currency))
    places = exponent(currency)
    decimals = found.group(2) or ""
    if len(decimals) > places:
        if places == 0:
            raise refuse(
                "%(field)s must be a whole number in %(currency)s (no decimals).",
                currency=currency,
            )
        raise refuse(
            "%(field)s can have at most %(places)d digits after the point in %(currency)s.",
            places=places,
            currency=currency,
        )
    minor = Decimal(typed).scaleb(places)
    if minor != minor.to_integral_value():  # unreachable after the check above; be exact
        raise refuse("%(field)s must be a number, such as %(example)s.", example=example(currency))
    value = int(minor)
    if value <= 0:
        raise refuse("%(field)s must be more than zero.")
    if value > MAX_AMOUNT:
        raise refuse("%(field)s is too large.")
    return value


def shown(minor: int, currency: str) -> str:
    """How a form field shows an amount (the form `parse` reads back): 1000, 10.50."""
    places = exponent(currency)
    if places == 0:
        return str(minor)
    return str(Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places)))
