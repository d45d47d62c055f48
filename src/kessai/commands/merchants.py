"""`kessai merchant create|list|roll-keys` and `kessai webhook add|list|remove`."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kessai.commands import CliError
from kessai.commands.store import in_store, store_failures
from kessai.core import rules
from kessai.services import webhooks
from kessai.services.runtime import utcnow
from kessai.settings import Settings
from kessai.store import merchants

T = TypeVar("T")
Created = tuple[str, dict[str, str], dict[str, Any] | None]


def run(settings: Settings, operation: Callable[[Any], Awaitable[T]]) -> T:
    """Migrate, run `operation` in one transaction, and report store failures in one line."""
    with store_failures(settings.database_url):
        return asyncio.run(in_store(settings, operation))


NAME_MAX = 255  # the merchants.name column


def unknown_merchant(merchant_id: str) -> CliError:
    return CliError(f"no merchant {merchant_id!r} in this store: `kessai merchant list` shows them")


# argparse `type`s: their CliError is `kessai.cli.main`'s one line (see `cli.whole_number`).


def merchant_id(value: str) -> str:
    """`--merchant`: an id that is not well formed names no merchant; said without a query."""
    if not rules.is_id(value):
        raise unknown_merchant(value)
    return value


def merchant_name(value: str) -> str:
    """`--name`: one line of text, 1 to NAME_MAX characters, without control characters."""
    try:
        value.encode()
    except UnicodeEncodeError:  # bytes that are not UTF-8 arrive as lone surrogates
        raise CliError("--name must be UTF-8 text; check the terminal's encoding") from None
    try:
        return rules.single_line(rules.text(value, max_length=NAME_MAX, allow_empty=False))
    except rules.Invalid as exc:
        raise CliError(f"--name {exc.message}") from None


async def _require_merchant(conn: Any, merchant_id: str) -> None:
    if not await merchants.merchant_exists(conn, merchant_id):
        raise unknown_merchant(merchant_id)


async def create_merchant(
    conn: Any,
    name: str,
    *,
    only_if_empty: bool = False,
    webhook_url: str | None = None,
    policy: str | None = None,
) -> Created | None:
    if only_if_empty and await merchants.count_merchants(conn) > 0:
        return None
    now = utcnow()
    merchant_id, keys = await merchants.insert_merchant(conn, name, now)
    live = await merchants.issue_keys(conn, merchant_id, True, now)
    keys.update({f"live_{kind}": key for kind, key in live.items()})
    endpoint = None
    if webhook_url is not None:
        endpoint = await webhooks.add_endpoint(
            conn,
            merchant_id=merchant_id,
            livemode=False,
            url=webhook_url,
            event_types=None,
            now=utcnow(),
            policy=policy,
        )
    return merchant_id, keys, endpoint


def print_keys(merchant_id: str, name: str, keys: dict[str, str], settings: Settings) -> None:
    """The keys, on stdout (never through logging): shown this once."""
    print(f"Merchant {name!r} ({merchant_id}), test mode:")
    print(f"  secret key:      {keys['secret']}")
    print(f"  publishable key: {keys['publishable']}")
    if "live_secret" in keys:
        print("Live mode (no processor until `kessai processor set --mode live`):")
        print(f"  secret key:      {keys['live_secret']}")
        print(f"  publishable key: {keys['live_publishable']}")
    print("Keep the secret keys safe: kessai stores only their hash and cannot show them again.")
    print(f"Try: curl -u {keys['secret']}: {settings.base_url}/api/v1/sessions \\")
    print("       -d amount=1000 -d currency=JPY")


def _vet(url: str, *, livemode: bool, settings: Settings) -> None:
    """Judge the addresses a webhook URL's host name resolves to, before any transaction."""
    asyncio.run(webhooks.vet_url(url, livemode=livemode, policy=settings.webhook_allow_private))


def cmd_merchant_create(args: argparse.Namespace, settings: Settings) -> int:
    if args.webhook_url is not None:
        _vet(args.webhook_url, livemode=False, settings=settings)
    created = run(
        settings,
        lambda conn: create_merchant(
            conn, args.name, webhook_url=args.webhook_url, policy=settings.webhook_allow_private
        ),
    )
    assert created is not None
    merchant_id, keys, endpoint = created
    if args.json:
        out = {
            "id": merchant_id,
            "name": args.name,
            "secret_key": keys["secret"],
            "publishable_key": keys["publishable"],
            "live_secret_key": keys["live_secret"],
            "live_publishable_key": keys["live_publishable"],
        }
        if endpoint is not None:
            out["webhook_secret"] = endpoint["secret"]
            out["webhook_endpoint_id"] = endpoint["id"]
        print(json.dumps(out))
    else:
        print_keys(merchant_id, args.name, keys, settings)
        if endpoint is not None:
            print(f"  webhook {endpoint['url']} secret: {endpoint['secret']}")
    return 0


def cmd_merchant_list(args: argparse.Namespace, settings: Settings) -> int:
    found = run(settings, merchants.list_merchants)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": m.id,
                        "name": m.name,
                        "created_at": m.created_at.isoformat(),
                        "keys": list(m.key_hints),
                    }
                    for m in found
                ]
            )
        )
        return 0
    if not found:
        print("No merchants yet: `kessai merchant create --name NAME` makes one.")
        return 0
    width = max(len("NAME"), *(len(m.name) for m in found))
    print(f"{'ID':<25}  {'NAME':<{width}}  KEYS")
    for m in found:
        print(f"{m.id:<25}  {m.name:<{width}}  {'  '.join(m.key_hints) or '(none)'}")
    return 0


def cmd_merchant_roll_keys(args: argparse.Namespace, settings: Settings) -> int:
    async def roll(conn: Any) -> tuple[str, dict[bool, dict[str, str]]]:
        # Both modes: a merchant made before live keys existed gets its first ones.
        rolled = await merchants.roll_keys(conn, args.merchant, utcnow(), modes=(False, True))
        if rolled is None:
            raise unknown_merchant(args.merchant)
        return await merchants.merchant_name(conn, args.merchant), rolled

    name, rolled = run(settings, roll)
    if args.json:
        out: dict[str, Any] = {"id": args.merchant, "name": name}
        for livemode, keys in rolled.items():
            prefix = "live_" if livemode else ""
            out[f"{prefix}secret_key"] = keys["secret"]
            out[f"{prefix}publishable_key"] = keys["publishable"]
        print(json.dumps(out))
        return 0
    print(f"New keys for {name!r} ({args.merchant}); the old ones are revoked.")
    for livemode, keys in rolled.items():
        mode = "live" if livemode else "test"
        print(f"  {mode} secret key:      {keys['secret']}")
        print(f"  {mode} publishable key: {keys['publishable']}")
    cache = settings.auth_cache_seconds
    if cache > 0:
        print(
            f"A running kessai server may accept an old key for up to {cache:g} s more "
            "(KESSAI_AUTH_CACHE_SECONDS); after that it gets 401."
        )
    return 0


def cmd_webhook_add(args: argparse.Namespace, settings: Settings) -> int:
    _vet(args.url, livemode=args.live, settings=settings)

    async def add(conn: Any) -> dict[str, Any]:
        await _require_merchant(conn, args.merchant)
        return await webhooks.add_endpoint(
            conn,
            merchant_id=args.merchant,
            livemode=args.live,
            url=args.url,
            event_types=args.events,
            now=utcnow(),
            policy=settings.webhook_allow_private,
        )

    print(json.dumps(run(settings, add)))
    return 0


def cmd_webhook_list(args: argparse.Namespace, settings: Settings) -> int:
    async def listing(conn: Any) -> list[dict[str, Any]]:
        await _require_merchant(conn, args.merchant)
        return await webhooks.list_endpoints(conn, args.merchant, args.live)

    print(json.dumps(run(settings, listing)))
    return 0


def cmd_webhook_remove(args: argparse.Namespace, settings: Settings) -> int:
    async def remove(conn: Any) -> dict[str, Any]:
        await _require_merchant(conn, args.merchant)
        return await webhooks.remove_endpoint(
            conn, args.endpoint, args.merchant, args.live, utcnow()
        )

    print(json.dumps(run(settings, remove)))
    return 0


def add_parsers(sub: Any) -> None:
    """`merchant ...` and `webhook ...` under the `kessai` parser's subcommands."""
    merchant = sub.add_parser("merchant", help="manage merchants")
    msub = merchant.add_subparsers(dest="merchant_command", required=True)
    create = msub.add_parser("create", help="create a merchant with test- and live-mode keys")
    create.add_argument("--name", required=True, type=merchant_name)
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.add_argument("--webhook-url", help="add a webhook endpoint (test mode) for it")
    create.set_defaults(func=cmd_merchant_create)
    lst = msub.add_parser("list", help="merchants: ids, names and how their keys begin and end")
    lst.add_argument("--json", action="store_true", help="print one JSON array")
    lst.set_defaults(func=cmd_merchant_list)
    roll = msub.add_parser("roll-keys", help="issue new keys and revoke the old ones")
    roll.add_argument("--merchant", required=True, type=merchant_id, help="merchant id")
    roll.add_argument("--json", action="store_true", help="print one JSON object")
    roll.set_defaults(func=cmd_merchant_roll_keys)

    hook = sub.add_parser("webhook", help="manage a merchant's webhook endpoints")
    hsub = hook.add_subparsers(dest="webhook_command", required=True)
    add = hsub.add_parser("add", help="add an endpoint (prints its secret once)")
    add.add_argument("--merchant", required=True, type=merchant_id, help="merchant id")
    add.add_argument("--url", required=True)
    add.add_argument("--events", help="comma list of event types (default: all)")
    add.add_argument("--live", action="store_true", help="for live mode (default: test mode)")
    add.set_defaults(func=cmd_webhook_add)
    wlst = hsub.add_parser("list", help="list endpoints")
    wlst.add_argument("--merchant", required=True, type=merchant_id)
    wlst.add_argument("--live", action="store_true")
    wlst.set_defaults(func=cmd_webhook_list)
    rm = hsub.add_parser("remove", help="remove an endpoint")
    rm.add_argument("--merchant", required=True, type=merchant_id)
    rm.add_argument("endpoint")
    rm.add_argument("--live", action="store_true")
    rm.set_defaults(func=cmd_webhook_remove)
