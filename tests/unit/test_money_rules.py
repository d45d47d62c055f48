"""kessai.core.money and kessai.core.rules: currencies, amounts and the small parameter rules."""

from __future__ import annotations

import pytest

from kessai.core import money, rules
from kessai.core.rules import Invalid

CONTRACT_CURRENCIES = [
    "JPY",
    "USD",
    "EUR",
    "TWD",
    "KRW",
    "PLN",
    "GBP",
    "HKD",
    "SGD",
    "NZD",
    "AUD",
    "IDR",
    "MYR",
    "PHP",
    "THB",
    "CNY",
    "BRL",
    "CHF",
    "CAD",
    "VND",
]
# ISO 4217 minor units for the contract's currencies.
ISO_4217_EXPONENT = {
    "JPY": 0,
    "USD": 2,
    "EUR": 2,
    "TWD": 2,
    "KRW": 0,
    "PLN": 2,
    "GBP": 2,
    "HKD": 2,
    "SGD": 2,
    "NZD": 2,
    "AUD": 2,
    "IDR": 2,
    "MYR": 2,
    "PHP": 2,
    "THB": 2,
    "CNY": 2,
    "BRL": 2,
    "CHF": 2,
    "CAD": 2,
    "VND": 0,
}


# --- currency ---------------------------------------------------------------------------


def test_supported_currencies_are_the_contracts() -> None:
    assert set(money.CURRENCIES) == set(CONTRACT_CURRENCIES)


@pytest.mark.parametrize("code", CONTRACT_CURRENCIES)
def test_currency_accepts_each_supported_code(code: str) -> None:
    assert money.currency(code) == code


@pytest.mark.parametrize(("raw", "expected"), [("jpy", "JPY"), ("Usd", "USD"), ("eUR", "EUR")])
def test_currency_is_case_insensitive_and_returned_upper_case(raw: str, expected: str) -> None:
    assert money.currency(raw) == expected


@pytest.mark.parametrize("raw", ["XXX", "ABC", "HUF", "JP", "JPYY", "", " JPY", 392, None, True])
def test_unknown_currency_has_code_invalid_currency(raw: object) -> None:
    with pytest.raises(Invalid) as exc:
        money.currency(raw)
    assert exc.value.code == "invalid_currency"


# --- amount -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0, 0), (1, 1), (1000, 1000), (10**15, 10**15), ("0", 0), ("500", 500), ("000123", 123)],
)
def test_amount_accepts_integers_and_digit_strings(raw: object, expected: int) -> None:
    result = money.amount(raw)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "raw",
    [
        True,
        False,
        1.0,
        1.5,
        "1.5",
        "1.0",
        "1e3",
        "-1",
        -1,
        10**15 + 1,
        "",
        "abc",
        "1_000",
        "0x10",
        "１００",
        None,
        [100],
        {"amount": 1},
    ],
)
def test_amount_refuses_non_integers_negatives_and_huge(raw: object) -> None:
    with pytest.raises(Invalid) as exc:
        money.amount(raw)
    assert exc.value.code == "invalid_parameter"


# --- integer ----------------------------------------------------------------------------


def test_integer_bounds_are_inclusive() -> None:
    assert rules.integer(1, minimum=1, maximum=86400) == 1
    assert rules.integer(86400, minimum=1, maximum=86400) == 86400
    with pytest.raises(Invalid, match="at least 1"):
        rules.integer(0, minimum=1, maximum=86400)
    with pytest.raises(Invalid, match="at most 86400"):
        rules.integer(86401, minimum=1, maximum=86400)


def test_integer_without_bounds_accepts_negatives() -> None:
    assert rules.integer(-5) == -5
    assert rules.integer("-5") == -5


def test_integer_string_bounds_apply_too() -> None:
    with pytest.raises(Invalid):
        rules.integer("0", minimum=1)
    assert rules.integer("12", maximum=12) == 12


@pytest.mark.parametrize("raw", [True, 2.0, "2.0", "two", None, b"2", "1" * 19])
def test_integer_refuses(raw: object) -> None:
    with pytest.raises(Invalid):
        rules.integer(raw)


# --- boolean ------------------------------------------------------------------------------


def test_boolean() -> None:
    assert rules.boolean(True) is True
    assert rules.boolean("false") is False
    assert rules.boolean("TRUE") is True
    for bad in ("yes", 1, 0, None, ""):
        with pytest.raises(Invalid):
            rules.boolean(bad)


# --- http_url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://shop.example/return", "https://shop.example/return"),
        ("http://shop.example", "http://shop.example/"),
        (
            "https://shop.example:8443/a/b?x=1&y=2#frag",
            "https://shop.example:8443/a/b?x=1&y=2#frag",
        ),
        ("HTTPS://SHOP.EXAMPLE/RETURN", "https://shop.example/RETURN"),
        ("http://127.0.0.1:8000/done", "http://127.0.0.1:8000/done"),
        ("https://" + "a" * 2040, "https://" + "a" * 2040 + "/"),  # exactly 2048 characters
    ],
)
def test_http_url_accepts_absolute_http_and_https(url: str, normalised: str) -> None:
    assert rules.http_url(url) == normalised


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://shop.example/file",
        "file:///etc/passwd",
        "mailto:a@example.com",
        "/relative/path",
        "relative/path",
        "?x=1",
        "//evil.example/path",
        "https:/shop.example",
        "https:shop.example",
        "https://",
        "http:///path",
        "https://shop.example/a b",
        " https://shop.example/",
        "https://shop.example/ ",
        "https://shop.example/\nLocation: x",
        "https://shop.example/\r",
        "https://shop.example/\t",
        "https://shop.example/\x00",
        "https://shop.example/\x7f",
        "java\tscript:alert(1)",
        "\x01https://shop.example/",
        "https://" + "a" * 2041,  # 2049 characters
        "",
        None,
        True,
        ["https://shop.example/"],
    ],
)
def test_http_url_refuses(url: object) -> None:
    with pytest.raises(Invalid):
        rules.http_url(url)


@pytest.mark.parametrize("url", ["https://shop.example/a\x85b", "https://shop.example/a\x9fb"])
def test_http_url_refuses_c1_control_characters(url: str) -> None:
    """Contract: 'no control characters'. U+0080..U+009F are control characters (Cc) too."""
    with pytest.raises(Invalid):
        rules.http_url(url)


@pytest.mark.parametrize("url", ["http://[::1", "https://[not-an-ip]/"])
def test_http_url_reports_malformed_hosts_as_invalid(url: str) -> None:
    """A broken rule raises `Invalid` (rules.py docstring), not urllib's bare ValueError."""
    with pytest.raises(Invalid):
        rules.http_url(url)


# --- email ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["buyer@example.com", "a.b+tag@sub.example.co.jp", "x@y.z", "a" * 243 + "@example.com"]
)
def test_email_accepts(value: str) -> None:
    assert len(value) <= 255
    assert rules.email(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "buyer",
        "buyer@",
        "@example.com",
        "buyer@example",
        "buyer@@example.com",
        "bu yer@example.com",
        "buyer@example.com\n",
        "buyer@exa\x00mple.com",
        "a@b@example.com",
        "a" * 244 + "@example.com",  # 256 characters
        None,
        True,
    ],
)
def test_email_refuses(value: object) -> None:
    with pytest.raises(Invalid):
        rules.email(value)


# --- metadata ---------------------------------------------------------------------------


def test_metadata_keeps_strings() -> None:
    assert rules.metadata({"order": "A-1", "note": ""}) == {"order": "A-1", "note": ""}


def test_metadata_absent_is_empty() -> None:
    assert rules.metadata(None) == {}
    assert rules.metadata("") == {}
    assert rules.metadata({}) == {}


def test_metadata_numbers_and_booleans_become_strings() -> None:
    result = rules.metadata({"n": 1, "f": 1.5, "t": True, "b": False})
    assert result == {"n": "1", "f": "1.5", "t": "true", "b": "false"}
    assert all(type(v) is str for v in result.values())


def test_metadata_limits_are_inclusive() -> None:
    fifty = {f"k{i}": "v" for i in range(50)}
    assert rules.metadata(fifty) == fifty
    assert rules.metadata({"k" * 30: "v" * 2000}) == {"k" * 30: "v" * 2000}


@pytest.mark.parametrize(
    "value",
    [
        {f"k{i}": "v" for i in range(51)},
        {"k" * 31: "v"},
        {"k": "v" * 2001},
        {"k": 12345678901234567890 * 10**1990},  # a number whose string is > 2000 chars
        {"": "v"},
        {"k": {"nested": "x"}},
        {"k": ["a", "b"]},
        {1: "v"},
        ["a", "b"],
        "order=1",
        5,
    ],
)
def test_metadata_refuses(value: object) -> None:
    with pytest.raises(Invalid) as exc:
        rules.metadata(value)
    assert exc.value.code == "invalid_parameter"


# --- exponent and formatting ------------------------------------------------------------


@pytest.mark.parametrize(("code", "expected"), sorted(ISO_4217_EXPONENT.items()))
def test_exponent_matches_iso_4217(code: str, expected: int) -> None:
    assert money.exponent(code) == expected


def test_to_major() -> None:
    assert str(money.to_major(1050, "USD")) == "10.50"
    assert str(money.to_major(1000, "JPY")) == "1000"


@pytest.mark.parametrize(
    ("minor", "code", "locale", "expected"),
    [
        (1050, "USD", "en", "$10.50"),
        (100, "USD", "en", "$1.00"),
        (123456789, "USD", "en", "$1,234,567.89"),
        (50000, "KRW", "ko", "₩50,000"),
        (1000, "JPY", "en", "¥1,000"),
    ],
)
def test_format_amount(minor: int, code: str, locale: str, expected: str) -> None:
    assert money.format_amount(minor, code, locale) == expected


@pytest.mark.parametrize(("minor", "expected"), [(1000, "1,000"), (0, "0"), (1234567, "1,234,567")])
def test_format_amount_ja_jpy(minor: int, expected: str) -> None:
    # CLDR's ja symbol for JPY is the fullwidth ￥; the halfwidth ¥ is equally idiomatic.
    assert money.format_amount(minor, "JPY", "ja") in (f"¥{expected}", f"￥{expected}")


def test_exponents_do_not_follow_babel(monkeypatch: pytest.MonkeyPatch) -> None:
    # CLDR's view of a currency's digits changes between Babel releases (IDR: 2, then 0);
    # the amounts kessai accepts and shows must not.
    import babel.numbers

    monkeypatch.setattr(babel.numbers, "get_currency_precision", lambda code: 7)
    assert {code: money.exponent(code) for code in money.CURRENCIES} == ISO_4217_EXPONENT
    assert money.format_amount(150050, "IDR", "en") == "IDR1,500.50"


@pytest.mark.parametrize("code", sorted(ISO_4217_EXPONENT))
def test_format_amount_shows_iso_4217_digits(code: str) -> None:
    shown = money.format_amount(123456, code, "en")
    digits = ISO_4217_EXPONENT[code]
    assert shown.endswith("123,456" if digits == 0 else "1,234.56"), shown
