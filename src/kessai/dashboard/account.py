"""Dashboard pages: the API keys (hints, and rolling them) and the test clock.

Rolling keys is `services.keys.roll` (the CLI's `store.merchants.roll_keys`, for the
signed-in mode): the new keys are shown once, on the answer to the POST (never stored, never
cached: `Cache-Control: no-store`), and the session that rolled is over, since its cookie
names the old secret key's row. Moving the clock is `services.clocks.advance`, what
`POST /kessai/v1/clock` calls: everything that falls due in the skipped time happens before
the answer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from babel.dates import format_timedelta
from babel.lists import format_list
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.dashboard import session
from kessai.dashboard.auth import (
    LOGIN,
    CurrentViewer,
    Viewer,
    checked_form,
    runtime,
    see_other,
)
from kessai.dashboard.render import gettext, page, show
from kessai.errors import InvalidParameter
from kessai.merchant_clock import clock_offset
from kessai.services import clocks, keys

router = APIRouter()

UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
UNIT_LABELS = (("minutes", "minutes"), ("hours", "hours"), ("days", "days"))
NOTICES = {"advanced": "The clock moved forward. Everything that fell due on the way has run."}


def say(locale: str, message: str, **values: object) -> str:
    text = gettext(locale, message)
    return text % values if values else text


# --- API keys ------------------------------------------------------------------------


async def _keys_page(request: Request, who: Viewer, *, problem: str = "") -> Response:
    found = await keys.working(runtime(request), who.caller)
    return show(
        request,
        who,
        "keys.html",
        keys=found,
        field_problem=problem,
        status_code=422 if problem else 200,
    )


@router.get("/dashboard/keys")
async def key_list(request: Request, who: CurrentViewer) -> Response:
    return await _keys_page(request, who)


@router.get("/dashboard/keys/roll")
async def roll_page() -> Response:
    """Where a language link on the new keys' page leads: back to the keys (and, with
    the session over, on to the sign-in page). The new keys are never shown again."""
    return see_other("/dashboard/keys")


@router.post("/dashboard/keys/roll")
async def roll_keys(request: Request, who: CurrentViewer) -> Response:
    form = await checked_form(request)
    if form.get("confirm") != "yes":
        problem = say(who.locale, "Confirmation: tick the box to roll the keys.")
        return await _keys_page(request, who, problem=problem)
    rolled = await keys.roll(runtime(request), who.caller)
    response = page(
        request,
        "keys_rolled.html",
        who.locale,
        rolled=rolled,
        livemode=who.livemode,
        merchant_name=who.caller.merchant_name,
        login=LOGIN,
    )
    response.delete_cookie(session.COOKIE, path="/dashboard")  # that session is over
    return response


# --- the test clock ------------------------------------------------------------------


def ahead(offset: timedelta, locale: str) -> str:
    """How far the clock is ahead of the real time, in the locale's words ("2 days, 3
    hours"); an empty string when it is not. To the nearest minute (a move lands a few
    milliseconds short of a whole span: the real time went on while it ran)."""
    left = round(offset.total_seconds())
    if left >= 60:
        left = round(left / 60) * 60
    parts = []
    steps: tuple[tuple[Literal["day", "hour", "minute", "second"], int], ...] = (
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
        ("second", 1),
    )
    for unit, size in steps:
        count, left = divmod(left, size)
        if count:
            part = format_timedelta(
                timedelta(seconds=count * size), granularity=unit, threshold=10**9, locale=locale
            )
            parts.append(part.replace(" ", "").replace("\u00a0", "") if locale == "ja" else part)
    if not parts:
        return ""
    joined = str(format_list(parts, style="unit", locale=locale))
    return joined.replace(" ", "") if locale == "ja" else joined


def _clock_page(
    request: Request,
    who: Viewer,
    *,
    problem: str = "",
    field: str = "",
    amount: str = "1",
    unit: str = "days",
) -> Response:
    rt = runtime(request)
    offset = clock_offset()  # the viewer's clock (zero in live mode)
    notice = NOTICES.get(request.query_params.get("notice", ""), "")
    return show(
        request,
        who,
        "clock.html",
        status_code=422 if problem else 200,
        now=rt.now(),
        real=rt.clock(),
        ahead=ahead(offset, who.locale),
        units=UNIT_LABELS,
        max_days=f"{clocks.MAX_ADVANCE.days:,}",
        amount=amount,
        unit=unit if unit in UNITS else "days",
        field_problem=problem,
        field=field,
        notice=gettext(who.locale, notice) if notice else "",
    )


@router.get("/dashboard/clock")
async def clock(request: Request, who: CurrentViewer) -> Response:
    return _clock_page(request, who)


def parse_move(form: dict[str, str], locale: str) -> timedelta:
    """The form's amount and unit as a time span (InvalidParameter naming the field)."""
    unit = form.get("unit", "")
    if unit not in UNITS:
        raise InvalidParameter(
            say(locale, "Unit: choose minutes, hours or days."),
            param="unit",
        )
    raw = form.get("amount", "").strip()
    most = clocks.MAX_ADVANCE // timedelta(seconds=UNITS[unit])
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12 and 1 <= int(raw) <= most):
        raise InvalidParameter(
            say(
                locale,
                "How far: give a whole number from 1 to %(most)s (%(unit)s).",
                most=f"{most:,}",
                unit=gettext(locale, unit),
            ),
            param="amount",
        )
    return timedelta(seconds=int(raw) * UNITS[unit])


@router.post("/dashboard/clock")
async def advance(request: Request, who: CurrentViewer) -> Response:
    form = await checked_form(request)
    rt = runtime(request)
    amount, unit = form.get("amount", "")[:40], form.get("unit", "")
    try:
        span = parse_move(form, who.locale)
        await clocks.advance(rt, who.caller, rt.now() + span, param="amount")
    except InvalidParameter as exc:
        return _clock_page(
            request, who, problem=exc.message, field=exc.param or "", amount=amount, unit=unit
        )
    return see_other("/dashboard/clock?notice=advanced")
