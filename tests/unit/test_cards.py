"""kessai.core.cards: Luhn, number normalisation, brands, expiry, CVV and the test-card table."""

from __future__ import annotations

import pytest

from kessai.core import cards
from kessai.core.cards import CardRule
from kessai.core.rules import Invalid

# Contract section 6, the test-card table, row by row.
APPROVED = [
    "4111111111111111",
    "5555555555554444",
    "3530111333300000",
    "378282246310005",
    "30569309025904",
]
DECLINES = {
    "4123111111111000": "insufficient_funds",
    "4123111111111018": "exceeds_limit",
    "4123111111111034": "bad_verification_value",
    "4123111111111042": "card_expired",
    "4123111111111059": "card_declined",
    "4123111111111067": "invalid_number",
    "4123111111111075": "invalid_number",
}
THREE_DS = {
    CardRule.THREE_DS_FRICTIONLESS: ["4100000000000100", "5100000000000107", "3528000000000106"],
    CardRule.THREE_DS_CHALLENGE: ["4100000000005000", "5100000000005007", "3528000000005006"],
    CardRule.THREE_DS_CHALLENGE_FAILS: ["4100000000300005", "5100000000300002", "3528000000300001"],
    CardRule.THREE_DS_FAILS_ON_RETURN: ["4100000000500000", "5100000000500007", "3528000000500006"],
}
ALL_TABLE_NUMBERS = APPROVED + list(DECLINES) + [n for ns in THREE_DS.values() for n in ns]


def with_check_digit(payload: str) -> str:
    """Append the Luhn check digit (independent textbook implementation)."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # these get doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return payload + str((10 - total % 10) % 10)


# --- Luhn --------------------------------------------------------------------------------


def test_table_has_every_contract_row() -> None:
    assert len(ALL_TABLE_NUMBERS) == 24
    assert len(set(ALL_TABLE_NUMBERS)) == 24


@pytest.mark.parametrize("number", ALL_TABLE_NUMBERS)
def test_every_contract_test_card_is_luhn_valid(number: str) -> None:
    assert cards.luhn_ok(number)
    assert cards.normalize_number(number) == number


@pytest.mark.parametrize("number", ALL_TABLE_NUMBERS)
def test_changing_the_check_digit_breaks_luhn(number: str) -> None:
    for digit in "0123456789":
        if digit != number[-1]:
            assert not cards.luhn_ok(number[:-1] + digit), number[:-1] + digit


@pytest.mark.parametrize(
    "number", ["4111111111111112", "4242424242424241", "1234567812345678", "79927398710"]
)
def test_known_invalid_numbers_fail_luhn(number: str) -> None:
    assert not cards.luhn_ok(number)


@pytest.mark.parametrize("number", ["79927398713", "4242424242424242", "6011111111111117"])
def test_known_valid_numbers_pass_luhn(number: str) -> None:
    assert cards.luhn_ok(number)


def test_reference_check_digit_helper_agrees_with_known_numbers() -> None:
    assert with_check_digit("411111111111111") == "4111111111111111"
    assert with_check_digit("7992739871") == "79927398713"


# --- normalize_number -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111 - 1111-1111 1111", 4111111111111111]
)
def test_normalize_strips_spaces_and_dashes(raw: object) -> None:
    assert cards.normalize_number(raw) == "4111111111111111"


@pytest.mark.parametrize("length", [12, 13, 16, 19])
def test_normalize_accepts_12_to_19_digits(length: int) -> None:
    number = with_check_digit("4" + "1" * (length - 2))
    assert len(number) == length
    assert cards.normalize_number(number) == number


@pytest.mark.parametrize("length", [2, 11, 20, 25])
def test_normalize_refuses_lengths_outside_12_to_19(length: int) -> None:
    number = with_check_digit("4" + "1" * (length - 2))
    assert cards.luhn_ok(number)  # only the length is wrong
    with pytest.raises(Invalid) as exc:
        cards.normalize_number(number)
    assert exc.value.code == "invalid_parameter"


@pytest.mark.parametrize(
    "raw",
    [
        "4111a11111111111",
        "4111_1111_1111_1111",
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "+4111111111111111",
        "4111111111111111\n",
        "",
        "    ",
        "----",
        None,
        True,
        4111111111111111.0,
        ["4111111111111111"],
    ],
)
def test_normalize_refuses_non_digits(raw: object) -> None:
    with pytest.raises(Invalid):
        cards.normalize_number(raw)


def test_normalize_refuses_a_luhn_failure() -> None:
    with pytest.raises(Invalid, match="check digit"):
        cards.normalize_number("4111111111111112")


@pytest.mark.parametrize(
    "raw",
    [
        "４１１１１１１１１１１１１１１１",  # fullwidth digits of the Visa test card
        "٤٤٣٩٧٢٩٨١٥٠٦١٦٢٢",  # Arabic-Indic digits
        "²011524493909266",  # superscript two: str.isdigit() but not a decimal digit
    ],
)
def test_normalize_never_returns_non_ascii_digits(raw: str) -> None:
    """Contract: digits only. Each of these passes the current isdigit()/Luhn checks."""
    try:
        result = cards.normalize_number(raw)
    except Invalid:
        return
    assert result.isascii() and result.isdecimal(), f"returned {result!r}"
    cards.brand_of(result)  # and whatever is returned is usable downstream


# --- brand_of ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4111111111111111", "visa"),
        ("4000000000000002", "visa"),
        ("5100000000000107", "master"),
        ("5555555555554444", "master"),
        ("2221000000000009", "master"),
        ("2500000000000001", "master"),
        ("2720999999999999", "master"),
        ("3530111333300000", "jcb"),
        ("3528000000000106", "jcb"),
        ("3589000000000000", "jcb"),
        ("378282246310005", "american_express"),
        ("341111111111111", "american_express"),
        ("30569309025904", "diners_club"),
        ("30000000000004", "diners_club"),
        ("36227206271667", "diners_club"),
        ("38520000023237", "diners_club"),
        ("6011111111111117", "discover"),
        ("6445644564456445", "discover"),
        ("6500000000000002", "discover"),
    ],
)
def test_brand_of(number: str, brand: str) -> None:
    assert cards.brand_of(number) == brand


@pytest.mark.parametrize(
    "number",
    [
        "5000000000000000",  # 50: not master
        "5600000000000000",  # 56: not master
        "2220999999999999",  # just below the 2-series range
        "2721000000000000",  # just above it
        "3527999999999999",  # just below JCB
        "3590000000000000",  # just above JCB
        "3060000000000000",  # 306: not diners
        "6012000000000000",
        "9999999999999999",
        "1111111111111111",
    ],
)
def test_brand_of_unknown_prefixes(number: str) -> None:
    assert cards.brand_of(number) == "unknown"


# --- expiry -----------------------------------------------------------------------------


def test_expiry_current_month_is_accepted() -> None:
    assert cards.expiry(6, 2025, today_year=2025, today_month=6) == (6, 2025)


def test_expiry_past_month_is_refused() -> None:
    with pytest.raises(Invalid, match="expired"):
        cards.expiry(5, 2025, today_year=2025, today_month=6)


def test_expiry_past_year_is_refused() -> None:
    with pytest.raises(Invalid):
        cards.expiry(12, 2024, today_year=2025, today_month=1)


def test_expiry_future_is_accepted() -> None:
    assert cards.expiry(1, 2026, today_year=2025, today_month=12) == (1, 2026)
    assert cards.expiry(12, 2099, today_year=2025, today_month=12) == (12, 2099)


@pytest.mark.parametrize(
    ("year", "today_year", "expected"),
    [(25, 2025, 2025), (30, 2025, 2030), (99, 2025, 2099), ("30", 2025, 2030), (5, 2101, 2105)],
)
def test_expiry_two_digit_year_is_in_current_century(
    year: object, today_year: int, expected: int
) -> None:
    assert cards.expiry(12, year, today_year=today_year, today_month=1) == (12, expected)


def test_expiry_two_digit_past_year_is_refused() -> None:
    with pytest.raises(Invalid):
        cards.expiry(12, 24, today_year=2025, today_month=1)


def test_expiry_accepts_form_strings() -> None:
    assert cards.expiry("07", "2030", today_year=2025, today_month=6) == (7, 2030)


@pytest.mark.parametrize("month", [0, 13, -1, "x", 1.5, True, None])
def test_expiry_refuses_bad_months(month: object) -> None:
    with pytest.raises(Invalid):
        cards.expiry(month, 2030, today_year=2025, today_month=6)


@pytest.mark.parametrize("year", [-1, 10000, "20x0", 2030.0, False, None])
def test_expiry_refuses_bad_years(year: object) -> None:
    with pytest.raises(Invalid):
        cards.expiry(12, year, today_year=2025, today_month=6)


# --- verification_value -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("123", "123"), ("1234", "1234"), (123, "123"), ("000", "000"), (None, None), ("", None)],
)
def test_verification_value_accepted(raw: object, expected: str | None) -> None:
    assert cards.verification_value(raw) == expected


@pytest.mark.parametrize(
    "raw", ["12", "12345", "12a", "abc", " 123", "123\n", "１２３", True, 12, 12.3, [1, 2, 3]]
)
def test_verification_value_refused(raw: object) -> None:
    with pytest.raises(Invalid):
        cards.verification_value(raw)


# --- the test-card table ----------------------------------------------------------------


@pytest.mark.parametrize(("number", "code"), sorted(DECLINES.items()))
def test_test_card_declines_with_their_codes(number: str, code: str) -> None:
    card = cards.test_card(number)
    assert card.rule is CardRule.DECLINE
    assert card.decline_code == code
    assert code in cards.DECLINE_MESSAGES


@pytest.mark.parametrize(
    ("number", "rule"), [(n, rule) for rule, numbers in THREE_DS.items() for n in numbers]
)
def test_test_card_three_d_secure_behaviours(number: str, rule: CardRule) -> None:
    card = cards.test_card(number)
    assert card.rule is rule
    assert card.decline_code is None


@pytest.mark.parametrize(
    "number", [*APPROVED, "4242424242424242", "6011111111111117", with_check_digit("4" * 18)]
)
def test_test_card_approves_listed_and_unlisted_valid_numbers(number: str) -> None:
    assert cards.luhn_ok(number)
    card = cards.test_card(number)
    assert card.rule is CardRule.APPROVE
    assert card.decline_code is None


def test_three_d_secure_password_is_the_documented_one() -> None:
    assert cards.THREE_DS_PASSWORD == "123456"


def test_decline_messages_never_echo_a_number() -> None:
    for message in cards.DECLINE_MESSAGES.values():
        assert message
        assert not any(ch.isdigit() for ch in message.replace("3-D", ""))
