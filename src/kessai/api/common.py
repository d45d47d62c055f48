"""Helpers every API route uses: the runtime, the body, the idempotency key, responses."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kessai.api.body import parse_body
from kessai.errors import InvalidParameter
from kessai.services.execute import IdempotencyKey, Rendered, dumps
from kessai.services.runtime import Runtime

IDEMPOTENCY_HEADER = "X-KOMOJU-IDEMPOTENCY"


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def raw_body(request: Request) -> bytes:
    return await request.body()


def body_of(request: Request, raw: bytes) -> dict[str, Any]:
    return parse_body(request.headers.get("content-type"), raw)


def idempotency_key(request: Request, raw: bytes) -> IdempotencyKey | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 100 or not key.isascii() or not key.isprintable():
        raise InvalidParameter(
            f"{IDEMPOTENCY_HEADER} must be 1 to 100 printable ASCII characters.",
            param=IDEMPOTENCY_HEADER,
        )
    return IdempotencyKey.of(key, request.method, request.url.path, raw)


def json_response(rendered: Rendered) -> Response:
    status, body = rendered
    return Response(body, status_code=status, media_type="application/json")


def ok(body: Any) -> Rendered:
    return 200, dumps(body)
