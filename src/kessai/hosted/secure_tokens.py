"""The simulated issuer's challenge page of a secure token (`authentication_url`).

The customer types the test password; either way the browser then goes back to the
merchant's `return_url` with `secure_token_id`, and the merchant reads the outcome with
`GET /api/v1/secure_tokens/{id}`. A token that is no longer waiting (answered in another
tab, expired) sends the customer straight back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kessai.core import money
from kessai.hosted.i18n import pick_locale
from kessai.hosted.pages import csrf_ok, form_of, render, runtime
from kessai.services import clocks, secure_tokens

router = APIRouter(include_in_schema=False)


def _back(row: Mapping[Any, Any]) -> Response:
    return RedirectResponse(secure_tokens.return_target(row), status_code=303)


@router.get("/secure_tokens/{secure_token_id}/authenticate", response_class=HTMLResponse)
async def challenge(request: Request, secure_token_id: str) -> Response:
    rt = runtime(request)
    row = await secure_tokens.load(rt, secure_token_id)
    await clocks.enter(rt, row["merchant_id"], row["livemode"])
    if secure_tokens.status_at(row, rt.now()) != secure_tokens.NEEDS_VERIFY:
        return _back(row)
    locale = pick_locale(request.query_params.get("locale"), "ja")
    details = row["payment_details"]
    return render(
        request,
        "secure_token.html",
        locale,
        token=row,
        last_four=details.get("last_four_digits", ""),
        amount=money.format_amount(row["amount"], row["currency"], locale),
        csrf_target=secure_token_id,
        livemode=row["livemode"],
    )


@router.post("/secure_tokens/{secure_token_id}/authenticate", response_class=HTMLResponse)
async def challenge_answer(request: Request, secure_token_id: str) -> Response:
    rt = runtime(request)
    form = await form_of(request)
    locale = pick_locale(form.get("locale"), "ja")
    row = await secure_tokens.load(rt, secure_token_id)
    await clocks.enter(rt, row["merchant_id"], row["livemode"])
    if not csrf_ok(request, secure_token_id, form):
        return RedirectResponse(
            f"/secure_tokens/{secure_token_id}/authenticate?locale={locale}", status_code=303
        )
    if secure_tokens.status_at(row, rt.now()) == secure_tokens.NEEDS_VERIFY:
        row = await secure_tokens.answer(rt, row, form.get("password"))
    return _back(row)
