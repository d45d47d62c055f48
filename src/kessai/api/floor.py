"""The benchmark's HTTP floor (only with KESSAI_BENCH_FLOOR=1): the same app stack as
session create (authenticate, read and validate the same body) with no database work, so
`bench/` can measure what the HTTP layer alone costs on this machine."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.auth import authenticate
from kessai.api.body import parse_body
from kessai.api.common import json_response, ok, runtime
from kessai.schemas.requests import CreateSession, parse

router = APIRouter(include_in_schema=False)


@router.post("/bench/floor")
async def floor(request: Request) -> Response:
    rt = runtime(request)
    await authenticate(rt, request, secret_only=True)
    raw = await request.body()
    params = parse(CreateSession, parse_body(request.headers.get("content-type"), raw))
    return json_response(ok({"resource": "floor", "amount": params.amount}))
