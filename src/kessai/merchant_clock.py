"""Whose clock the current work runs on.

Each merchant's test mode has a clock of its own (`kessai.services.clocks`): the real time
plus an offset that only grows. Once a request or a worker's job knows which merchant and
mode it is for, it sets that offset here, in its own context (a `ContextVar`, so concurrent
requests never see each other's); `Runtime.now()` adds it to the real time. Zero for live
mode and outside any merchant's work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

_CLOCK_OFFSET: ContextVar[timedelta] = ContextVar("kessai_clock_offset", default=timedelta(0))


def use_offset(offset: timedelta) -> None:
    """From here on in this request's context, `Runtime.now` is the merchant's clock."""
    _CLOCK_OFFSET.set(offset)


@contextmanager
def merchant_time(offset: timedelta) -> Iterator[None]:
    """`Runtime.now` is the real time plus `offset` inside the block (a worker's job)."""
    token = _CLOCK_OFFSET.set(offset)
    try:
        yield
    finally:
        _CLOCK_OFFSET.reset(token)


def clock_offset() -> timedelta:
    """The current merchant's test-clock offset (zero outside one)."""
    return _CLOCK_OFFSET.get()
