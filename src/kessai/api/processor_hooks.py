"""/kessai/v1/processors/komoju/webhooks/{merchant_id}: KOMOJU's webhooks for the KOMOJU
processor. Authenticated by their signature (the merchant's `--webhook-secret`), not a key."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import check_edge, json_response, ok, runtime
from kessai.api.openapi import operation
from kessai.schemas import shapes
from kessai.services import notices

router = APIRouter()


@router.post("/processors/komoju/webhooks/{merchant_id}")
@operation("Receive a KOMOJU webhook (KOMOJU processor)", ok=shapes.NoticeReceipt, key="signature")
async def komoju_webhook(request: Request, merchant_id: str) -> Response:
    check_edge(request)
    rt = runtime(request)
    body = await request.body()
    result = await notices.receive_komoju(
        rt, merchant_id, body, request.headers.get("x-komoju-signature")
    )
    return json_response(ok({"received": True, "result": result}))
