"""`kessai ledger check|settings`: prove the ledger's invariants; show or change a merchant
mode's fees and settlement schedule.

    kessai ledger check [--merchant ID] [--json]
    kessai ledger settings --merchant ID [--mode test|live] [--schedule daily|weekly|monthly]
                           [--fee TYPE=RATE ...] [--json]

`check` exits 0 when every invariant holds, 1 when one does not (each violation on a line
of its own), 2 when it cannot run. A RATE is `PERCENT` or `PERCENT+FIXED` (`3.6`,
`1.5+100`, fixed in the currency's minor unit), or `default` to drop the override.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from kessai.commands import CliError
from kessai.commands.merchants import merchant_id, unknown_merchant
from kessai.commands.store import store_failures
from kessai.core import fees as fee_rules
from kessai.core import ledger as rules
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.core.rules import Invalid
from kessai.services import clocks, ledger_check, ledger_settings
from kessai.settings import Settings
from kessai.store import merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade

MODES = {"test": False, "live": True}


# argparse `type`s: their CliError is `kessai.cli.main`'s one line.


def mode_option(value: str) -> bool:
    if value not in MODES:
        raise CliError(f"--mode is test or live, not {value!r}")
    return MODES[value]


def schedule_option(value: str) -> str:
    if value not in rules.SCHEDULES:
        raise CliError(f"--schedule is one of {', '.join(rules.SCHEDULES)}, not {value!r}")
    return value


def fee_option(value: str) -> tuple[str, dict[str, Any] | None]:
    """`TYPE=RATE` -> (type, {"percent": ..., "fixed": ...}, or None for `default`)."""
    slug, equals, rate = value.partition("=")
    if not equals:
        raise CliError(
            f"--fee takes TYPE=RATE, e.g. credit_card=3.6 or bank_transfer=1.5+100, not {value!r}"
        )
    if slug not in PAYMENT_TYPES:
        raise CliError(f"--fee: {slug!r} is not a payment type; one of {', '.join(PAYMENT_TYPES)}")
    if rate == "default":
        return slug, None
    try:
        return slug, fee_rules.parse_rate(rate).as_json()
    except Invalid as exc:
        raise CliError(f"--fee {slug}: {rate!r} {exc.message} (e.g. 3.6 or 1.5+100)") from None


# kessai ledger check


async def _check(settings: Settings, merchant: str | None) -> ledger_check.Report:
    await upgrade(settings.database_url)
    db = Database.from_url(settings.database_url, pool_size=1)
    try:
        async with db.snapshot() as conn:
            if merchant is not None and not await merchants.merchant_exists(conn, merchant):
                raise unknown_merchant(merchant)
            return await ledger_check.run(conn, merchant)
    finally:
        await db.dispose()


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    with store_failures(settings.database_url):
        report = asyncio.run(_check(settings, args.merchant))
    if args.json:
        print(
            json.dumps(
                {
                    "ok": not report.violations,
                    "merchants": report.merchants,
                    "modes": report.modes,
                    "currencies": report.currencies,
                    "transactions": report.transactions,
                    "settlements": report.settlements,
                    "violations": [vars(v) for v in report.violations],
                }
            )
        )
    else:
        for line in _summary(report):
            print(line)
        for violation in report.violations:
            print(violation.line())
    return 1 if report.violations else 0


def _summary(report: ledger_check.Report) -> list[str]:
    currencies = ", ".join(report.currencies) or "none"
    found = len(report.violations)
    return [
        f"checked {report.merchants} merchant(s): {report.modes} ledger(s) by merchant and "
        f"mode, currencies {currencies}, {report.transactions} transaction(s), "
        f"{report.settlements} settlement(s)",
        "balances = sum of transactions; each capture, fee, refund, chargeback and "
        "disbursement booked once at its amount; no orphan lines; settlement totals = "
        "their transactions; no transaction in two settlements (one settlement_id each)",
        "every invariant holds" if not found else f"{found} violation(s):",
    ]


# kessai ledger settings


async def _settings(
    settings: Settings,
    merchant: str,
    livemode: bool,
    schedule: str | None,
    fees: dict[str, dict[str, Any] | None],
) -> dict[str, Any]:
    from kessai.app import build_runtime
    from kessai.services.processor_config import close_directory

    await upgrade(settings.database_url)
    db = Database.from_url(settings.database_url, pool_size=2)
    try:
        async with db.transaction(write=False) as conn:
            if not await merchants.merchant_exists(conn, merchant):
                raise unknown_merchant(merchant)
            if schedule is None and not fees:
                return await ledger_settings.view(conn, merchant, livemode)
        rt = await build_runtime(settings, db)
        try:
            await clocks.enter(rt, merchant, livemode)  # the cut-off follows its clock
            async with rt.db.transaction() as conn:
                return await ledger_settings.configure(
                    conn, rt, merchant, livemode, schedule=schedule, fees=fees or None
                )
        finally:
            await close_directory(rt.processors)
    finally:
        await db.dispose()


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    fees = dict(args.fee or [])
    with store_failures(settings.database_url):
        shown = asyncio.run(_settings(settings, args.merchant, args.mode, args.schedule, fees))
    if args.json:
        print(json.dumps(shown))
        return 0
    mode = "live" if args.mode else "test"
    print(f"ledger settings of {args.merchant} ({mode} mode)")
    print(
        f"settlement schedule: {shown['settlement_schedule']}, "
        f"next cut-off {shown['next_cutoff_at']}"
    )
    print("fees (percent + fixed, in the currency's minor unit):")
    for slug, rate in shown["fees"].items():
        fixed = f" + {rate['fixed']}" if rate["fixed"] else ""
        print(f"  {slug:<16} {rate['percent']}%{fixed}")
    return 0


def add_parsers(sub: Any) -> None:
    """`ledger check|settings` under the `kessai` parser's subcommands."""
    ledger = sub.add_parser("ledger", help="the ledger: check it, fees and settlement schedule")
    lsub = ledger.add_subparsers(dest="ledger_command", required=True)
    check = lsub.add_parser("check", help="prove the ledger's invariants (exit 1 on any violation)")
    check.add_argument("--merchant", type=merchant_id, help="only this merchant (default: all)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(func=cmd_check)
    shown = lsub.add_parser("settings", help="show or change fees and the settlement schedule")
    shown.add_argument("--merchant", required=True, type=merchant_id, help="merchant id")
    shown.add_argument("--mode", type=mode_option, default=False, help="test (default) or live")
    shown.add_argument("--schedule", type=schedule_option, help="settle daily, weekly or monthly")
    shown.add_argument(
        "--fee",
        type=fee_option,
        action="append",
        metavar="TYPE=RATE",
        help="a payment type's fee: 3.6 (percent), 1.5+100 (plus fixed), or default",
    )
    shown.add_argument("--json", action="store_true", help="print one JSON object")
    shown.set_defaults(func=cmd_settings)
