"""The `kessai` command: serve, worker, merchant create, webhook add|list|remove, db upgrade."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from kessai.errors import KessaiError
from kessai.services import webhooks
from kessai.services.runtime import utcnow
from kessai.settings import Settings
from kessai.store import merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade

T = TypeVar("T")


async def _in_store(settings: Settings, operation: Callable[[Any], Awaitable[T]]) -> T:
    """Migrate the store, then run one operation in one transaction."""
    await upgrade(settings.database_url)
    db = Database.from_url(settings.database_url, pool_size=1)
    try:
        async with db.transaction() as conn:
            return await operation(conn)
    finally:
        await db.dispose()


Created = tuple[str, dict[str, str], dict[str, Any] | None]


async def _create_merchant(
    settings: Settings, name: str, *, only_if_empty: bool = False, webhook_url: str | None = None
) -> Created | None:
    async def create(conn: Any) -> Created | None:
        if only_if_empty and await merchants.count_merchants(conn) > 0:
            return None
        merchant_id, keys = await merchants.insert_merchant(conn, name, utcnow())
        endpoint = None
        if webhook_url is not None:
            endpoint = await webhooks.add_endpoint(
                conn,
                merchant_id=merchant_id,
                livemode=False,
                url=webhook_url,
                event_types=None,
                now=utcnow(),
            )
        return merchant_id, keys, endpoint

    return await _in_store(settings, create)


def _print_keys(merchant_id: str, name: str, keys: dict[str, str], settings: Settings) -> None:
    print(f"Merchant {name!r} ({merchant_id}), test mode:")
    print(f"  secret key:      {keys['secret']}")
    print(f"  publishable key: {keys['publishable']}")
    print("Keep the secret key safe: kessai stores only its hash and cannot show it again.")
    print(f"Try: curl -u {keys['secret']}: {settings.base_url}/api/v1/sessions \\")
    print("       -d amount=1000 -d currency=JPY")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = Settings.from_env(host=args.host, port=args.port)
    created = asyncio.run(_create_merchant(settings, "Demo Merchant", only_if_empty=True))
    if created is not None:
        print("The store was empty, so kessai created a demo merchant.")
        _print_keys(created[0], "Demo Merchant", created[1], settings)
    print(f"kessai serving on {settings.base_url} (store: {_safe_url(settings.database_url)})")
    sys.stdout.flush()
    os.environ["KESSAI_HOST"] = args.host
    os.environ["KESSAI_PORT"] = str(args.port)
    uvicorn.run(
        "kessai.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        proxy_headers=False,
        server_header=False,
    )
    return 0


def cmd_merchant_create(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    created = asyncio.run(_create_merchant(settings, args.name, webhook_url=args.webhook_url))
    assert created is not None
    merchant_id, keys, endpoint = created
    if args.json:
        out = {
            "id": merchant_id,
            "name": args.name,
            "secret_key": keys["secret"],
            "publishable_key": keys["publishable"],
        }
        if endpoint is not None:
            out["webhook_secret"] = endpoint["secret"]
            out["webhook_endpoint_id"] = endpoint["id"]
        print(json.dumps(out))
    else:
        _print_keys(merchant_id, args.name, keys, settings)
        if endpoint is not None:
            print(f"  webhook {endpoint['url']} secret: {endpoint['secret']}")
    return 0


def cmd_webhook_add(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    endpoint = asyncio.run(
        _in_store(
            settings,
            lambda conn: webhooks.add_endpoint(
                conn,
                merchant_id=args.merchant,
                livemode=args.live,
                url=args.url,
                event_types=args.events,
                now=utcnow(),
            ),
        )
    )
    print(json.dumps(endpoint))
    return 0


def cmd_webhook_list(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    found: list[dict[str, Any]] = asyncio.run(
        _in_store(settings, lambda conn: webhooks.list_endpoints(conn, args.merchant, args.live))
    )
    print(json.dumps(found))
    return 0


def cmd_webhook_remove(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    result: dict[str, Any] = asyncio.run(
        _in_store(
            settings,
            lambda conn: webhooks.remove_endpoint(
                conn,
                args.endpoint,
                args.merchant,
                args.live,
                utcnow(),
            ),
        )
    )
    print(json.dumps(result))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Webhook delivery and deadline sweeps, without the HTTP server."""
    import logging

    from kessai.app import build_runtime
    from kessai.worker.runner import run_until_signalled

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")

    async def main() -> None:
        await upgrade(settings.database_url)
        db = Database.from_url(settings.database_url, pool_size=settings.db_pool_size)
        try:
            rt = await build_runtime(settings, db)
            print(f"kessai worker running (store: {_safe_url(settings.database_url)})", flush=True)
            await run_until_signalled(rt)
        finally:
            await db.dispose()

    asyncio.run(main())
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    asyncio.run(upgrade(settings.database_url))
    print(f"schema is up to date ({_safe_url(settings.database_url)})")
    return 0


def _safe_url(url: str) -> str:
    """The database URL without a password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        rest = f"{creds.split(':', 1)[0]}@{host}"
    return f"{scheme}{sep}{rest}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kessai", description="A KOMOJU-compatible payment server.")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API and the hosted checkout page")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.set_defaults(func=cmd_serve)

    merchant = sub.add_parser("merchant", help="manage merchants")
    msub = merchant.add_subparsers(dest="merchant_command", required=True)
    create = msub.add_parser("create", help="create a merchant with test-mode keys")
    create.add_argument("--name", required=True)
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.add_argument("--webhook-url", help="add a webhook endpoint (test mode) for it")
    create.set_defaults(func=cmd_merchant_create)

    hook = sub.add_parser("webhook", help="manage a merchant's webhook endpoints")
    hsub = hook.add_subparsers(dest="webhook_command", required=True)
    add = hsub.add_parser("add", help="add an endpoint (prints its secret once)")
    add.add_argument("--merchant", required=True, help="merchant id")
    add.add_argument("--url", required=True)
    add.add_argument("--events", help="comma list of event types (default: all)")
    add.add_argument("--live", action="store_true", help="for live mode (default: test mode)")
    add.set_defaults(func=cmd_webhook_add)
    lst = hsub.add_parser("list", help="list endpoints")
    lst.add_argument("--merchant", required=True)
    lst.add_argument("--live", action="store_true")
    lst.set_defaults(func=cmd_webhook_list)
    rm = hsub.add_parser("remove", help="remove an endpoint")
    rm.add_argument("--merchant", required=True)
    rm.add_argument("endpoint")
    rm.add_argument("--live", action="store_true")
    rm.set_defaults(func=cmd_webhook_remove)

    worker = sub.add_parser("worker", help="deliver webhooks and sweep deadlines (no HTTP)")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database maintenance")
    dsub = db.add_subparsers(dest="db_command", required=True)
    up = dsub.add_parser("upgrade", help="create or migrate the schema")
    up.set_defaults(func=cmd_db_upgrade)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KessaiError as exc:
        print(f"kessai: {exc.message}", file=sys.stderr)
        return 2
