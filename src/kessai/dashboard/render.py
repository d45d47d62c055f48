"""Rendering dashboard pages: one Jinja environment per locale, money and time filters.

Translations: every `.po` file under `locale/<lang>/` is read and merged at start-up (one
file per area of the dashboard, so each can be kept on its own). English is the source.
"""

from __future__ import annotations

import io
import time
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Match

from kessai.core.ledger import JST
from kessai.core.money import format_amount
from kessai.hosted.pages import SECURITY_HEADERS

HERE = Path(__file__).parent
LOCALES = ("ja", "en", "ko")
LOCALE_NAMES = (("ja", "日本語"), ("en", "English"), ("ko", "한국어"))
LOCALE_COOKIE = "kessai_dashboard_locale"


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> NullTranslations:
    merged: Translations | None = None
    for po in sorted((HERE / "locale" / locale).glob("*.po")):
        with po.open("rb") as fp:
            catalog = read_po(fp, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = Translations(buffer)
        merged = part if merged is None else merged.merge(part)
    return merged or NullTranslations()


def gettext(locale: str, message: str) -> str:
    return translations(locale).gettext(message)


def money(amount: int | None, currency: str | None, locale: str) -> str:
    """An amount in minor units, in the currency's format for the locale (￥1,000, $10.50)."""
    if amount is None or not currency:
        return "—"
    try:
        return format_amount(int(amount), currency, locale)
    except (KeyError, ValueError):
        return f"{amount} {currency}"


def when(value: datetime | str | None, locale: str) -> str:
    """A time in Japan's time zone, in the locale's medium format (the merchant's clock)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return str(format_datetime(value.astimezone(JST), "medium", tzinfo=JST, locale=locale))


def translated(locale: str, value: Any, context: str | None = None) -> Markup:
    """The `tr` filter: a value's translation, escaped. Jinja's new-style `_()` marks what it
    returns safe, so `_(variable)` would print a value outside the catalogue as HTML;
    templates write `{{ value|tr }}` (`{{ value|tr("context") }}` for `pgettext`) instead
    and keep `_()` for literal strings."""
    found = translations(locale)
    text = str(value)
    return escape(found.pgettext(context, text) if context else found.gettext(text))


@lru_cache(maxsize=len(LOCALES))
def environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = lambda amount, currency: money(amount, currency, locale)
    env.filters["when"] = lambda value: when(value, locale)
    env.filters["tr"] = lambda value, context=None: translated(locale, value, context)
    env.globals["locale_names"] = LOCALE_NAMES
    env.globals["link"] = link  # the pager macro uses it, imported with or without context
    return env


def pick_locale(request: Request) -> str:
    """The cookie the language links set, then the browser's Accept-Language, then ja."""
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in LOCALES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LOCALES:
            return tag
    return "ja"


def link(path: str, params: dict[str, Any] | None = None, **changes: Any) -> str:
    """`path` with the query `params` updated by `changes` (None or "" drops a parameter)."""
    merged = {**(params or {}), **changes}
    kept = {k: v for k, v in merged.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def page_path(request: Request) -> str:
    """The page a request shows: its own path for a GET; for a POST (an action), the page
    the action belongs to, the nearest path above it with a GET route
    (/dashboard/payments/{id}/refund → /dashboard/payments/{id})."""
    path = request.url.path
    if request.method in ("GET", "HEAD"):
        return path
    candidate = path
    while candidate.count("/") > 1:
        scope = {"type": "http", "method": "GET", "path": candidate, "root_path": ""}
        if any(r.matches(scope)[0] == Match.FULL for r in request.app.router.routes):
            return candidate
        candidate = candidate.rsplit("/", 1)[0]
    return "/dashboard"


def page(
    request: Request,
    template: str,
    locale: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a dashboard page with the security headers every kessai page carries."""
    started = time.perf_counter()
    html = (
        environment(locale)
        .get_template(template)
        .render(
            locale=locale,
            path=page_path(request),
            query=dict(request.query_params),
            link=link,
            **context,
        )
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    headers = {**SECURITY_HEADERS, "Server-Timing": f"render;dur={elapsed_ms:.2f}"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def show(request: Request, viewer: Any, template: str, **context: Any) -> HTMLResponse:
    """A signed-in page: `viewer` (`auth.Viewer`) gives the locale, merchant and CSRF token."""
    return page(request, template, viewer.locale, viewer=viewer, **context)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """A dashboard error (a refused form, a missing object), with a way back."""
    back = "/dashboard" if request.method in ("GET", "HEAD") else page_path(request)
    return page(
        request,
        "error.html",
        pick_locale(request),
        status_code=status,
        status=status,
        message=message,
        back=back,
    )
