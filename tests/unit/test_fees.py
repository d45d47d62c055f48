"""The merchant's fees (kessai.core.fees): integer arithmetic in basis points, rounded half
up, plus a fixed part, never more than the total; rates as merchants write them."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kessai.core import fees
from kessai.core.fees import Rate
from kessai.core.money import MAX_AMOUNT
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.core.rules import Invalid


def test_the_percentage_is_rounded_half_up_to_the_minor_unit() -> None:
    card = Rate(360)  # 3.6 %
    assert card.fee(125) == 5  # 4.5 -> 5
    assert card.fee(124) == 4  # 4.464 -> 4
    assert card.fee(1000) == 36
    assert Rate(250).fee(20) == 1  # 0.5 -> 1
    assert Rate(250).fee(19) == 0  # 0.475 -> 0
    assert Rate(5).fee(10_000) == 5  # 0.05 %


def test_the_fixed_part_is_added_and_the_fee_never_exceeds_the_total() -> None:
    assert Rate(150, 100).fee(10_000) == 250
    assert Rate(360, 100).fee(50) == 50  # 1.8 + 100, capped at what was paid
    assert Rate(10_000).fee(7) == 7  # 100 %
    assert Rate(0, 30).fee(1000) == 30
    assert Rate(0).fee(1000) == 0
    assert Rate(360, 100).fee(0) == 0  # nothing captured, nothing charged
    assert Rate(360, 100).fee(-5) == 0


@given(
    total=st.integers(min_value=0, max_value=MAX_AMOUNT),
    bps=st.integers(min_value=0, max_value=10_000),
    fixed=st.integers(min_value=0, max_value=10_000),
)
def test_a_fee_is_the_exact_percentage_rounded_half_up_plus_fixed_capped(
    total: int, bps: int, fixed: int
) -> None:
    exact = Decimal(total) * bps / 10_000
    rounded = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    fee = Rate(bps, fixed).fee(total)
    assert isinstance(fee, int)
    assert fee == min(total, rounded + fixed)
    assert 0 <= fee <= total


def test_defaults_cover_every_payment_type() -> None:
    assert set(fees.DEFAULT_FEES) == set(PAYMENT_TYPES)
    assert fees.DEFAULT_FEES["credit_card"] == Rate(360)
    assert fees.DEFAULT_FEES["konbini"] == Rate(275)
    assert fees.DEFAULT_FEES["bank_transfer"] == Rate(150, 100)
    assert fees.DEFAULT_FEES["paypay"] == Rate(325)


def test_a_merchants_override_replaces_the_default_of_its_type_only() -> None:
    overrides = {"credit_card": {"percent": "2.9", "fixed": 30}}
    assert fees.rate_of("credit_card", overrides) == Rate(290, 30)
    assert fees.rate_of("konbini", overrides) == Rate(275)
    assert fees.rate_of("credit_card", None) == Rate(360)
    every = fees.rates(overrides)
    assert list(every) == list(PAYMENT_TYPES)
    assert every["credit_card"].as_json() == {"percent": "2.9", "fixed": 30}
    assert every["bank_transfer"].as_json() == {"percent": "1.5", "fixed": 100}


@pytest.mark.parametrize(
    ("given_", "bps"),
    [("3.6", 360), ("3", 300), (3, 300), ("0", 0), ("100", 10_000), ("0.05", 5), ("3.60", 360)],
)
def test_parse_percent_takes_strings_and_whole_numbers(given_: object, bps: int) -> None:
    assert fees.parse_percent(given_) == bps


@pytest.mark.parametrize(
    "refused",
    [
        3.6,  # a float: binary fractions are not money
        True,
        False,
        None,
        Decimal("3.6"),
        "3.605",  # three decimals
        "100.01",
        "101",
        101,
        -1,
        "-1",
        "+3",
        "1e1",
        " 3.6",
        "3,6",
        "1_0",
        "NaN",
        "inf",
        "",
        "٣",  # a digit, but not an ASCII one
        "3.",
        ".5",
    ],
)
def test_parse_percent_refuses_floats_bools_and_what_is_not_0_to_100(refused: object) -> None:
    with pytest.raises(Invalid):
        fees.parse_percent(refused)


@given(st.integers(min_value=0, max_value=10_000))
def test_a_percentage_written_out_reads_back_the_same(bps: int) -> None:
    text = fees.percent_text(bps)
    assert fees.parse_percent(text) == bps
    assert "." not in text or not text.endswith(("0", "."))  # no trailing zeros


def test_percent_text_is_the_shortest_writing() -> None:
    assert [fees.percent_text(b) for b in (360, 300, 5, 0, 10_000, 275)] == [
        "3.6",
        "3",
        "0.05",
        "0",
        "100",
        "2.75",
    ]


def test_parse_fixed_takes_only_whole_numbers_in_range() -> None:
    assert fees.parse_fixed(0) == 0
    assert fees.parse_fixed(MAX_AMOUNT) == MAX_AMOUNT
    assert fees.parse_fixed("100") == 100  # a form field means what JSON does
    for refused in (True, "1.5", 1.0, -1, MAX_AMOUNT + 1, None, "1e3"):
        with pytest.raises(Invalid):
            fees.parse_fixed(refused)


def test_parse_rate_is_percent_or_percent_plus_fixed() -> None:
    assert fees.parse_rate("3.6") == Rate(360)
    assert fees.parse_rate("1.5+100") == Rate(150, 100)
    assert fees.parse_rate("1.5 + 100") == Rate(150, 100)
    for refused in ("1.5+", "+100", "1.5+-1", "1.5+1.5", "1.5+١٠", "abc", "3.6%", "1+2+3", ""):
        with pytest.raises(Invalid):
            fees.parse_rate(refused)
