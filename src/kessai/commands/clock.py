"""`kessai clock show|advance`: a merchant's test-mode clock.

    kessai clock show --merchant ID [--json]
    kessai clock advance --merchant ID 3d [--json]     # 45s, 30m, 12h, 3d, 2w, or 1d12h

`advance` runs everything that falls due in the skipped time (deadlines, subscription
charges and retries) in time order before it returns, as `POST /kessai/v1/clock` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from datetime import timedelta
from typing import Any

from kessai.commands import CliError
from kessai.commands.merchants import merchant_id, unknown_merchant
from kessai.commands.store import store_failures
from kessai.core.times import iso
from kessai.merchant_clock import clock_offset
from kessai.services import clocks
from kessai.services.runtime import Caller, Runtime
from kessai.settings import Settings
from kessai.store import merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d{1,9})([smhdw])")


def duration(value: str) -> timedelta:
    """`3d`, `12h`, `1d12h`, `90m`, `45s`, `2w`: a positive span of time."""
    parts = _PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise CliError(f"the duration must look like 45s, 30m, 12h, 3d, 2w or 1d12h, not {value!r}")
    seconds = sum(int(n) * UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise CliError("the duration must be more than zero")
    if seconds > clocks.MAX_ADVANCE.total_seconds():
        raise CliError(f"the clock moves at most {clocks.MAX_ADVANCE.days}d at a time")
    return timedelta(seconds=seconds)


async def _with_clock(settings: Settings, merchant: str, moved: timedelta | None) -> dict[str, Any]:
    from kessai.app import build_runtime
    from kessai.services.processor_config import close_directory

    await upgrade(settings.database_url)
    db = Database.from_url(settings.database_url, pool_size=2)
    try:
        async with db.transaction(write=False) as conn:
            if not await merchants.merchant_exists(conn, merchant):
                raise unknown_merchant(merchant)
        rt = await build_runtime(settings, db)
        try:
            await clocks.enter(rt, merchant, False)
            if moved is not None:
                await clocks.advance(rt, Caller(merchant, "", False, "secret"), rt.now() + moved)
            return _shown(rt)
        finally:
            await close_directory(rt.processors)
    finally:
        await db.dispose()


def _shown(rt: Runtime) -> dict[str, Any]:
    offset = clock_offset()
    return {"now": iso(rt.clock() + offset), "offset_seconds": round(offset.total_seconds(), 3)}


def cmd_clock(args: argparse.Namespace, settings: Settings) -> int:
    moved = duration(args.duration) if args.clock_command == "advance" else None
    with store_failures(settings.database_url):
        shown = asyncio.run(_with_clock(settings, args.merchant, moved))
    if args.json:
        print(json.dumps(shown))
    else:
        days = shown["offset_seconds"] / 86400
        print(
            f"test clock of {args.merchant}: {shown['now']} ({days:+.2f} days from the real time)"
        )
    return 0


def add_parsers(sub: Any) -> None:
    """`clock show|advance` under the `kessai` parser's subcommands."""
    clock = sub.add_parser("clock", help="a merchant's test-mode clock")
    csub = clock.add_subparsers(dest="clock_command", required=True)
    show = csub.add_parser("show", help="the clock's time and offset")
    advance = csub.add_parser(
        "advance", help="move it forward, running everything due in the skipped time"
    )
    advance.add_argument("duration", help="how far: 45s, 30m, 12h, 3d, 2w, 1d12h")
    for command in (show, advance):
        command.add_argument("--merchant", required=True, type=merchant_id, help="merchant id")
        command.add_argument("--json", action="store_true", help="print one JSON object")
        command.set_defaults(func=cmd_clock)
