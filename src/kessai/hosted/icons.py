"""Payment-method icons: `/payment_methods/{type}.svg` and `/payment_methods/konbini/{store}.svg`.

Where KOMOJU's `komoju-fields` component looks for them (`{komoju-api}/payment_methods/...`),
from the merchant's page: so any origin may load them (CORS `*`), and they may be cached.
The icons are kessai's own drawings (`static/payment_methods/`), one per payment type of
`core/payment_types.py` and per konbini store; every other name is 404.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from starlette.responses import Response

from kessai.core.payment_types import KONBINI_STORES, PAYMENT_TYPES
from kessai.errors import NotFound
from kessai.hosted.i18n import HERE

router = APIRouter(include_in_schema=False)
FOLDER = HERE / "static" / "payment_methods"
HEADERS = {
    "Cache-Control": "public, max-age=86400",
    "Access-Control-Allow-Origin": "*",
    "X-Content-Type-Options": "nosniff",
    # Opened on its own, an icon may run nothing and load nothing.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


def _load(names: Iterable[str], folder: str = "") -> dict[str, bytes]:
    return {name: (FOLDER / folder / f"{name}.svg").read_bytes() for name in names}


TYPE_ICONS = _load(PAYMENT_TYPES)
STORE_ICONS = _load(KONBINI_STORES, "konbini")


def _svg(icon: bytes | None) -> Response:
    if icon is None:
        raise NotFound("No such icon.")
    return Response(icon, media_type="image/svg+xml", headers=HEADERS)


@router.get("/payment_methods/{payment_type}.svg")
async def type_icon(payment_type: str) -> Response:
    return _svg(TYPE_ICONS.get(payment_type))


@router.get("/payment_methods/konbini/{store}.svg")
async def store_icon(store: str) -> Response:
    return _svg(STORE_ICONS.get(store))
