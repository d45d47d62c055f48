"""The subscription schedule and its retries (kessai.core.periods)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kessai.core import periods

JAN31 = datetime(2030, 1, 31, 9, 30, tzinfo=UTC)


def test_monthly_keeps_the_day_clamped_to_the_month_end() -> None:
    got = [periods.capture_time(JAN31, "monthly", n).date().isoformat() for n in range(1, 5)]
    assert got == ["2030-02-28", "2030-03-31", "2030-04-30", "2030-05-31"]
    leap = datetime(2032, 1, 31, tzinfo=UTC)
    assert periods.capture_time(leap, "monthly", 1).day == 29
    assert periods.capture_time(JAN31, "monthly", 1).time() == JAN31.time()


def test_weekly_and_yearly() -> None:
    assert periods.capture_time(JAN31, "weekly", 2) == JAN31 + timedelta(days=14)
    feb29 = datetime(2032, 2, 29, tzinfo=UTC)
    assert periods.capture_time(feb29, "yearly", 1).date().isoformat() == "2033-02-28"
    assert periods.capture_time(feb29, "yearly", 4).date().isoformat() == "2036-02-29"


def test_following_is_the_first_scheduled_time_strictly_after() -> None:
    assert periods.following(JAN31, "monthly", JAN31) == periods.capture_time(JAN31, "monthly", 1)
    feb28 = periods.capture_time(JAN31, "monthly", 1)
    assert periods.following(JAN31, "monthly", feb28) == datetime(2030, 3, 31, 9, 30, tzinfo=UTC)
    # a late runner skips to the next time still ahead
    late = JAN31 + timedelta(days=75)
    assert periods.following(JAN31, "monthly", late).date().isoformat() == "2030-04-30"
    assert periods.following(JAN31, "weekly", JAN31 - timedelta(days=3)) == JAN31 + timedelta(7)


@given(
    anchor=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    period=st.sampled_from(periods.PERIODS),
    seconds=st.integers(min_value=0, max_value=10 * 366 * 86400),
)
def test_following_never_skips_a_scheduled_time(anchor, period, seconds) -> None:
    after = anchor + timedelta(seconds=seconds)
    found = periods.following(anchor, period, after)
    assert found > after
    n = next(n for n in range(1, 10_000) if periods.capture_time(anchor, period, n) == found)
    assert periods.capture_time(anchor, period, n - 1) <= after


def test_day_of_the_period() -> None:
    assert periods.day_of(JAN31, "monthly") == 31
    assert periods.day_of(JAN31, "weekly") == JAN31.isoweekday()
    assert periods.day_of(datetime(2030, 2, 1, tzinfo=UTC), "yearly") == 32


def test_retries_after_one_three_and_five_days_then_none() -> None:
    failed = JAN31
    assert [periods.retry_at(failed, n) for n in range(4)] == [
        failed + timedelta(days=1),
        failed + timedelta(days=3),
        failed + timedelta(days=5),
        None,
    ]


def test_unknown_period_is_refused() -> None:
    with pytest.raises(ValueError):
        periods.capture_time(JAN31, "daily", 1)
