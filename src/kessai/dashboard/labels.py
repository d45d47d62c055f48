"""How the dashboard names a payment type and a card brand (one place for every page)."""

from __future__ import annotations

from typing import Any

from kessai.core.payment_types import PAYMENT_TYPES
from kessai.hosted.checkout import BRAND_NAMES


def type_name(slug: str, locale: str) -> str:
    """The payment type's name in `locale` (English for a locale without one); an unknown
    slug as it is."""
    found = PAYMENT_TYPES.get(slug)
    if found is None:
        return slug
    return {"ja": found.name_ja, "ko": found.name_ko}.get(locale, found.name_en)


def brand_name(slug: Any) -> str:
    """A card brand's name ('visa' → 'VISA'); an unknown one in capitals."""
    return BRAND_NAMES.get(str(slug), str(slug or "").upper())
