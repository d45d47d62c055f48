"""The `kessai` command: serve, merchant create, db upgrade."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence

from kessai.services.runtime import utcnow
from kessai.settings import Settings
from kessai.store import merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade


async def _create_merchant(
    settings: Settings, name: str, *, only_if_empty: bool = False
) -> tuple[str, dict[str, str]] | None:
    await upgrade(settings.database_url)
    db = Database.from_url(settings.database_url, pool_size=1)
    try:
        async with db.transaction() as conn:
            if only_if_empty and await merchants.count_merchants(conn) > 0:
                return None
            return await merchants.insert_merchant(conn, name, utcnow())
    finally:
        await db.dispose()


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
    created = asyncio.run(_create_merchant(settings, args.name))
    assert created is not None
    merchant_id, keys = created
    if args.json:
        print(
            json.dumps(
                {
                    "id": merchant_id,
                    "name": args.name,
                    "secret_key": keys["secret"],
                    "publishable_key": keys["publishable"],
                }
            )
        )
    else:
        _print_keys(merchant_id, args.name, keys, settings)
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
    create.set_defaults(func=cmd_merchant_create)

    db = sub.add_parser("db", help="database maintenance")
    dsub = db.add_subparsers(dest="db_command", required=True)
    up = dsub.add_parser("upgrade", help="create or migrate the schema")
    up.set_defaults(func=cmd_db_upgrade)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))
