"""/kessai/v1/clock: the test clock of the caller's merchant (kessai's own, not KOMOJU's)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import _writing, json_response, ok, view
from kessai.api.openapi import operation
from kessai.core.times import iso
from kessai.merchant_clock import clock_offset
from kessai.schemas import shapes
from kessai.schemas.requests import MoveClock, parse
from kessai.services import clocks
from kessai.services.runtime import Caller, Runtime

router = APIRouter()


def _shown(rt: Runtime, caller: Caller) -> shapes.Clock:
    offset = clock_offset()  # zero in live mode
    now = rt.clock() + offset
    return {
        "resource": "clock",
        "now": iso(now) or "",
        "offset_seconds": round(offset.total_seconds(), 3),
        "livemode": caller.livemode,
    }


@router.get("/clock")
@operation("Show the test clock (kessai)", ok=shapes.Clock)
async def show_clock(request: Request) -> Response:
    async def shown(rt: Runtime, caller: Caller) -> shapes.Clock:
        return _shown(rt, caller)

    return await view(request, shown, lambda rt, body: ok(body))


@router.post("/clock")
@operation(
    "Move the test clock forward (kessai)",
    ok=shapes.Clock,
    body=MoveClock,
    description=(
        "Moves the test-mode clock forward by `advance_seconds`, or to `now`. Before the "
        "answer returns, everything that fell due in the skipped time has happened, in "
        "time order: payment deadlines and expiry, subscription charges and retries."
    ),
)
async def move_clock(request: Request) -> Response:
    rt, caller, _key, body = await _writing(request, secret_only=True)
    params = parse(MoveClock, body())
    target = params.now if params.now is not None else rt.now()
    if params.advance_seconds is not None:
        target += timedelta(seconds=params.advance_seconds)
    param = "now" if params.now is not None else "advance_seconds"
    await clocks.advance(rt, caller, target, param=param)
    return json_response(ok(_shown(rt, caller)))
