"""`kessai events tail [--merchant ID] [--json] [--interval S] [--since S]`: print each new
event and each webhook delivery attempt as it happens, until Ctrl-C.

    2026-05-01T09:30:00.123Z  event     payment.captured   EVENT_ID  merchant ID test
    2026-05-01T09:30:00.456Z  delivery  payment.captured   EVENT_ID  URL 200 12 ms attempt 1

It polls the store every `--interval` seconds (0.3 by default) and says on stderr once it
is watching. Only what is recorded after it starts is printed; `--since S` first replays
the events of the last S seconds (on each merchant's clock) and the attempts started in the
last S seconds (real time). Ctrl-C stops it (exit 0). `--json`: one object a line.

Nothing is missed for want of a cursor (see `kessai.store.tail`): events are read in a
window of `LOOKBACK` seconds of creation time per merchant mode, measured on the merchant's
clock as it was at the window's start (`EventWindow`), and every id still in the window is
remembered; attempts are read by id above the lowest one that may still commit
(`AttemptCursor`), an id missing for `LOOKBACK` seconds being taken for rolled back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from kessai.commands import CliError
from kessai.commands.merchants import merchant_id, unknown_merchant
from kessai.commands.store import store_failures
from kessai.core.times import iso
from kessai.services.runtime import utcnow
from kessai.settings import Settings
from kessai.store import clocks, merchants
from kessai.store import tail as store
from kessai.store.db import Database
from kessai.store.migrate import upgrade
from kessai.worker.delivery import shown_url

LOOKBACK = timedelta(seconds=120)
BATCH = 1000  # attempts read in one query
MAX_TRACKED = 50_000  # ids between the cursor and the newest seen, at most


class EventWindow:
    """Which events are new, polling a window of creation times.

    An event's `created_at` is the real time plus its merchant mode's clock offset when it
    was made (zero in live mode; a test clock's only grows). So an event committed within
    the last `lookback` seconds has a `created_at` at or after the window's start plus the
    offset its merchant's clock had then, which is at least the last offset seen before
    then (`floor`). The window's bounds only move forward, so an id once out of it never
    comes back: the ids in it are all that must be remembered.
    """

    def __init__(self) -> None:
        self.seen: set[str] = set()
        # merchant -> [(real time observed, offset ms)], oldest first
        self.offsets: dict[str, list[tuple[datetime, int]]] = {}

    def observe(self, now: datetime, offsets: Mapping[str, int]) -> None:
        for merchant, offset_ms in offsets.items():
            history = self.offsets.setdefault(merchant, [])
            if not history or history[-1][1] != offset_ms:
                history.append((now, offset_ms))

    def floor(self, merchant: str, start: datetime) -> int:
        """The least offset the merchant's clock can have had since `start`."""
        history = self.offsets.get(merchant, [])
        before = [offset for when, offset in history if when <= start]
        del history[: max(0, len(before) - 1)]  # the last one before `start` is enough
        return before[-1] if before else 0

    def bounds(self, now: datetime, lookback: timedelta) -> tuple[datetime, dict[str, datetime]]:
        start = now - lookback
        moved = {}
        for merchant in self.offsets:
            floor = self.floor(merchant, start)
            if floor > 0:
                moved[merchant] = start + timedelta(milliseconds=floor)
        return start, moved

    def take(self, rows: list[Any]) -> list[Any]:
        """The rows not seen before; remember exactly the ids now in the window."""
        new = [row for row in rows if row["id"] not in self.seen]
        self.seen = {row["id"] for row in rows}
        return new


class AttemptCursor:
    """Which delivery attempts are new, reading ids above `after`: every id at or below it
    was seen or given up on. An id missing below a seen one is a transaction still
    committing (or rolled back: given up after `patience` seconds)."""

    def __init__(self, after: int, patience: float) -> None:
        self.after = after
        self.patience = patience
        self.seen: set[int] = set()
        self.missing: dict[int, float] = {}  # id -> when first missed (monotonic)

    def take(self, rows: list[Any], now: float) -> list[Any]:
        new = [row for row in rows if row["id"] not in self.seen]
        self.seen.update(row["id"] for row in rows)
        top = max(self.seen, default=self.after)
        if top - self.after > MAX_TRACKED:
            self._move_to(top - MAX_TRACKED)
        for missing in range(self.after + 1, top):
            if missing not in self.seen:
                self.missing.setdefault(missing, now)
        while self.after < top:
            following = self.after + 1
            if following not in self.seen and now - self.missing[following] < self.patience:
                break
            self._move_to(following)
        return new

    def _move_to(self, after: int) -> None:
        self.seen = {i for i in self.seen if i > after}
        self.missing = {i: t for i, t in self.missing.items() if i > after}
        self.after = after


# --- printing


def event_line(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": "event",
        "time": iso(row["created_at"]),
        "type": row["type"],
        "id": row["id"],
        "merchant": row["merchant_id"],
        "mode": "live" if row["livemode"] else "test",
    }


def attempt_line(row: Mapping[str, Any]) -> dict[str, Any]:
    code = row["status_code"]
    delivered = code is not None and 200 <= code < 300
    latest = row["attempt"] == row["rounds"]  # what the delivery says is about this one
    retry = None
    if not delivered and latest and row["delivery_status"] == "pending":
        retry = iso(row["next_attempt_at"])
    return {
        "kind": "attempt",
        "time": iso(row["started_at"]),
        "type": row["type"],
        "event": row["event_id"],
        "merchant": row["merchant_id"],
        "mode": "live" if row["livemode"] else "test",
        "url": shown_url(row["url"]),
        "status_code": code,
        "error": row["error"],
        "latency_ms": row["latency_ms"],
        "attempt": row["attempt"],
        "delivered": delivered,
        "next_attempt_at": retry,
        "gave_up": not delivered and latest and row["delivery_status"] == "failed",
    }


def text(line: Mapping[str, Any]) -> str:
    if line["kind"] == "event":
        return (
            f"{line['time']}  event     {line['type']:<24} {line['id']}  "
            f"merchant {line['merchant']} {line['mode']}"
        )
    outcome = str(line["status_code"]) if line["status_code"] is not None else line["error"]
    after = ""
    if line["next_attempt_at"] is not None:
        after = f", next attempt at {line['next_attempt_at']}"
    elif line["gave_up"]:
        after = ", given up"
    return (
        f"{line['time']}  delivery  {line['type']:<24} {line['event']}  {line['url']} "
        f"{outcome} {line['latency_ms']} ms attempt {line['attempt']}{after}"
    )


# --- polling


class Tail:
    """One merchant's (or everyone's) events and attempts, polled."""

    def __init__(self, merchant: str | None, after: int) -> None:
        self.merchant = merchant
        self.window = EventWindow()
        self.cursor = AttemptCursor(after, LOOKBACK.total_seconds())
        self.offsets: dict[str, int] = {}

    async def poll(self, db: Database, lookback: timedelta) -> tuple[list[Any], list[Any]]:
        """What is new since the last poll: events, attempts."""
        now = utcnow()
        async with db.transaction(write=False) as conn:
            self.offsets = await clocks.moved(conn)
            self.window.observe(now, self.offsets)
            start, moved = self.window.bounds(now, lookback)
            found = await store.events_in(
                conn, merchant_id=self.merchant, after=start, moved_after=moved
            )
            attempts = await _attempts(conn, self.cursor.after, self.merchant)
        new = self.cursor.take(attempts, time.monotonic())
        return self.window.take(found), [row for row in new if row["is_theirs"]]


async def _tail(
    settings: Settings,
    merchant: str | None,
    *,
    interval: float,
    since: float | None,
    emit: Callable[[dict[str, Any]], None],
) -> None:
    await upgrade(settings.database_url)
    db = Database.from_url(settings.database_url, pool_size=1)
    try:
        started = utcnow()
        replay = timedelta(seconds=since or 0)
        async with db.transaction(write=False) as conn:
            if merchant is not None and not await merchants.merchant_exists(conn, merchant):
                raise unknown_merchant(merchant)
            offsets = await clocks.moved(conn)
            first = await store.first_attempt_since(conn, started - max(replay, LOOKBACK))
            after = first - 1 if first is not None else await store.last_attempt_id(conn)
        tail = Tail(merchant, after)
        tail.window.observe(started, offsets)
        # What was there before the start is remembered, and printed only if replayed.
        found, attempts = await tail.poll(db, max(replay, LOOKBACK))
        for row in found:
            if _replayed(row, replay, started, tail.offsets):
                emit(event_line(row))
        for row in attempts:
            if row["started_at"] >= started - replay:
                emit(attempt_line(row))
        whose = f"merchant {merchant}" if merchant is not None else "every merchant"
        print(
            f"kessai: tailing the events and deliveries of {whose}; Ctrl-C stops", file=sys.stderr
        )
        sys.stderr.flush()
        while True:
            await asyncio.sleep(interval)
            found, attempts = await tail.poll(db, LOOKBACK)
            for row in found:
                emit(event_line(row))
            for row in attempts:
                emit(attempt_line(row))
    finally:
        await db.dispose()


async def _attempts(conn: Any, after: int, merchant: str | None) -> list[Any]:
    """Every attempt with an id above `after`, a page at a time."""
    found: list[Any] = []
    while True:
        page = await store.attempts_after(conn, after, merchant_id=merchant, limit=BATCH)
        found.extend(page)
        if len(page) < BATCH:
            return found
        after = page[-1]["id"]


def _replayed(
    row: Mapping[str, Any], replay: timedelta, now: datetime, offsets: Mapping[str, int]
) -> bool:
    """Whether an event found at the start is within `--since` of the start on its merchant
    mode's clock (without `--since`: made after the start)."""
    offset_ms = 0 if row["livemode"] else offsets.get(row["merchant_id"], 0)
    created: datetime = row["created_at"]
    return created >= now - replay + timedelta(milliseconds=offset_ms)


def seconds(option: str, minimum: float, maximum: float) -> Callable[[str], float]:
    """An argparse `type` for a number of seconds (a bad one is `main`'s one line)."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not minimum <= number <= maximum:  # NaN fails too
            raise CliError(
                f"{option} must be seconds from {minimum:g} to {maximum:g}, not {value!r}"
            )
        return number

    return parse


def cmd_tail(args: argparse.Namespace, settings: Settings) -> int:
    def emit(line: dict[str, Any]) -> None:
        print(json.dumps(line) if args.json else text(line), flush=True)

    try:
        with store_failures(settings.database_url):
            asyncio.run(
                _tail(settings, args.merchant, interval=args.interval, since=args.since, emit=emit)
            )
    except KeyboardInterrupt:  # Ctrl-C: the way to stop it
        return 0
    except BrokenPipeError:  # `kessai events tail | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


def add_parsers(sub: Any) -> None:
    """`events tail` under the `kessai` parser's subcommands."""
    events = sub.add_parser("events", help="events and their webhook deliveries")
    esub = events.add_subparsers(dest="events_command", required=True)
    tail = esub.add_parser(
        "tail", help="print new events and delivery attempts as they happen (Ctrl-C stops)"
    )
    tail.add_argument("--merchant", type=merchant_id, help="only this merchant's (default: all)")
    tail.add_argument("--json", action="store_true", help="one JSON object a line")
    tail.add_argument(
        "--interval",
        type=seconds("--interval", 0.05, 60),
        default=0.3,
        help="seconds between polls of the store (default 0.3)",
    )
    tail.add_argument(
        "--since",
        type=seconds("--since", 0, 86_400),
        help="first replay what happened in the last SECONDS",
    )
    tail.set_defaults(func=cmd_tail)
