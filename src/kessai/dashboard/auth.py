"""Signing in to the dashboard with a secret key, and what every dashboard route needs.

`viewer` (a dependency) is the signed-in merchant and mode, with the page's locale and the
CSRF token for its forms; a request without a working sign-in is sent to the sign-in page
(`SignInNeeded`, a 303): none, a rolled key, or a cookie issued before the key's last
sign-out. `checked_form` reads a POST's form and refuses it (403) unless it carries this
sign-in's CSRF token. Signing in goes through the API's key lookup, cache and
failed-authentication budget (`api.auth.identify`); every POST counts against the signed-in
key's rate limit, as an API request with the key does (`Limiter.key`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kessai.api.auth import identify
from kessai.dashboard import session
from kessai.dashboard.render import LOCALE_COOKIE, LOCALES, page, pick_locale
from kessai.edge.middleware import client_address
from kessai.errors import Forbidden, Unauthorized
from kessai.hosted import csrf
from kessai.hosted.pages import form_of
from kessai.ids import key_digest
from kessai.observe import context
from kessai.services import clocks, execute, keys
from kessai.services.runtime import Caller, Runtime, utcnow
from kessai.store import keys as key_rows
from kessai.store import merchants

router = APIRouter()
HOME = "/dashboard/payments"
LOGIN = "/dashboard/login"


class SignInNeeded(Exception):
    """No working sign-in: the app answers 303 to the sign-in page."""


@dataclass(frozen=True)
class Viewer:
    caller: Caller  # the merchant and mode the signed-in secret key speaks for
    key_id: str  # the secret key's row (`api_keys.id`): what signing out marks
    locale: str
    csrf_token: str

    @property
    def merchant_id(self) -> str:
        return self.caller.merchant_id

    @property
    def livemode(self) -> bool:
        return self.caller.livemode


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _secure(request: Request) -> bool:
    return csrf.secure_cookie(runtime(request).settings.base_url)


async def viewer(request: Request) -> Viewer:
    """The signed-in merchant; runs the request on that merchant's clock."""
    rt = runtime(request)
    cookie = request.cookies.get(session.COOKIE)
    signed = session.read(rt.secret, cookie, utcnow())
    if signed is None or cookie is None:
        raise SignInNeeded()
    found = await execute.read(rt, lambda conn: key_rows.secret_key(conn, signed.key_id))
    if found is None:  # the key was rolled: every session it opened is over
        raise SignInNeeded()
    if found.signed_out_at is not None and signed.issued_by(found.signed_out_at):
        raise SignInNeeded()  # signed out since this cookie was issued
    owner = found.owner
    context.note_merchant(owner.merchant_id, owner.livemode)
    limiter = rt.limiter
    if limiter is not None and request.method == "POST":  # what can call a processor
        client = client_address(request.scope)
        await limiter.key(owner.key_digest, card=False, live=owner.livemode, client=client)
    await clocks.enter(rt, owner.merchant_id, owner.livemode)
    caller = Caller(owner.merchant_id, owner.merchant_name, owner.livemode, owner.kind)
    return Viewer(
        caller, signed.key_id, pick_locale(request), session.csrf_token(rt.secret, cookie)
    )


# What every signed-in route takes: `viewer: CurrentViewer`.
CurrentViewer = Annotated[Viewer, Depends(viewer)]


async def checked_form(request: Request) -> dict[str, str]:
    """A POST's form, once its CSRF token is this sign-in's (403 otherwise)."""
    form = await form_of(request)
    if not session.csrf_ok(
        runtime(request).secret, request.cookies.get(session.COOKIE), form.get("csrf")
    ):
        raise Forbidden(
            "This form has expired or did not come from the dashboard. "
            "Reload the page and try again."
        )
    return form


def see_other(location: str) -> Response:
    return RedirectResponse(location, status_code=303)


@router.get("/dashboard")
async def home() -> Response:
    return see_other(HOME)


@router.get("/dashboard/login")
async def login_page(request: Request) -> Response:
    return _login(request)


def _login(request: Request, *, failed: bool = False) -> Response:
    rt = runtime(request)
    cookie = request.cookies.get(csrf.COOKIE) or csrf.new_cookie()
    response = page(
        request,
        "login.html",
        pick_locale(request),
        status_code=401 if failed else 200,
        failed=failed,
        csrf_token=csrf.token(rt.secret, cookie, LOGIN),
    )
    if request.cookies.get(csrf.COOKIE) != cookie:
        response.set_cookie(
            csrf.COOKIE, cookie, httponly=True, samesite="lax", path="/", secure=_secure(request)
        )
    return response


@router.post("/dashboard/login")
async def login(request: Request) -> Response:
    rt = runtime(request)
    form = await form_of(request)
    if not csrf.valid(rt.secret, request.cookies.get(csrf.COOKIE), LOGIN, form.get("csrf")):
        raise Forbidden("This form has expired. Reload the sign-in page and try again.")
    key = form.get("key", "").strip()
    try:
        owner = await identify(rt, key, client_address(request.scope))
    except Unauthorized:
        return _login(request, failed=True)
    if owner.kind != "secret":
        return _login(request, failed=True)
    key_id = await execute.read(rt, lambda conn: merchants.key_id_of(conn, key_digest(key)))
    if key_id is None:
        return _login(request, failed=True)
    response = see_other(HOME)
    response.set_cookie(
        session.COOKIE,
        session.issue(rt.secret, key_id, utcnow()),
        max_age=int(session.MAX_AGE.total_seconds()),
        httponly=True,
        samesite="strict",
        path="/dashboard",
        secure=_secure(request),
    )
    return response


@router.post("/dashboard/logout")
async def logout(request: Request, who: CurrentViewer) -> Response:
    await checked_form(request)
    # Server-side: every cookie of this key issued until now stops working (a copied one
    # too), not just this browser's, which is deleted as well.
    await keys.sign_out(runtime(request), who.key_id)
    response = see_other(LOGIN)
    response.delete_cookie(session.COOKIE, path="/dashboard")
    return response


@router.get("/dashboard/locale/{code}")
async def choose_locale(request: Request, code: str) -> Response:
    """The language links: remember the choice and go back to the page (a local path)."""
    back = request.query_params.get("next", HOME)
    if not back.startswith("/dashboard") or "//" in back or "\\" in back:
        back = HOME
    response = see_other(back)
    if code in LOCALES:
        response.set_cookie(
            LOCALE_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/dashboard"
        )
    return response
