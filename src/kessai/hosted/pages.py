"""Rendering hosted pages: one Jinja environment per locale, CSRF, security headers."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from kessai.core.sessions import LOCALES
from kessai.hosted import csrf
from kessai.hosted.i18n import HERE, environment, pick_locale, translations
from kessai.services.runtime import Runtime

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
        response.set_cookie(csrf.COOKIE, cookie, httponly=True, samesite="lax", path="/")
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
    return render(request, "error.html", locale, status, status=status, message=text)


async def form_of(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.form()).items()}
