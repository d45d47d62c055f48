"""What falls due on a clock, as data: each kind of deadline is a `DueWork` the test clock
and the worker both run (`kessai.services.clocks`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.services.runtime import Runtime
from kessai.store.tables import clocks


@dataclass(frozen=True)
class Scope:
    """Whose objects one pass covers.

    With `merchant_id`, only that merchant's test-mode objects (on its test clock);
    without it and with `real_time_only`, everyone's except the test-mode objects of
    merchants whose clock was moved (they get passes of their own); without either, all.
    """

    merchant_id: str | None = None
    real_time_only: bool = False

    def where(self, table: sa.Table) -> sa.ColumnElement[bool]:
        c = table.c
        if self.merchant_id is not None:
            return sa.and_(c.merchant_id == self.merchant_id, c.livemode.is_(False))
        if not self.real_time_only:
            return sa.true()
        moved = sa.select(clocks.c.merchant_id).where(
            clocks.c.merchant_id == c.merchant_id, clocks.c.offset_ms > 0
        )
        return sa.or_(c.livemode.is_(True), ~moved.exists())


@dataclass(frozen=True)
class DueWork:
    """One kind of thing that falls due.

    `next_due(conn, merchant_id, after)`: the earliest time strictly after `after` at which
    something of that merchant's test mode falls due (None: nothing scheduled).
    `run_due(rt, scope)`: do everything in `scope` that is due at `rt.now()`; how many things
    were done. Safe when several processes run it at once: each thing is claimed with a
    conditional update (or `FOR UPDATE SKIP LOCKED`), so nothing is done twice.
    """

    name: str
    next_due: Callable[[AsyncConnection, str, datetime], Awaitable[datetime | None]]
    run_due: Callable[[Runtime, Scope], Awaitable[int]]
