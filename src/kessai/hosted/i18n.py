"""Translations for the hosted page: gettext catalogues (ja, ko) read with Babel.

English is the source language. The `.po` files under `locale/` are the catalogues; they
are compiled in memory at start-up, so there is no build step. To add a string, mark it
with `_()` in a template and add it to each catalogue (`pybabel extract -F babel.cfg`
then `pybabel update` keep them in step).
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kessai.core.payment_types import STORE_NAMES
from kessai.core.sessions import LOCALES

HERE = Path(__file__).parent
LOCALE_DIR = HERE / "locale"


@lru_cache(maxsize=len(LOCALES) + 1)
def translations(locale: str) -> NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


@lru_cache(maxsize=len(LOCALES))
def environment(locale: str) -> Environment:
    """One Jinja environment per locale, autoescaping everything."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["store_names"] = STORE_NAMES
    return env


def pick_locale(requested: str | None, default: str) -> str:
    return requested if requested in LOCALES else default
