"""When a subscription is charged: its schedule and its retries. Pure, no I/O.

A subscription's schedule is its anchor (the creation time) plus whole periods: weekly
adds 7 days, monthly and yearly add calendar months and years with `relativedelta`, which
keeps the anchor's day and clamps it to the month's end (an anchor on 31 January is
charged on 28 or 29 February, then 31 March: always counted from the anchor, never from
the previous charge, so a short month does not move every later one).

A failed charge is retried after `RETRY_DELAYS` (1, 3 and 5 days after each failure);
when the last retry fails too, the subscription is suspended.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

PERIODS = ("weekly", "monthly", "yearly")
RETRY_DELAYS = (timedelta(days=1), timedelta(days=3), timedelta(days=5))


def _step(period: str, n: int) -> relativedelta:
    if period == "weekly":
        return relativedelta(weeks=n)
    if period == "monthly":
        return relativedelta(months=n)
    if period == "yearly":
        return relativedelta(years=n)
    raise ValueError(f"unknown period {period!r}")


def capture_time(anchor: datetime, period: str, n: int) -> datetime:
    """The n-th scheduled charge (n = 0 is the anchor itself)."""
    return anchor + _step(period, n)


def following(anchor: datetime, period: str, after: datetime) -> datetime:
    """The first scheduled charge strictly after `after` (and after the anchor)."""
    if after < anchor:
        return capture_time(anchor, period, 1)
    # The longest a period can be, so the estimate is never past the answer: walk forward.
    days = {"weekly": 7, "monthly": 31, "yearly": 366}[period]
    n = max(1, (after - anchor).days // days - 1)
    while capture_time(anchor, period, n) <= after:
        n += 1
    return capture_time(anchor, period, n)


def day_of(anchor: datetime, period: str) -> int:
    """The day of its period on which a subscription is charged: the ISO weekday (1 is
    Monday) for weekly, the day of the month for monthly, the day of the year for yearly."""
    if period == "weekly":
        return anchor.isoweekday()
    if period == "monthly":
        return anchor.day
    return anchor.timetuple().tm_yday


def retry_at(failed_at: datetime, retries_so_far: int) -> datetime | None:
    """When to retry after a failed charge, given how many retries this charge has had
    already; None when none is left (the subscription is suspended)."""
    if retries_so_far >= len(RETRY_DELAYS):
        return None
    return failed_at + RETRY_DELAYS[retries_so_far]
