"""CORS for the endpoints a browser script calls with a publishable key.

Preflights from any origin are answered for those paths, allowing the Authorization and
Content-Type headers; their responses, errors included, carry Access-Control-Allow-Origin.
A konbini barcode (`barcodes/{payment_id}`) is fetched the same way, usually without a key.
Secret-key endpoints get no CORS headers.
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLISHABLE_PATHS = re.compile(
    r"^/api/v1/(sessions/[^/]+|sessions/[^/]+/pay|tokens|secure_tokens|payment_methods|barcodes/[^/]+)/?$"
)
ALLOW_HEADERS = (
    "Authorization, Content-Type, X-KOMOJU-IDEMPOTENCY, X-KOMOJU-API-VERSION, Kessai-Fault"
)


class PublishableCORS:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not PUBLISHABLE_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            response = Response(
                status_code=204,
                headers={
                    "Access-Control-Allow-Origin": "*",
                    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                    "Access-Control-Allow-Headers": ALLOW_HEADERS,
                    "Access-Control-Max-Age": "600",
                },
            )
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", b"*"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_cors)
