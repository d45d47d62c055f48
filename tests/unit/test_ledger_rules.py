"""The ledger's pure rules (kessai.core.ledger): signs, KOMOJU's sections adding up to the
whole, settlement cut-offs at midnight in Japan and the cycles they close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kessai.core import ledger

JST_MIDNIGHT = 15  # 00:00 in Japan is 15:00 UTC the day before
money = st.integers(min_value=0, max_value=10**12)
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_credits_are_positive_and_debits_negative() -> None:
    assert {t: ledger.signed(t, 100) for t in ledger.TYPES} == {
        "payment": 100,
        "fee": -100,
        "refund": -100,
        "chargeback": -100,
        "chargeback_reversal": 100,
        "disbursement": -100,
        "disbursement_reversal": 100,
    }
    assert ledger.TYPES["refund"][1] == "refund" and ledger.TYPES["fee"][1] == "payment"


SECTION_PARTS = {
    "payments": ("captured_amount_total_cents", "processing_fees_cents"),
    "refunds": (
        "refunded_amount_total_cents",
        "refund_processing_fees_cents",
        "refunded_customer_fees_cents",
    ),
    "corrections": ("chargebacks_total_cents", "chargeback_reversals_total_cents"),
    "komoju_card_charges": (),
    "disbursements": ("disbursement_amount_total_cents", "disbursement_fee_total_cents"),
    "misc": (
        "clearings_total_cents",
        "komoju_card_discount_total_cents",
        "chargeback_fixed_fee_total_cents",
        "other_fee_adjustments_total_cents",
    ),
}


@given(st.fixed_dictionaries({t: money for t in ledger.TYPES}))
def test_each_section_adds_up_and_the_sections_add_up_to_the_whole(moves: dict) -> None:
    totals = {t: ledger.signed(t, amount) for t, amount in moves.items()}
    shown = ledger.sections(totals)
    assert set(shown) == set(SECTION_PARTS)
    for name, parts in SECTION_PARTS.items():
        section = shown[name]
        assert set(section) == {*parts, "total_cents"}
        assert all(isinstance(v, int) for v in section.values())
        if parts:
            assert section["total_cents"] == sum(section[p] for p in parts)
    assert sum(s["total_cents"] for s in shown.values()) == ledger.net(totals)


def test_sections_of_an_empty_or_partial_ledger() -> None:
    assert ledger.net({}) == 0
    assert all(s["total_cents"] == 0 for s in ledger.sections({}).values())
    shown = ledger.sections({"payment": 1000, "fee": -36})
    assert shown["payments"] == {
        "captured_amount_total_cents": 1000,
        "processing_fees_cents": -36,
        "total_cents": 964,
    }


@pytest.mark.parametrize(
    ("schedule", "after", "cutoff"),
    [
        # daily: the next midnight in Japan, strictly after
        ("daily", utc(2026, 12, 1, 14, 59, 59), utc(2026, 12, 1, 15)),
        ("daily", utc(2026, 12, 1, 15), utc(2026, 12, 2, 15)),  # at midnight: the next one
        ("daily", utc(2026, 12, 1, 16), utc(2026, 12, 2, 15)),  # 01:00 on the 2nd in Japan
        ("daily", utc(2026, 12, 31, 15, 30), utc(2027, 1, 1, 15)),
        # weekly: Monday 00:00 in Japan (Sunday 15:00 UTC)
        ("weekly", utc(2026, 12, 1, 9), utc(2026, 12, 6, 15)),  # a Tuesday
        ("weekly", utc(2026, 12, 6, 14, 59), utc(2026, 12, 6, 15)),  # Sunday 23:59 in Japan
        ("weekly", utc(2026, 12, 6, 15), utc(2026, 12, 13, 15)),  # Monday 00:00: the next
        ("weekly", utc(2026, 12, 7, 3), utc(2026, 12, 13, 15)),  # a Monday, both sides
        ("weekly", utc(2026, 12, 28, 0), utc(2027, 1, 3, 15)),  # across the year end
        # monthly: the 1st 00:00 in Japan
        ("monthly", utc(2027, 1, 31, 14), utc(2027, 1, 31, 15)),  # Jan 31 23:00 in Japan
        ("monthly", utc(2027, 1, 31, 15), utc(2027, 2, 28, 15)),  # Feb 1 00:00: March's
        ("monthly", utc(2028, 2, 10), utc(2028, 2, 29, 15)),  # a leap February
        ("monthly", utc(2026, 12, 15), utc(2026, 12, 31, 15)),  # to the next year
        ("monthly", utc(2027, 4, 30, 16), utc(2027, 5, 31, 15)),  # May 1 in Japan already
    ],
)
def test_next_cutoff(schedule: str, after: datetime, cutoff: datetime) -> None:
    assert ledger.next_cutoff(schedule, after) == cutoff


@given(schedule=st.sampled_from(ledger.SCHEDULES), after=instants)
def test_the_next_cutoff_is_the_first_cycle_end_after(schedule: str, after: datetime) -> None:
    cutoff = ledger.next_cutoff(schedule, after)
    assert cutoff.tzinfo is not None and cutoff.utcoffset() == timedelta(0)
    assert after < cutoff <= after + timedelta(days=31)
    local = cutoff.astimezone(ledger.JST)
    assert (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
    if schedule == "weekly":
        assert local.weekday() == 0
    if schedule == "monthly":
        assert local.day == 1
    # nothing in between: from any moment before it, it is still the next
    assert ledger.next_cutoff(schedule, cutoff - timedelta(microseconds=1)) == cutoff
    assert ledger.next_cutoff(schedule, after + (cutoff - after) / 2) == cutoff
    assert ledger.next_cutoff(schedule, cutoff) > cutoff


def test_an_unknown_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="hourly"):
        ledger.next_cutoff("hourly", utc(2026, 12, 1))


@pytest.mark.parametrize(
    ("schedule", "cutoff", "name"),
    [
        ("daily", utc(2026, 12, 1, 15), "2026-12-01"),  # the day that ended
        ("daily", utc(2026, 12, 31, 15), "2026-12-31"),
        ("weekly", utc(2026, 12, 6, 15), "2026-W49"),  # Mon Dec 7 in Japan: week 49 ended
        ("weekly", utc(2027, 1, 3, 15), "2026-W53"),  # the ISO year, not the calendar's
        ("monthly", utc(2026, 12, 31, 15), "2026-12"),
        ("monthly", utc(2028, 2, 29, 15), "2028-02"),
    ],
)
def test_cycle_name_names_the_cycle_that_ends(schedule: str, cutoff: datetime, name: str) -> None:
    assert ledger.cycle_name(schedule, cutoff) == name


@given(schedule=st.sampled_from(ledger.SCHEDULES), after=instants)
def test_consecutive_cycles_have_different_names(schedule: str, after: datetime) -> None:
    first = ledger.next_cutoff(schedule, after)
    second = ledger.next_cutoff(schedule, first)
    assert ledger.cycle_name(schedule, first) != ledger.cycle_name(schedule, second)


def test_a_violation_is_one_line_naming_its_ledger() -> None:
    found = ledger.Violation("missing_line", "m1", False, "JPY", "payment p1 has no 'fee' line")
    assert found.line() == "missing_line: m1 test JPY: payment p1 has no 'fee' line"
    assert "\n" not in found.line()
