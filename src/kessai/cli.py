"""The `kessai` command: serve, worker, merchant create|list|roll-keys, webhook
add|list|remove, processor set|show, trigger, events tail, export, import, reset,
db upgrade.

Expected failures (a bad setting, a store that cannot be reached, a port in use, an unknown
merchant) print one line to stderr and exit 2; see `kessai.commands`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from kessai.commands import CliError
from kessai.commands import clock as clock_commands
from kessai.commands import events_tail as tail_commands
from kessai.commands import ledger as ledger_commands
from kessai.commands import merchants as merchant_commands
from kessai.commands import processors as processor_commands
from kessai.commands import state as state_commands
from kessai.commands import trigger as trigger_commands
from kessai.commands.listen import reserve
from kessai.commands.store import create_database, in_store, missing_database, store_failures
from kessai.edge.faults import parse_faults
from kessai.errors import KessaiError
from kessai.observe import logs, metrics
from kessai.settings import DEFAULT_DATABASE_URL, Settings, SettingsError
from kessai.settings_parsing import safe_url
from kessai.store.db import Database, is_sqlite
from kessai.store.migrate import upgrade

EXIT_USAGE = 2  # what a user can fix: settings, store, port, arguments


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from kessai.edge.connections import raise_fd_limit, uvicorn_options

    # Listen first (held until uvicorn takes over), so a port in use fails before any work.
    listener = reserve(args.host, args.port)
    try:
        # The demo merchant: on the embedded default store, or when asked (--demo).
        demo = args.demo or settings.database_url == DEFAULT_DATABASE_URL

        async def prepare(conn: Any) -> merchant_commands.Created | None:
            if not demo:
                return None
            return await merchant_commands.create_merchant(
                conn, "Demo Merchant", only_if_empty=True
            )

        with store_failures(settings.database_url):
            created = asyncio.run(in_store(settings, prepare))
    finally:
        listener.close()
    if created is not None:
        print("The store was empty, so kessai created a demo merchant.")
        merchant_commands.print_keys(created[0], "Demo Merchant", created[1], settings)
    elif args.demo:
        print("The store has merchants, so no demo merchant was made (`kessai merchant list`).")
    print(f"kessai serving on {settings.base_url} (store: {safe_url(settings.database_url)})")
    sys.stdout.flush()
    os.environ["KESSAI_HOST"] = args.host
    os.environ["KESSAI_PORT"] = str(args.port)
    # Each process's share of in-memory rate limits (kessai/edge/ratelimit.py).
    os.environ["KESSAI_SERVER_PROCESSES"] = str(args.workers)
    if args.faults is not None:
        os.environ["KESSAI_FAULTS"] = args.faults
    if settings.faults.draws:
        print(f"injecting faults into /api/v1: {settings.faults.describe()}", flush=True)
    raise_fd_limit()
    with metrics.server_processes(args.workers, settings.metrics_dir) as metrics_dir:
        # For the processes: prometheus_client reads it, and so does each one's Settings.
        if metrics_dir is not None:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        uvicorn.run(
            "kessai.app:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=settings.log_level,
            log_config=logs.config(settings.log_level, settings.log_format),
            access_log=False,  # kessai.access replaces it (kessai/observe/logs.py)
            server_header=False,
            # Header deadline, connection cap, keep-alive, trusted proxies (kessai/edge).
            **uvicorn_options(settings.edge),
        )
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Webhook delivery and deadline sweeps, without the HTTP server."""
    from kessai.app import build_runtime
    from kessai.services.processor_config import close_directory
    from kessai.worker.runner import run_until_signalled

    logs.configure(settings.log_level, settings.log_format)
    if settings.worker_metrics_port:
        metrics.serve_worker_metrics(settings.worker_metrics_host, settings.worker_metrics_port)

    async def main() -> None:
        await upgrade(settings.database_url)
        db = Database.from_url(settings.database_url, pool_size=settings.db_pool_size)
        try:
            rt = await build_runtime(settings, db)
            try:
                print(f"kessai worker running (store: {safe_url(settings.database_url)})")
                sys.stdout.flush()
                await run_until_signalled(rt)
            finally:
                await close_directory(rt.processors)
        finally:
            await db.dispose()

    with store_failures(settings.database_url):
        asyncio.run(main())
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Create or migrate the schema; on PostgreSQL, create the database if it is missing."""
    url = settings.database_url
    with store_failures(url):
        try:
            asyncio.run(upgrade(url))
        except Exception as exc:
            if is_sqlite(url) or not missing_database(exc):
                raise
            asyncio.run(create_database(url))
            print(f"created database ({safe_url(url)})")
            asyncio.run(upgrade(url))
    print(f"schema is up to date ({safe_url(url)})")
    return 0


def whole_number(option: str, minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse `type` for a bounded whole number. It raises `CliError`, which argparse
    does not catch (it catches only ArgumentTypeError, TypeError and ValueError), so a bad
    value is `main`'s one line and exit 2 rather than argparse's usage lines."""
    accepted = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"

    def parse(value: str) -> int:
        number = int(value) if value.isascii() and value.isdigit() else None
        if number is None or number < minimum or (maximum is not None and number > maximum):
            raise CliError(f"{option} must be a whole number {accepted}, not {value!r}")
        return number

    return parse


def fault_spec(value: str) -> str:
    """An argparse `type` for --faults: checked here (a bad SPEC is one line naming
    --faults, exit 2), handed to the server processes as KESSAI_FAULTS."""
    try:
        parse_faults(value, "--faults")
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kessai", description="A KOMOJU-compatible payment server.")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API and the hosted checkout page")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=whole_number("--port", 1, 65535), default=8000)
    serve.add_argument(
        "--workers",
        type=whole_number("--workers", 1),
        default=1,
        help="server processes (default 1)",
    )
    serve.add_argument(
        "--faults",
        metavar="SPEC",
        type=fault_spec,
        help="inject faults into /api/v1 requests, e.g. error_after=0.1,drop_after=0.05,"
        "seed=1 (docs/faults.md; default: KESSAI_FAULTS)",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="create a demo merchant if the store has none (always so on the default store)",
    )
    serve.set_defaults(func=cmd_serve)

    merchant_commands.add_parsers(sub)
    processor_commands.add_parsers(sub)
    clock_commands.add_parsers(sub)
    ledger_commands.add_parsers(sub)
    state_commands.add_parsers(sub)
    trigger_commands.add_parsers(sub)
    tail_commands.add_parsers(sub)

    worker = sub.add_parser("worker", help="deliver webhooks and sweep deadlines (no HTTP)")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database maintenance")
    dsub = db.add_subparsers(dest="db_command", required=True)
    up = dsub.add_parser(
        "upgrade", help="create or migrate the schema (and a missing PostgreSQL database)"
    )
    up.set_defaults(func=cmd_db_upgrade)
    return p


def _settings(args: argparse.Namespace) -> Settings:
    if args.command == "serve":
        env = os.environ if args.faults is None else {**os.environ, "KESSAI_FAULTS": args.faults}
        return Settings.from_env(env, host=args.host, port=args.port)
    return Settings.from_env()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        settings = _settings(args)
        return int(args.func(args, settings))
    except (CliError, SettingsError, KessaiError) as exc:
        message = exc.message if isinstance(exc, CliError | KessaiError) else str(exc)
        print(f"kessai: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
