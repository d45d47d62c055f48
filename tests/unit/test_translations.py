"""Every string the hosted page shows has a Japanese and a Korean translation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from kessai.core.cards import DECLINE_MESSAGES
from kessai.core.payment_types import PAYMENT_TYPES, STORE_NAMES
from kessai.hosted.i18n import LOCALE_DIR, translations

ROOT = Path(__file__).resolve().parents[2]


def _extracted(tmp: Path) -> set[str]:
    pot = tmp / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_",
            "-o",
            str(pot),
            "src",
        ],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    with pot.open("rb") as fp:
        return {m.id for m in read_po(fp) if m.id}


# Strings shown through variables, which extraction cannot see.
DYNAMIC = {
    *DECLINE_MESSAGES.values(),
    *(t.name_en for t in PAYMENT_TYPES.values()),
    *STORE_NAMES.values(),
}


@pytest.mark.parametrize("locale", ["ja", "ko"])
def test_every_page_string_is_translated(locale: str, tmp_path: Path) -> None:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalog = read_po(fp)
    wanted = _extracted(tmp_path) | DYNAMIC
    missing = sorted(m for m in wanted if not (catalog.get(m) and catalog.get(m).string))
    assert not missing, f"{locale} lacks: {missing}"


def test_translations_really_differ_from_english() -> None:
    assert translations("ja").gettext("Card number") == "カード番号"
    assert translations("ko").gettext("Card number") == "카드 번호"
    assert translations("en").gettext("Card number") == "Card number"
