"""Amounts typed into the payment forms, and translated values in the templates, without a
server."""

from __future__ import annotations

import pytest

from kessai.dashboard import amounts
from kessai.dashboard.render import environment
from kessai.errors import InvalidParameter


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("1000", "JPY", 1000),
        ("１，０００", "JPY", 1000),
        (" 10.50 ", "USD", 1050),
        ("10.5", "USD", 1050),
        ("10", "USD", 1000),
        ("0.01", "EUR", 1),
        ("12345678901.23", "USD", 1234567890123),
        ("500", "KRW", 500),
        ("", "JPY", None),
    ],
)
def test_amounts_are_read_exactly(typed: str, currency: str, minor: int | None) -> None:
    read = amounts.parse(
        typed, currency, field="amount", label="Amount", locale="en", required=False
    )
    assert read == minor
    if minor is not None:
        assert amounts.parse(amounts.shown(minor, currency), currency, field="amount",
                             label="Amount", locale="en", required=True) == minor  # fmt: skip


@pytest.mark.parametrize("typed", ["٣", "१२", "１٢"])
def test_digits_of_other_scripts_are_not_numbers(typed: str) -> None:
    with pytest.raises(InvalidParameter, match="must be a number"):
        amounts.parse(typed, "JPY", field="amount", label="Amount", locale="en", required=True)


def test_translated_values_are_escaped() -> None:
    shown = environment("en").from_string(
        '{% import "_macros.html" as m %}{{ m.status(v) }} {{ v|tr }} {{ v|tr("ctx") }}'
    )
    html = shown.render(v="<b>x</b>")
    assert "<b>" not in html and html.count("&lt;b&gt;x&lt;/b&gt;") == 4, html
    assert environment("ja").from_string("{{ v|tr }}").render(v="captured") == "売上確定"
