"""/api/v1/tokens and /api/v1/payment_methods: the publishable-key endpoints."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import ok, phased, query, row_or_decline, view
from kessai.api.openapi import operation
from kessai.core.money import currency as parse_currency
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.core.rules import Invalid
from kessai.errors import InvalidCurrency
from kessai.schemas import resources, shapes
from kessai.schemas.requests import CreateToken, Currency, parse
from kessai.services import tokens
from kessai.services.execute import Rendered
from kessai.services.runtime import Caller, Runtime

router = APIRouter()


render_token = row_or_decline(resources.token)


@router.post("/tokens")
@operation(
    "Create a token",
    ok=shapes.Token,
    key="publishable",
    body=CreateToken,
    declines=True,
    processor=True,
)
async def create_token(request: Request) -> Response:
    return await phased(
        request,
        lambda rt, caller, body: tokens.create(rt, caller, parse(CreateToken, body())),
        render_token,
        secret_only=False,
    )


@router.get("/payment_methods")
@operation(
    "List payment methods",
    ok=list[shapes.AvailableMethod],
    key="publishable",
    extra_query={"currency": Currency},
    processor=True,
)
async def payment_methods(request: Request) -> Response:
    wanted = query(request).get("currency")
    try:
        only = parse_currency(wanted) if wanted else None
    except Invalid as exc:
        raise InvalidCurrency(f"currency {exc.message}", param="currency") from None

    async def supported(rt: Runtime, caller: Caller) -> frozenset[str]:
        return (await rt.processor(caller.merchant_id, caller.livemode)).supported_types

    def render(rt: Runtime, supported: frozenset[str]) -> Rendered:
        return ok(
            [
                resources.available_method(slug, cur)
                for slug, ptype in PAYMENT_TYPES.items()
                if slug in supported
                for cur in ptype.currencies
                if only in (None, cur)
            ]
        )

    return await view(request, supported, render, secret_only=False)
