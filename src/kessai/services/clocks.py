"""Each merchant's test clock, and running what falls due on it.

A merchant's test mode runs on its own clock: the real time plus an offset that only ever
grows (`store/clocks.py`). Live mode runs on the real time. Requests and worker jobs set
the clock of the merchant they serve (`enter`, `merchant_time`) and then read it with
`rt.now()`: every timestamp, deadline and expiry is measured on it.

Moving a clock (`advance`) steps it through every due time up to the target, in order: at
each it sets the clock there and runs every `DueWork` source, so what falls due in the
skipped time happens in time order, with events stamped at the time it fell due, before
the answer returns. The worker runs the same sources on every clock (`run_all`). Both are
safe to run at once from any number of processes: each source claims what it does.

Each process remembers offsets for `OFFSET_TTL` seconds; a clock moved by another process
is seen here within that time (at once by the process that moved it).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core.times import iso
from kessai.errors import Forbidden, InvalidParameter
from kessai.merchant_clock import merchant_time, use_offset
from kessai.services import (
    chargebacks,
    disbursements,
    execute,
    settlements,
    subscriptions,
    sweeper,
)
from kessai.services.due import DueWork, Scope
from kessai.services.runtime import Caller, Runtime
from kessai.store import clocks as store

log = logging.getLogger("kessai.clock")

# What falls due, in the order each step runs them.
SOURCES: tuple[DueWork, ...] = (
    sweeper.DUE,
    subscriptions.DUE,
    chargebacks.DUE,
    disbursements.DUE,
    settlements.DUE,  # last: a cycle ending at this instant includes what was just done
)
# How the log says what each source did (`report`).
DONE_AS = {
    "payment deadlines": "payments expired",
    "subscriptions": "subscription charges made",
    "chargebacks": "chargebacks moved",
    "disbursements": "disbursements paid out or failed",
    "settlements": "settlements made",
}
OFFSET_TTL = 1.0
# The furthest one request may move a clock: steps are run one after another.
MAX_ADVANCE = timedelta(days=3660)


async def offset(rt: Runtime, merchant_id: str) -> timedelta:
    """The offset of the merchant's test clock (remembered for `OFFSET_TTL` seconds)."""
    cached = rt.clock_offsets.get(merchant_id)
    if cached is not None and cached[0] > time.monotonic():
        return timedelta(milliseconds=cached[1])
    found = await execute.read(rt, lambda conn: store.offset_of(conn, merchant_id))
    _remember(rt, merchant_id, found)
    return timedelta(milliseconds=found)


def _remember(rt: Runtime, merchant_id: str, offset_ms: int) -> None:
    """Cache an offset read or set. Offsets only grow, so a read that started before a
    move this process made (the worker's pass racing `POST /clock`) never puts the cache
    back behind that move."""
    cached = rt.clock_offsets.get(merchant_id)
    if cached is not None and cached[1] > offset_ms:
        offset_ms = cached[1]
    if len(rt.clock_offsets) >= 10_000:
        rt.clock_offsets.clear()
    rt.clock_offsets[merchant_id] = (time.monotonic() + OFFSET_TTL, offset_ms)


async def enter(rt: Runtime, merchant_id: str, livemode: bool) -> None:
    """From here on, this request runs on the clock of `merchant_id`'s mode."""
    use_offset(timedelta(0) if livemode else await offset(rt, merchant_id))


def _live_refused(caller: Caller) -> None:
    if caller.livemode:
        raise Forbidden(
            "Live mode runs on the real time; only a test-mode clock can be moved. "
            "Use your test secret key."
        )


async def advance(rt: Runtime, caller: Caller, to: datetime, *, param: str = "now") -> None:
    """Move the caller's test clock to `to`, running everything due on the way (`param`:
    the parameter that said where to, named by the errors)."""
    _live_refused(caller)
    start = rt.now()
    if to <= start:
        raise InvalidParameter(
            "The clock only moves forward: give a time later than its current one.",
            param=param,
        )
    if to - start > MAX_ADVANCE:
        raise InvalidParameter(
            f"The clock moves at most {MAX_ADVANCE.days} days in one request.", param=param
        )
    merchant_id = caller.merchant_id
    floor = start
    done = dict.fromkeys((source.name for source in SOURCES), 0)
    while True:
        due = await _next_due(rt, merchant_id, floor)
        step = due if due is not None and due < to else to
        await _set(rt, merchant_id, step)
        for source in SOURCES:
            done[source.name] += await source.run_due(rt, Scope(merchant_id=merchant_id))
        if step >= to:
            report(f"test clock of {merchant_id} moved to {iso(rt.now())}", done, merchant_id)
            return
        floor = step


async def _next_due(rt: Runtime, merchant_id: str, after: datetime) -> datetime | None:
    async def first(conn: AsyncConnection) -> datetime | None:
        found = [await source.next_due(conn, merchant_id, after) for source in SOURCES]
        return min((when for when in found if when is not None), default=None)

    return await execute.read(rt, first)


async def _set(rt: Runtime, merchant_id: str, when: datetime) -> None:
    """Set the clock to `when` (never back), here and for every process."""
    wanted = math.ceil((when - rt.clock()).total_seconds() * 1000)
    now = rt.clock()
    offset_ms = await execute.write(rt, lambda conn: store.move(conn, merchant_id, wanted, now))
    _remember(rt, merchant_id, offset_ms)
    use_offset(timedelta(milliseconds=offset_ms))


async def run_all(rt: Runtime) -> int:
    """Run every source on every clock, the sources side by side (a slow acquirer's
    subscription charges do not hold up deadlines): each moved test clock on its own, then
    everyone else on the real time. How many things were done."""
    moved = await execute.read(rt, store.moved)
    for merchant_id, offset_ms in moved.items():
        _remember(rt, merchant_id, offset_ms)

    async def run(source: DueWork) -> int:
        done = 0
        for merchant_id, offset_ms in moved.items():
            with merchant_time(timedelta(milliseconds=offset_ms)):
                done += await source.run_due(rt, Scope(merchant_id=merchant_id))
        with merchant_time(timedelta(0)):
            done += await source.run_due(rt, Scope(real_time_only=True))
        return done

    counts = await asyncio.gather(*(run(source) for source in SOURCES))
    report("swept", {source.name: n for source, n in zip(SOURCES, counts, strict=True)})
    return sum(counts)


def report(what: str, done: dict[str, int], merchant_id: str | None = None) -> None:
    """One log line for a pass that did something (none for an idle one): how many of
    each kind of thing (`DONE_AS`)."""
    did = {name: n for name, n in done.items() if n}
    if not did:
        return
    shown = ", ".join(f"{DONE_AS.get(name, name)}: {n}" for name, n in did.items())
    extra = {"done": did, **({"merchant_id": merchant_id} if merchant_id else {})}
    log.info("%s: %s", what, shown, extra=extra)


async def run_forever(rt: Runtime, interval: float) -> None:
    """The worker's loop: everything due, then old idempotency keys, every `interval` s."""
    while True:
        try:
            await run_all(rt)
            await sweeper.forget_keys(rt)
        except Exception:  # keep going: a bad moment must not stop deadlines for good
            log.exception("running what fell due failed")
        await asyncio.sleep(interval)
