"""/api/v1/payments/{id}/finalize: KOMOJU's card-present (EMV terminal) step, not offered.

KOMOJU's finalize takes a chip card's final decision from a payment terminal (`ac_type`
`tc`/`aac`/`fault`, the EMV tags of `field55`, the magnetic stripe data of `track2`) after
an authorization made on that terminal. Every kessai payment is card-not-present (the card
is keyed online, on the hosted page or through the API), so no payment has a terminal
decision to finalize: for a payment of this merchant and mode the answer is 422
`not_finalizable`, naming what to do instead. The body is never parsed, stored or logged:
`track2` and `field55` carry the card number.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import ok, write
from kessai.api.openapi import operation
from kessai.errors import NotFinalizable
from kessai.schemas import shapes
from kessai.services import payments
from kessai.services.execute import Rendered
from kessai.services.runtime import Caller, Runtime

router = APIRouter()


async def refuse(conn: AsyncConnection, caller: Caller, payment_id: str) -> None:
    view = await payments.get(conn, caller, payment_id)
    raise NotFinalizable(
        f"Payment {payment_id!r} was not made on a card-present (EMV) terminal: kessai takes "
        "card-not-present payments only, so there is no terminal decision to finalize. "
        f"Capture an authorized payment with POST /api/v1/payments/{payment_id}/capture, "
        f"or cancel it with POST /api/v1/payments/{payment_id}/cancel.",
        details={"status": view.row["status"]},
    )


def render(rt: Runtime, result: None) -> Rendered:  # pragma: no cover - refuse always raises
    return ok(result)


@router.post("/payments/{payment_id}/finalize")
@operation(
    "Finalize a card-present payment (not offered)",
    ok=shapes.Payment,
    description="KOMOJU finalizes an EMV terminal transaction with the chip card's decision "
    "(`ac_type`, `field55`, `track2`). kessai takes card-not-present payments only: for any "
    "payment of this merchant and mode the answer is 422 `not_finalizable` (404 `not_found` "
    "for any other id). Capture an authorized payment with `POST /payments/{id}/capture`, or "
    "cancel it with `POST /payments/{id}/cancel`. The body is neither read nor kept.",
)
async def finalize_payment(request: Request, payment_id: str) -> Response:
    return await write(
        request,
        lambda conn, rt, caller, body: refuse(conn, caller, payment_id),
        render,
        store_only=True,
    )
