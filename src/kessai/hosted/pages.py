"""Rendering hosted pages: one Jinja environment per locale, CSRF, security headers."""

from __future__ import annotations

import logging
import time
from typing import Any

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from kessai.core import rules
from kessai.core.sessions import LOCALES
from kessai.errors import InvalidParameter, NotFound
from kessai.hosted import csrf
from kessai.hosted.i18n import HERE, environment, pick_locale, translations
from kessai.services.runtime import Runtime

log = logging.getLogger("kessai")

# Every HTML response kessai sends carries these, error pages included.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def static_files() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def translate(locale: str, message: str) -> str:
    return translations(locale).gettext(message)


def render(
    request: Request, template: str, locale: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page; `csrf_target` in the context gets a CSRF token for its forms."""
    started = time.perf_counter()
    cookie = request.cookies.get(csrf.COOKIE) or csrf.new_cookie()
    target = context.get("csrf_target", "")
    html = (
        environment(locale)
        .get_template(template)
        .render(
            locale=locale,
            locales=LOCALES,
            path=request.url.path,
            csrf_token=csrf.token(runtime(request).secret, cookie, target) if target else "",
            **context,
        )
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    headers = {**SECURITY_HEADERS, "Server-Timing": f"render;dur={elapsed_ms:.2f}"}
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if request.cookies.get(csrf.COOKIE) != cookie:
        response.set_cookie(
            csrf.COOKIE,
            cookie,
            httponly=True,
            samesite="lax",
            path="/",
            secure=csrf.secure_cookie(runtime(request).settings.base_url),
        )
    return response


def csrf_ok(request: Request, target: str, form: dict[str, str]) -> bool:
    return csrf.valid(
        runtime(request).secret, request.cookies.get(csrf.COOKIE), target, form.get("csrf")
    )


def error_page(
    request: Request, status: int, message: str | None = None, locale: str | None = None
) -> HTMLResponse:
    """A plain page; `message` (already for people) or a generic translated one."""
    locale = pick_locale(locale or request.query_params.get("locale"), "ja")
    text = message or translate(locale, "This page cannot be opened this way.")
    try:
        return render(request, "error.html", locale, status, status=status, message=text)
    except Exception:  # noqa: BLE001 - an error page must never fail in turn
        log.exception("rendering the error page failed on %s", request.url.path)
        return plain_page(status, text)


INTERNAL_ERROR = "Something went wrong on our side; the request was not applied. Retry it."


def plain_page(status: int, message: str = INTERNAL_ERROR) -> HTMLResponse:
    """A page that needs nothing (no template, no store): the last resort, headers included."""
    html = (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>kessai</title>'
        f"<p>{escape(message)}</p></html>"
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


async def well_formed_ids(request: Request) -> None:
    """Every hosted route: a path id that cannot exist is the 404 page, without a query."""
    for name, value in request.path_params.items():
        if name.endswith("_id") and not rules.is_id(value):
            raise NotFound("No such page.")


async def form_of(request: Request) -> dict[str, str]:
    """The submitted form, each field (name and value) checked once: no NUL, no control
    characters but tab and line breaks (a 422 page naming the field)."""
    form: dict[str, str] = {}
    for key, value in (await request.form()).multi_items():
        if not isinstance(value, str):
            raise InvalidParameter(f"{rules.printable(key)} must be a text field", param=key)
        try:
            rules.single_line(key)
            form[key] = rules.text(value, max_length=10_000)
        except rules.Invalid as exc:
            shown = rules.printable(key)
            raise InvalidParameter(f"{shown} {exc.message}", param=shown) from None
    return form
