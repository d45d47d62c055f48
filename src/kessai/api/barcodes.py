"""/api/v1/barcodes/{payment_id}: the barcode of a konbini payment (see services/barcodes).

Called from browsers without a key (KOMOJU's SDK and `fetch(barcode_url)` send none), so it
answers CORS from any origin (`api/cors.py`); a key, when sent, must own the payment.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.auth import authenticate
from kessai.api.common import check_edge, json_response, ok, runtime
from kessai.api.openapi import operation
from kessai.schemas import resources, shapes
from kessai.services import barcodes

router = APIRouter()


@router.get("/barcodes/{payment_id}")
@operation(
    "Show a konbini barcode",
    ok=shapes.ShowBarcode,
    key="optional",
    description="No key is needed (the payment id is the secret, as at KOMOJU); a key that "
    "is sent must be the payment's merchant's and mode's. `ready`: `image` is a data URL of "
    "a 750×150 PNG Code 128 of the receipt number, the same until `expires_at` (10-minute "
    "windows). `pending`: no receipt number yet, ask again after `retry_after` seconds. "
    "A konbini payment no longer awaiting the customer: 422.",
)
async def show_barcode(request: Request, payment_id: str) -> Response:
    rt = runtime(request)
    caller = None
    if "authorization" in request.headers:
        caller = await authenticate(rt, request, secret_only=False)
    check_edge(request)
    code = await barcodes.show(rt, payment_id, caller)
    if code.png is None or code.expires_at is None:
        return json_response(ok(resources.barcode_pending(barcodes.RETRY_AFTER)))
    return json_response(ok(resources.barcode_ready(code.expires_at, code.png)))
