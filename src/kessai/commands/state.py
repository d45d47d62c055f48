"""`kessai export|import|reset`: a merchant's whole state as one JSON document
(`docs/export-format.md`), and a clean test mode.

    kessai export --merchant ID [--mode test|live|all] > FILE
    kessai import [--replace] [--json] < FILE
    kessai reset --merchant ID [--yes] [--json]

`export` reads one snapshot of the store; `import` checks the whole file, then writes it
in one transaction; `reset` deletes in one transaction. A file kessai cannot take (not
JSON, another format, version or schema revision, a bad value) is one line naming what is
wrong, exit 2, and nothing is written. `reset` asks first on a terminal; without one it
needs `--yes` (exit 2 otherwise); a "no" at the prompt deletes nothing and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from kessai.commands import CliError
from kessai.commands.merchants import merchant_id, run, unknown_merchant
from kessai.commands.store import store_failures
from kessai.errors import KessaiError
from kessai.services import state
from kessai.services.runtime import utcnow
from kessai.settings import Settings
from kessai.store import merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade
from kessai.store.state import schema_head

KEPT = "its API keys, webhook endpoints, processor and ledger settings and its test clock"


def export_mode(value: str) -> str:
    """`--mode`: an argparse `type` (its CliError is `kessai.cli.main`'s one line)."""
    if value not in state.MODES:
        raise CliError(f"--mode is test, live or all, not {value!r}")
    return value


# kessai export


async def _export(settings: Settings, merchant: str, mode: str) -> dict[str, Any]:
    await upgrade(settings.database_url)
    db = Database.from_url(settings.database_url, pool_size=1)
    try:
        async with db.snapshot() as conn:
            if not await merchants.merchant_exists(conn, merchant):
                raise unknown_merchant(merchant)
            return await state.export(conn, merchant, mode, schema_head(), utcnow())
    finally:
        await db.dispose()


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    with store_failures(settings.database_url):
        document = asyncio.run(_export(settings, args.merchant, args.mode))
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")
    sys.stdout.flush()
    return 0


# kessai import


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse(raw: bytes) -> Any:
    """The JSON document in `raw`, or a `CliError` saying why it is not one."""
    if not raw.strip():
        raise CliError("cannot import: the input is empty; run kessai import < FILE")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CliError(f"cannot import: the input is not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"cannot import: the input is not JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})"
        ) from None
    except ValueError as exc:
        raise CliError(f"cannot import: the input is not JSON ({exc})") from None
    except RecursionError:
        raise CliError("cannot import: the input is JSON nested too deeply") from None


def _summary(counts: dict[str, int]) -> str:
    shown = [f"{n} {name}" for name, n in counts.items() if n]
    return ", ".join(shown) if shown else "no rows"


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    if sys.stdin.isatty():
        raise CliError("kessai import reads an export on its standard input: kessai import < FILE")
    try:
        document = state.read(parse(sys.stdin.buffer.read()), schema_head())
    except KessaiError as exc:
        raise CliError(f"cannot import: {exc.message}") from None
    except RecursionError:
        raise CliError("cannot import: the input is JSON nested too deeply") from None

    async def load(conn: Any) -> dict[str, int]:
        try:
            return await state.load(conn, document, replace=args.replace, now=utcnow())
        except KessaiError as exc:
            raise CliError(f"cannot import: {exc.message}; nothing was written") from None

    counts = run(settings, load)
    if args.json:
        print(json.dumps({"merchant": document.merchant_id, "imported": counts}))
        return 0
    merchant = document.merchant
    modes = {"test": "test mode", "live": "live mode", "all": "test and live modes"}
    print(f"imported merchant {merchant['name']!r} ({merchant['id']}), {modes[document.mode]}")
    print(f"rows: {_summary(counts)}")
    return 0


# kessai reset


def _confirmed(name: str, merchant: str, counts: dict[str, int]) -> bool:
    print(
        f"This deletes every test-mode object of merchant {name!r} ({merchant}): "
        f"{_summary(counts)}.\nIt keeps {KEPT}; live mode is not touched.",
        flush=True,
    )
    try:
        answer = input("Delete them? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_reset(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(
                f"reset deletes every test-mode object of merchant {args.merchant}: "
                "add --yes to run it without a terminal to confirm on"
            )

        async def look(conn: Any) -> tuple[str, dict[str, int]]:
            if not await merchants.merchant_exists(conn, args.merchant):
                raise unknown_merchant(args.merchant)
            found = await state.counts(conn, args.merchant, "test")
            doomed = {k: v for k, v in found.items() if k not in state.KEPT_BY_RESET}
            return await merchants.merchant_name(conn, args.merchant), doomed

        name, doomed = run(settings, look)
        if not _confirmed(name, args.merchant, doomed):
            print("reset cancelled: nothing was deleted", file=sys.stderr)
            return 1

    async def reset(conn: Any) -> tuple[str, dict[str, int]]:
        if not await merchants.merchant_exists(conn, args.merchant):
            raise unknown_merchant(args.merchant)
        deleted = await state.reset(conn, args.merchant)
        return await merchants.merchant_name(conn, args.merchant), deleted

    name, deleted = run(settings, reset)
    if args.json:
        print(json.dumps({"merchant": args.merchant, "deleted": deleted}))
        return 0
    print(f"reset the test mode of merchant {name!r} ({args.merchant})")
    print(f"deleted: {_summary(deleted)}")
    print(f"kept: {KEPT}; live mode untouched")
    return 0


def add_parsers(sub: Any) -> None:
    """`export`, `import` and `reset` under the `kessai` parser's subcommands."""
    export = sub.add_parser(
        "export", help="write a merchant's whole state as one JSON document to stdout"
    )
    export.add_argument("--merchant", required=True, type=merchant_id, help="merchant id")
    export.add_argument(
        "--mode", type=export_mode, default="all", help="test, live or all (default: all)"
    )
    export.set_defaults(func=cmd_export)
    imp = sub.add_parser("import", help="read an export from stdin into this store")
    imp.add_argument(
        "--replace",
        action="store_true",
        help="if the merchant is here, replace its rows (in the file's modes) with the file's",
    )
    imp.add_argument("--json", action="store_true", help="print one JSON object")
    imp.set_defaults(func=cmd_import)
    reset = sub.add_parser(
        "reset", help="delete every test-mode object of a merchant (keeps keys and settings)"
    )
    reset.add_argument("--merchant", required=True, type=merchant_id, help="merchant id")
    reset.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")
    reset.add_argument("--json", action="store_true", help="print one JSON object")
    reset.set_defaults(func=cmd_reset)
