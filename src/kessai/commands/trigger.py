"""`kessai trigger EVENT [--merchant ID] [--json]`: make test-mode objects that produce an
event, delivered to the merchant's webhook endpoints by a running server or worker.

    kessai trigger payment.captured
    kessai trigger chargeback.lost --merchant ID --json

Without --merchant, the store's only merchant. The objects are made through the services
the API uses (`kessai.services.triggers`); an event that needs time to pass moves the
merchant's test clock forward, and the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from kessai.commands import CliError
from kessai.commands.merchants import merchant_id, unknown_merchant
from kessai.commands.store import store_failures
from kessai.services import triggers
from kessai.services.processor_config import StoreDirectory, close_directory
from kessai.services.runtime import Runtime
from kessai.services.webhooks import EVENT_TYPES
from kessai.settings import Settings
from kessai.store import merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade


def event_type(value: str) -> str:
    """The EVENT argument (an argparse `type`: its CliError is one line, exit 2)."""
    if value not in EVENT_TYPES:
        raise CliError(f"unknown event type {value!r}: one of {', '.join(EVENT_TYPES)}")
    return value


async def which_merchant(conn: Any, wanted: str | None) -> str:
    """`wanted` if it exists; without it, the store's only merchant."""
    if wanted is not None:
        if not await merchants.merchant_exists(conn, wanted):
            raise unknown_merchant(wanted)
        return wanted
    count = await merchants.count_merchants(conn)
    if count == 0:
        raise CliError("this store has no merchant: create one with `kessai merchant create`")
    if count > 1:
        raise CliError(
            f"this store has {count} merchants: name one with --merchant ID "
            "(`kessai merchant list` shows them)"
        )
    return (await merchants.list_merchants(conn))[0].id


async def _trigger(settings: Settings, wanted: str | None, event: str) -> triggers.Made:
    await upgrade(settings.database_url)
    db = Database.from_url(settings.database_url, pool_size=4)
    try:
        async with db.transaction() as conn:
            merchant = await which_merchant(conn, wanted)
            secret = await merchants.server_secret(conn, "server")
        # What `kessai.app.build_runtime` makes, without loading the HTTP app to make it.
        rt = Runtime(
            settings=settings,
            db=db,
            secret=bytes.fromhex(secret),
            processors=StoreDirectory.of_url(settings.database_url),
        )
        try:
            return await triggers.trigger(rt, merchant, event)
        finally:
            await close_directory(rt.processors)
    finally:
        await db.dispose()


def _duration(seconds: float) -> str:
    """`1d2h5m`, or `40s` under a minute."""
    if seconds < 60:
        return f"{seconds:.0f}s"
    days, rest = divmod(round(seconds / 60), 24 * 60)
    hours, minutes = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n)


def _print(shown: dict[str, Any]) -> None:
    merchant = shown["merchant"]
    print(f"triggered {shown['event_type']} for merchant {merchant} (test mode)")
    for made in shown["objects"]:
        print(f"  {made['kind']:<13} {made['id']}")
    for event in shown["events"]:
        mark = "  <-" if event["id"] in shown["triggered"] else ""
        print(f"  event         {event['id']}  {event['type']}{mark}")
    moved = shown["clock_moved_seconds"]
    if moved > 0:
        print(
            f"the test clock moved forward {_duration(moved)} to {shown['clock']} "
            "(clocks only go forward; what else fell due on the way happened too)"
        )
    queued = shown["deliveries_queued"]
    if queued:
        print(
            f"{queued} webhook {'delivery' if queued == 1 else 'deliveries'} queued: a running "
            "`kessai serve` or `kessai worker` sends them (`kessai events tail` shows them go)"
        )
    else:
        print(
            "no webhook endpoint of the test mode takes these events, so nothing is sent: "
            f"`kessai webhook add --merchant {merchant} --url URL` adds one"
        )


def cmd_trigger(args: argparse.Namespace, settings: Settings) -> int:
    with store_failures(settings.database_url):
        made = asyncio.run(_trigger(settings, args.merchant, args.event))
    shown = made.view()
    if args.json:
        print(json.dumps(shown))
    else:
        _print(shown)
    return 0


def add_parsers(sub: Any) -> None:
    """`trigger` under the `kessai` parser's subcommands."""
    trigger = sub.add_parser(
        "trigger",
        help="make test-mode objects that produce an event (delivered to the webhooks)",
        description="Event types: " + ", ".join(EVENT_TYPES),
    )
    trigger.add_argument("event", type=event_type, metavar="EVENT", help="an event type")
    trigger.add_argument(
        "--merchant", type=merchant_id, help="merchant id (default: the store's only merchant)"
    )
    trigger.add_argument("--json", action="store_true", help="print one JSON object")
    trigger.set_defaults(func=cmd_trigger)
