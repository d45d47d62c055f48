"""`kessai processor set|show`: which processor serves each mode of a merchant.

    kessai processor set --merchant ID --mode live komoju --api-url URL --secret-key KEY
        [--webhook-secret S] [--timeout SECONDS]
    kessai processor set --merchant ID --mode test simulated   # the default again
    kessai processor set --merchant ID --mode live none        # no live processor again
    kessai processor show --merchant ID [--json]

Running servers and workers pick a change up within `StoreDirectory.ttl` (2 s), without a
restart. `--secret-key -` reads the key from standard input, so it stays out of the
shell's history and the process list. Secrets are never printed in full.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from typing import Any

from kessai.commands import CliError
from kessai.commands.merchants import merchant_id, run, unknown_merchant
from kessai.processors import registry
from kessai.services import processor_config
from kessai.services.runtime import utcnow
from kessai.settings import Settings
from kessai.store import merchants

_OPTIONS = ("api_url", "secret_key", "webhook_secret", "timeout")


def mode(value: str) -> bool:
    """`--mode live|test`: True for live."""
    if value not in ("live", "test"):
        raise CliError(f"--mode must be live or test, not {value!r}")
    return value == "live"


def seconds(value: str) -> float:
    """`--timeout`: a positive, finite number of seconds (the registry bounds it)."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise CliError(f"--timeout must be a positive number of seconds, not {value!r}")
    return number


def _option(field: str) -> str:
    return "--" + field.replace("_", "-")


def _config(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, by config field."""
    config = {f: getattr(args, f) for f in _OPTIONS if getattr(args, f) is not None}
    if config.get("secret_key") == "-":
        config["secret_key"] = sys.stdin.readline().strip()
    return config


async def _checked(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The config as the registry accepts it, or the CLI's one line naming the option."""
    if name == processor_config.NONE:
        if config:
            raise CliError(f"{_option(next(iter(config)))} makes no sense with `none`")
        return {}
    try:
        return await registry.check(name, config)
    except registry.UnknownProcessor as exc:
        raise CliError(f"{exc.message} (or `none` for no live processor)") from None
    except registry.ConfigError as exc:
        option = _option(exc.field) if exc.field in _OPTIONS else exc.field
        raise CliError(f"{option} {exc.reason}") from None


def _describe(view: dict[str, Any] | None) -> str:
    if view is None:
        return "none (live-mode requests answer 503 processor_unavailable)"
    details = ", ".join(f"{k} {v}" for k, v in view.items() if k != "name" and v is not None)
    return f"{view['name']} ({details})" if details else str(view["name"])


def _print(shown: dict[str, Any]) -> None:
    print(f"Processors of merchant {shown['merchant']}:")
    print(f"  test mode: {_describe(shown['test'])}")
    print(f"  live mode: {_describe(shown['live'])}")


def cmd_processor_set(args: argparse.Namespace, settings: Settings) -> int:
    config = asyncio.run(_checked(args.name, _config(args)))  # before touching the store

    async def change(conn: Any) -> dict[str, Any]:
        if not await merchants.merchant_exists(conn, args.merchant):
            raise unknown_merchant(args.merchant)
        try:
            await processor_config.set_processor(
                conn,
                args.merchant,
                args.mode,
                args.name,
                config,
                utcnow(),
                allow_simulated_live=args.allow_simulated_live,
            )
        except processor_config.Refused as exc:
            raise CliError(str(exc)) from None
        return await processor_config.show(conn, args.merchant)

    shown = run(settings, change)
    if args.json:
        print(json.dumps(shown))
        return 0
    _print(shown)
    print(f"Running kessai servers and workers use it within {processor_config.DEFAULT_TTL:g} s.")
    return 0


def cmd_processor_show(args: argparse.Namespace, settings: Settings) -> int:
    async def look(conn: Any) -> dict[str, Any]:
        if not await merchants.merchant_exists(conn, args.merchant):
            raise unknown_merchant(args.merchant)
        return await processor_config.show(conn, args.merchant)

    shown = run(settings, look)
    if args.json:
        print(json.dumps(shown))
    else:
        _print(shown)
    return 0


def add_parsers(sub: Any) -> None:
    """`processor set|show` under the `kessai` parser's subcommands."""
    processor = sub.add_parser("processor", help="choose the processor of a merchant's mode")
    psub = processor.add_subparsers(dest="processor_command", required=True)
    pset = psub.add_parser(
        "set", help="route a mode to a processor (komoju, simulated, or none for live)"
    )
    pset.add_argument("--merchant", required=True, type=merchant_id, help="merchant id")
    pset.add_argument("--mode", required=True, type=mode, help="live or test")
    pset.add_argument("name", help="komoju, simulated, or none (live mode only)")
    pset.add_argument("--api-url", dest="api_url", help="komoju: KOMOJU's API base URL")
    pset.add_argument(
        "--secret-key", dest="secret_key", help="komoju: the secret key (sk_...; - reads stdin)"
    )
    pset.add_argument(
        "--webhook-secret", dest="webhook_secret", help="komoju: KOMOJU's webhook secret"
    )
    pset.add_argument(
        "--timeout", type=seconds, help="komoju: seconds per call (default 10, at most 120)"
    )
    pset.add_argument(
        "--allow-simulated-live",
        action="store_true",
        help="allow `simulated` in live mode (demos: it approves payments no one pays)",
    )
    pset.add_argument("--json", action="store_true", help="print the result as `show --json`")
    pset.set_defaults(func=cmd_processor_set)
    show = psub.add_parser("show", help="the processors of a merchant (secrets as hints)")
    show.add_argument("--merchant", required=True, type=merchant_id, help="merchant id")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=cmd_processor_show)
