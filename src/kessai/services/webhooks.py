"""Webhook endpoints and events as merchants see them: add, list, remove, redeliver."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import addresses, rules
from kessai.core.times import iso
from kessai.errors import InvalidParameter, MissingParameter, NotFound
from kessai.ids import new_id
from kessai.schemas.requests import ListParams
from kessai.store import events, idempotency, keyset, rows, webhooks
from kessai.store.tables import events as events_table
from kessai.worker.addresses import Resolver, Unresolvable, system_resolver, vet
from kessai.worker.delivery import event_headers

ADD_LOOKUP = 3.0  # seconds a name lookup may take when an endpoint is added

EVENT_TYPES = (
    "payment.authorized",
    "payment.captured",
    "payment.updated",
    "payment.expired",
    "payment.cancelled",
    "payment.refund.created",
    "payment.refunded",
    "payment.failed",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "subscription.created",
    "subscription.captured",
    "subscription.failed",
    "subscription.suspended",
    "subscription.deleted",
    "settlement.created",
    "chargeback.created",
    "chargeback.accepted",
    "chargeback.defended",
    "chargeback.cancelled",
    "chargeback.lost",
    "chargeback.expired",
    "disbursement.created",
    "disbursement.paid",
    "disbursement.failed",
    "disbursement.cancelled",
    "ping",
)


def endpoint_view(row: Mapping[Any, Any], *, with_secret: bool = False) -> dict[str, Any]:
    view = {
        "id": row["id"],
        "resource": "webhook_endpoint",
        "url": row["url"],
        "event_types": row["event_types"],
        "livemode": row["livemode"],
        "created_at": iso(row["created_at"]),
    }
    if with_secret:
        view["secret"] = row["secret"]
    return view


def check_url(url: Any, *, livemode: bool, policy: str | None) -> str:
    """The normalised URL, if webhooks may go to its host as written (no lookup here).

    An IP address host is judged against `policy`; `policy=None` applies only the rules
    that hold whatever the policy (link-local, metadata, unspecified, multicast...).
    """
    if url is None:
        raise MissingParameter("url is required: the address to POST events to", param="url")
    try:
        value = rules.http_url(url)
        parsed = addresses.target(value)
        if parsed.ip is not None:
            # "all" refuses exactly what every policy refuses
            reason = addresses.refusal(parsed.ip, livemode=livemode, policy=policy or "all")
            if reason is not None:
                raise addresses.Refused(reason)
    except (rules.Invalid, addresses.Refused) as exc:
        raise InvalidParameter(f"url {exc}", param="url") from None
    return value


async def vet_url(
    url: Any, *, livemode: bool, policy: str, resolve: Resolver = system_resolver
) -> None:
    """The rules of `check_url` for every address the URL's host name resolves to: 422
    `invalid_parameter` naming `url` if any of them is refused.

    Call it before the transaction that adds the endpoint: a lookup inside it would hold
    the store's writers. A URL `check_url` refuses is left to `add_endpoint` to report
    (so the error is stored under the request's idempotency key). A name that does not
    resolve now is accepted (its DNS may come later); delivery resolves and checks again
    on every attempt.
    """
    try:
        value = check_url(url, livemode=livemode, policy=policy)
    except (MissingParameter, InvalidParameter):
        return
    try:
        await vet(
            value, livemode=livemode, policy=policy, resolve=resolve, lookup_seconds=ADD_LOOKUP
        )
    except Unresolvable:
        return
    except addresses.Refused as exc:
        raise InvalidParameter(f"url {exc}", param="url") from None


def check_types(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        raise InvalidParameter("event_types must be a list of event types", param="event_types")
    unknown = [t for t in items if t not in EVENT_TYPES]
    if unknown or not items:
        raise InvalidParameter(
            f"event_types must name types among: {', '.join(EVENT_TYPES)}", param="event_types"
        )
    return list(dict.fromkeys(items))


async def add_endpoint(
    conn: AsyncConnection,
    *,
    merchant_id: str,
    livemode: bool,
    url: Any,
    event_types: Any,
    now: Any,
    policy: str | None = None,
) -> dict[str, Any]:
    """A new endpoint with a fresh secret, and a `ping` event queued to it alone.

    Transports call `vet_url` first (outside the transaction), so host names are judged
    too; here only the URL as written is (see `check_url`).
    """
    values = {
        "id": new_id(),
        "merchant_id": merchant_id,
        "livemode": livemode,
        "url": check_url(url, livemode=livemode, policy=policy),
        "secret": secrets.token_hex(32),
        "event_types": check_types(event_types),
        "created_at": now,
        "deleted_at": None,
    }
    await webhooks.insert_endpoint(conn, values)
    await _ping(conn, values, now)
    return endpoint_view(values, with_secret=True)


FORM_KEY = "dashboard-webhook-form:"  # an idempotency key's prefix: one add per form
FORM_FINGERPRINT = "dashboard-webhook-form"
FORM_NONCE = re.compile(r"[0-9a-f]{32}")


def form_nonce() -> str:
    """A fresh nonce for the dashboard's add-endpoint form (`add_endpoint_once`)."""
    return secrets.token_hex(16)


async def add_endpoint_once(
    conn: AsyncConnection, *, nonce: str, merchant_id: str, livemode: bool, **add: Any
) -> dict[str, Any] | None:
    """`add_endpoint`, once per form: the dashboard's form carries a nonce, kept as an
    idempotency key (in the add's own transaction), so submitting the same form again (a
    reload of the answer) shows the endpoint it added, with its secret, instead of adding
    a second. None when that endpoint has been removed since. A malformed nonce is a 422
    naming `nonce` (the form is stale: reload it)."""
    if not FORM_NONCE.fullmatch(nonce):
        raise InvalidParameter("nonce: this form is not one the dashboard made.", param="nonce")
    key = FORM_KEY + nonce
    claimed = await idempotency.claim(
        conn,
        merchant_id=merchant_id,
        livemode=livemode,
        key=key,
        fingerprint=FORM_FINGERPRINT,
        now=add["now"],
    )
    if claimed is None:
        done = await idempotency.existing(conn, merchant_id=merchant_id, livemode=livemode, key=key)
        if done is None or done["fingerprint"] != FORM_FINGERPRINT or done["body"] is None:
            raise InvalidParameter("nonce: this form is not one the dashboard made.", param="nonce")
        found = await webhooks.endpoint(conn, bytes(done["body"]).decode(), merchant_id, livemode)
        return None if found is None else endpoint_view(found, with_secret=True)
    added = await add_endpoint(conn, merchant_id=merchant_id, livemode=livemode, **add)
    await idempotency.finish(conn, claimed, 200, added["id"].encode())
    return added


async def _ping(conn: AsyncConnection, endpoint: Mapping[Any, Any], now: Any) -> str:
    """Record a `ping` event queued to `endpoint` alone; its id."""
    return await events.insert(
        conn,
        merchant_id=endpoint["merchant_id"],
        livemode=endpoint["livemode"],
        type="ping",
        data={"webhook_endpoint": endpoint["id"], "url": endpoint["url"]},
        now=now,
        only_endpoint=endpoint["id"],
    )


async def ping_endpoint(
    conn: AsyncConnection, endpoint_id: str, merchant_id: str, livemode: bool, now: Any
) -> str:
    """Send one of the merchant's endpoints a `ping` through the normal pipeline (the event
    is recorded and delivered to that endpoint alone, as when it was added); the event id."""
    found = await webhooks.endpoint(conn, endpoint_id, merchant_id, livemode)
    if found is None:
        raise NotFound(f"No webhook endpoint {endpoint_id!r} exists for this merchant and mode.")
    return await _ping(conn, found, now)


async def list_endpoints(
    conn: AsyncConnection, merchant_id: str, livemode: bool
) -> list[dict[str, Any]]:
    return [endpoint_view(r) for r in await webhooks.endpoints(conn, merchant_id, livemode)]


async def remove_endpoint(
    conn: AsyncConnection, endpoint_id: str, merchant_id: str, livemode: bool, now: Any
) -> dict[str, Any]:
    if not await webhooks.remove_endpoint(conn, endpoint_id, merchant_id, livemode, now):
        raise NotFound(f"No webhook endpoint {endpoint_id!r} exists for this merchant and mode.")
    return {"id": endpoint_id, "resource": "webhook_endpoint", "deleted": True}


async def event(
    conn: AsyncConnection, event_id: str, merchant_id: str, livemode: bool
) -> dict[str, Any]:
    row = await rows.get(conn, events_table, event_id, merchant_id=merchant_id, livemode=livemode)
    if row is None:
        raise NotFound(f"No event {event_id!r} exists for this merchant and mode.")
    return dict(json.loads(row["body"]))


async def event_list(
    conn: AsyncConnection,
    merchant_id: str,
    livemode: bool,
    params: ListParams,
    *,
    event_type: str | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    total, found = await rows.page(
        conn,
        events_table,
        merchant_id=merchant_id,
        livemode=livemode,
        filters=[events_table.c.type == event_type] if event_type else [],
        page=params.page,
        per_page=params.per_page,
        start=params.start_time,
        end=params.end_time,
    )
    return total, [json.loads(r["body"]) for r in found]


async def redeliver(
    conn: AsyncConnection, event_id: str, merchant_id: str, livemode: bool, now: Any
) -> dict[str, Any]:
    queued = await webhooks.redeliver(conn, event_id, merchant_id, livemode, now)
    if queued < 0:
        raise NotFound(f"No event {event_id!r} exists for this merchant and mode.")
    return {"event": event_id, "queued": queued}


async def deliveries(
    conn: AsyncConnection, event_id: str, merchant_id: str, livemode: bool
) -> dict[str, Any]:
    await event(conn, event_id, merchant_id, livemode)  # 404 unless it is theirs
    found = await webhooks.deliveries_with_attempts(conn, event_id)
    return {
        "event": event_id,
        "deliveries": [
            {
                "endpoint": d["endpoint_id"],
                "url": d["url"],
                "status": d["status"],
                "attempts": [
                    {
                        "attempt": a["attempt"],
                        "at": iso(a["started_at"]),
                        "latency_ms": a["latency_ms"],
                        "status_code": a["status_code"],
                        "error": a["error"],
                        "response": a["response_snippet"],
                        "worker": a["worker"],
                    }
                    for a in d["attempt_rows"]
                ],
                "next_attempt_at": iso(d["next_attempt_at"]) if d["status"] == "pending" else None,
                "delivered_at": iso(d["delivered_at"]),
            }
            for d in found
        ],
    }


# --------------------------------------------------------------------------- the dashboard

DELIVERY_STATUSES = ("delivered", "pending", "failed")


async def event_page(
    conn: AsyncConnection,
    merchant_id: str,
    livemode: bool,
    *,
    event_type: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: int = 25,
) -> tuple[keyset.Page, dict[str, dict[str, int]]]:
    """A page of the merchant's events, newest first (keyset), and how many of each one's
    deliveries are delivered, pending and failed (one query for the page)."""
    if event_type is not None and event_type not in EVENT_TYPES:
        raise InvalidParameter(f"type must be one of: {', '.join(EVENT_TYPES)}", param="type")
    t = events_table
    where = [t.c.merchant_id == merchant_id, t.c.livemode == livemode]
    if event_type is not None:
        where.append(t.c.type == event_type)
    found = await keyset.page(
        conn,
        t,
        where,
        columns=[t.c.id, t.c.type, t.c.object_id, t.c.created_at],
        before=before,
        after=after,
        limit=limit,
    )
    counts = await webhooks.delivery_counts(conn, [r["id"] for r in found.rows])
    return found, counts


def without_user_info(url: str) -> str:
    """An endpoint's URL as the dashboard shows it: without user info (endpoints added
    before it was refused may carry a password, sent as basic auth)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def sent_headers(
    url: str, event_id: str, event_type: str, body: str, secret: str
) -> list[tuple[str, str]]:
    """The headers every attempt to an endpoint carries: the worker's own
    (`worker.delivery.event_headers`); the signature is computed from the secret, which
    itself is never shown (nor is the password of a URL with user info)."""
    headers = list(event_headers(event_id, event_type, body.encode(), secret).items())
    if without_user_info(url) != url:
        headers.append(("Authorization", "Basic ********"))
    return headers


async def event_detail(
    conn: AsyncConnection, event_id: str, merchant_id: str, livemode: bool
) -> dict[str, Any]:
    """One event as the dashboard shows it: its body as sent (and pretty-printed), and every
    delivery with every attempt and the request's headers."""
    row = await rows.get(conn, events_table, event_id, merchant_id=merchant_id, livemode=livemode)
    if row is None:
        raise NotFound(f"No event {event_id!r} exists for this merchant and mode.")
    body = row["body"]
    found = await webhooks.deliveries_with_attempts(conn, event_id)
    return {
        "id": row["id"],
        "type": row["type"],
        "reason": row["reason"],
        "object_id": row["object_id"],
        "created_at": row["created_at"],
        "body": body,
        "pretty": json.dumps(json.loads(body), indent=2, ensure_ascii=False),
        "deliveries": [
            {
                "endpoint_id": d["endpoint_id"],
                "url": without_user_info(d["url"]),
                "endpoint_removed": d["endpoint_removed_at"] is not None,
                "status": d["status"],
                "next_attempt_at": d["next_attempt_at"] if d["status"] == "pending" else None,
                "delivered_at": d["delivered_at"],
                "headers": sent_headers(d["url"], row["id"], row["type"], body, d["secret"]),
                "attempts": [
                    {
                        "attempt": a["attempt"],
                        "at": a["started_at"],
                        "status_code": a["status_code"],
                        "latency_ms": a["latency_ms"],
                        "error": a["error"],
                        "response": a["response_snippet"],
                    }
                    for a in d["attempt_rows"]
                ],
            }
            for d in found
        ],
    }
