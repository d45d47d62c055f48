"""/api/v1/secure_tokens: 3-D Secure before a direct payment (contract section 7)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import declined, ok, phased, read
from kessai.api.openapi import operation
from kessai.processors.base import Declined
from kessai.schemas import resources, shapes
from kessai.schemas.requests import CreateSecureToken, parse
from kessai.services import secure_tokens
from kessai.services.execute import Rendered
from kessai.services.runtime import Runtime

router = APIRouter()


def render(rt: Runtime, row: Any) -> Rendered:
    if isinstance(row, Declined):
        return declined(row)
    status = secure_tokens.status_at(row, rt.now())
    return ok(resources.secure_token(row, status, secure_tokens.authentication_url(rt, row["id"])))


@router.post("/secure_tokens")
@operation(
    "Create a secure token",
    ok=shapes.SecureToken,
    key="publishable",
    body=CreateSecureToken,
    declines=True,
    processor=True,
    description="Card `payment_details` (publishable or secret key) or a saved `customer` "
    "(secret key). `verification_status`: `OK` (authenticated, frictionless), "
    "`NEEDS_VERIFY` (send the customer to `authentication_url`; they come back to "
    "`return_url` with `secure_token_id`), `SKIPPED` (the card has no 3-D Secure). An "
    "`OK` or `SKIPPED` token pays once, within 24 hours, as `payment_details` of a payment "
    "of the same total and currency.",
)
async def create_secure_token(request: Request) -> Response:
    return await phased(
        request,
        lambda rt, caller, body: secure_tokens.create(rt, caller, parse(CreateSecureToken, body())),
        render,
        secret_only=False,
    )


@router.get("/secure_tokens/{secure_token_id}")
@operation("Show a secure token", ok=shapes.SecureToken)
async def show_secure_token(request: Request, secure_token_id: str) -> Response:
    return await read(
        request,
        lambda conn, rt, caller: secure_tokens.get(conn, caller, secure_token_id),
        render,
    )
