"""The webhook delivery loop.

Each round: claim due deliveries (`store.webhooks.claim`), POST each event's stored body to
its endpoint with the KOMOJU headers, and record the attempt. Only a 2xx is delivered;
anything else, a timeout or a refused connection is retried with exponential backoff and
jitter (`KESSAI_WEBHOOK_RETRY_BASE_SECONDS`, doubling, capped at 6 hours) until the event is
3 days old, then the delivery is marked failed. Same event id and body on every attempt.

Each attempt resolves the endpoint's host once, checks every address against the policy
(`kessai.core.addresses`) and connects to the checked address, sending the name in `Host`
and in TLS SNI (and verifying the certificate for the name): a second lookup that answers
differently (DNS rebinding) is never made. Whatever goes wrong with one endpoint, a refused
address, a URL nothing can parse, any exception, is that delivery's failed attempt; it
never touches the other deliveries of the round.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from kessai.core.addresses import Refused
from kessai.core.times import iso
from kessai.observe import metrics
from kessai.services import execute
from kessai.services.runtime import Runtime
from kessai.store import webhooks
from kessai.worker.addresses import Resolver, Vetted, system_resolver, vet
from kessai.worker.signing import sign

log = logging.getLogger("kessai.webhooks")
MAX_DELAY = timedelta(hours=6)
GIVE_UP_AFTER = timedelta(days=3)
SNIPPET = 500  # bytes of a response body kept with the attempt
_USER_INFO = re.compile(r"^([^:/?#]+://)[^/?#]*@")


def retry_delay(attempt: int, base: float, rand: float) -> timedelta:
    """Delay before the retry that follows attempt number `attempt` (1-based)."""
    delay = min(base * 2 ** (attempt - 1), MAX_DELAY.total_seconds())
    return timedelta(seconds=delay * (1 + 0.25 * rand))


@dataclass
class Result:
    status_code: int | None
    error: str | None
    snippet: str | None
    latency_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Deliverer:
    def __init__(
        self,
        rt: Runtime,
        client: httpx.AsyncClient,
        *,
        name: str | None = None,
        batch: int = 100,
        resolve: Resolver = system_resolver,
    ) -> None:
        self.rt = rt
        self.client = client
        self.resolve = resolve
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.batch = batch
        self.settings = rt.settings

    async def run_once(self) -> int:
        """One round: claim, send concurrently, record every attempt in one transaction.

        Every claimed delivery gets an attempt record, whatever happened to it. Should the
        round's one transaction fail, each attempt is recorded in a transaction of its own,
        so one bad row cannot leave the others unrecorded (and sent again). If the process
        dies first, the claims lapse at the end of the lease and another round sends again:
        delivery is at least once, nothing is lost.
        """
        now = self.rt.clock()
        # A cheap read first: an idle worker never takes the (SQLite) write lock.
        if not await execute.read(self.rt, lambda conn: webhooks.any_due(conn, now)):
            return 0
        # The lease outlasts any attempt (each has an overall deadline shorter than it).
        lease = timedelta(seconds=self.settings.webhook_lease)
        claimed = await execute.write(
            self.rt,
            lambda conn: webhooks.claim(conn, now=now, lease_until=now + lease, limit=self.batch),
        )
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(row) for row in claimed))
        recorded = await self._record(outcomes)
        # Only what committed is counted: an unrecorded attempt is sent (and counted) again.
        metrics.webhook_round([claimed[i] for i in recorded], [outcomes[i] for i in recorded])
        for i in recorded:
            log_attempt(claimed[i], outcomes[i])
        return len(claimed)

    async def _record(self, outcomes: list[dict[str, Any]]) -> list[int]:
        """Record the attempts; return the positions (in `outcomes`) of those committed."""

        async def record_all(conn: Any) -> None:
            for values in outcomes:
                await webhooks.record(conn, **values)

        try:
            await execute.write(self.rt, record_all)
            return list(range(len(outcomes)))
        except Exception:
            log.exception("recording a webhook round failed; recording its attempts one by one")
        recorded: list[int] = []
        for i, values in enumerate(outcomes):

            async def record_one(conn: Any, values: dict[str, Any] = values) -> None:
                await webhooks.record(conn, **values)

            try:
                await execute.write(self.rt, record_one)
            except Exception:
                log.exception("recording webhook delivery %s failed", values["delivery_id"])
            else:
                recorded.append(i)
        return recorded

    async def _attempt(self, row: Any) -> dict[str, Any]:
        started = self.rt.clock()
        try:
            result = await self._send(row)
        except Exception as exc:  # one endpoint's trouble is its own failed attempt
            log.exception("webhook delivery %s failed unexpectedly", row["id"])
            result = Result(None, f"{type(exc).__name__}: {exc}", None, 0)
        next_at: datetime | None = None
        if not result.delivered:
            next_at = started + retry_delay(
                row["attempts"],
                self.settings.webhook_retry_base,
                random.random(),  # noqa: S311
            )
            if next_at - row["queued_at"] > GIVE_UP_AFTER or row["deleted_at"] is not None:
                next_at = None  # give up: the event is too old, or the endpoint is gone
        return {
            "delivery_id": row["id"],
            "attempt": row["attempts"],
            "worker": self.name,
            "started_at": started,
            "latency_ms": result.latency_ms,
            "status_code": result.status_code,
            "error": result.error,
            "snippet": result.snippet,
            "delivered": result.delivered,
            "next_attempt_at": next_at,
        }

    async def _send(self, row: Any) -> Result:
        if row["deleted_at"] is not None:
            return Result(None, "the endpoint was removed", None, 0)
        body = row["body"].encode()
        headers = event_headers(row["event_id"], row["type"], body, row["secret"])
        start = time.perf_counter()
        try:
            # An overall deadline: a receiver that trickles its answer cannot hold us.
            status, snippet = await asyncio.wait_for(
                self._post(row, body, headers), self.settings.webhook_timeout
            )
        except Refused as exc:
            return Result(None, f"refused: {exc}", None, 0)
        except (httpx.HTTPError, httpx.InvalidURL, TimeoutError) as exc:
            elapsed = int((time.perf_counter() - start) * 1000)
            return Result(None, f"{type(exc).__name__}: {exc}"[:500], None, elapsed)
        elapsed = int((time.perf_counter() - start) * 1000)
        return Result(status, None, snippet, elapsed)

    async def _post(self, row: Any, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """Resolve and check the endpoint's host, POST to the checked address, and read at
        most SNIPPET bytes of the answer."""
        vetted = await vet(
            row["url"],
            livemode=row["livemode"],
            policy=self.settings.webhook_allow_private,
            resolve=self.resolve,
            lookup_seconds=self.settings.webhook_timeout,
        )
        url, headers, extensions, auth = pinned(vetted, headers)
        async with self.client.stream(
            "POST",
            url,
            content=body,
            headers=headers,
            extensions=extensions,
            auth=auth,
            follow_redirects=False,
        ) as response:
            kept = b""
            async for chunk in response.aiter_raw():
                kept += chunk
                if len(kept) >= SNIPPET:
                    break
            return response.status_code, kept[:SNIPPET].decode("utf-8", "replace")

    async def run_forever(self, idle: float = 0.2) -> None:
        while True:
            try:
                attempted = await self.run_once()
            except Exception:  # keep delivering: a bad moment must not stop webhooks
                log.exception("webhook round failed")
                attempted = 0
            if attempted < self.batch:
                await asyncio.sleep(idle)


def event_headers(event_id: str, event_type: str, body: bytes, secret: str) -> dict[str, str]:
    """The KOMOJU headers of every attempt to deliver an event (the dashboard shows these
    too: `services.webhooks.sent_headers`); `pinned` adds Host, and basic auth for a URL
    with user info."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "Komoju-Webhook",
        "X-Komoju-ID": event_id,
        "X-Komoju-Event": event_type,
        "X-Komoju-Signature": sign(secret, body),
    }


def log_attempt(row: Any, outcome: dict[str, Any]) -> None:
    """One log line for a recorded attempt: info when delivered, a warning otherwise,
    with the error (or status) and when the next attempt is (or that there is none)."""
    status, error = outcome["status_code"], outcome["error"]
    fields = {
        "event_id": row["event_id"],
        "event_type": row["type"],
        "merchant_id": row["merchant_id"],
        "endpoint": shown_url(row["url"]),
        "status_code": status,
        "latency_ms": outcome["latency_ms"],
        "attempt": outcome["attempt"],
    }
    where = f"event {row['event_id']} ({row['type']}) to {fields['endpoint']}"
    if outcome["delivered"]:
        log.info(
            "webhook delivered: %s: %s in %d ms (attempt %d)",
            where,
            status,
            outcome["latency_ms"],
            outcome["attempt"],
            extra=fields,
        )
        return
    following = outcome["next_attempt_at"]
    then = f"next attempt at {iso(following)}" if following is not None else "giving up"
    log.warning(
        "webhook not delivered: %s: %s after %d ms (attempt %d); %s",
        where,
        f"status {status}" if status is not None else error,
        outcome["latency_ms"],
        outcome["attempt"],
        then,
        extra={**fields, "error": error, "next_attempt_at": iso(following)},
    )


def shown_url(url: str) -> str:
    """An endpoint's URL as logs and tails show it: without user info (endpoints added
    before it was refused may carry a password)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not parseable (a bracket left open): drop anything before an @
        return _USER_INFO.sub(r"\1", url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def pinned(
    vetted: Vetted, headers: dict[str, str]
) -> tuple[str, dict[str, str], dict[str, Any], httpx.BasicAuth | None]:
    """The request to the checked address: its URL, headers, httpx extensions and auth."""
    target = vetted.target
    headers = {**headers, "Host": target.host_header}
    extensions: dict[str, Any] = {}
    if target.scheme == "https":
        if target.ip is None:
            # TLS speaks to the name: SNI, and the certificate is verified for it
            extensions["sni_hostname"] = target.host
        # pooled connections are keyed by address alone: never reuse one made for a name
        headers["Connection"] = "close"
    auth = None
    if target.username is not None:  # endpoints added before user info was refused
        auth = httpx.BasicAuth(unquote(target.username), unquote(target.password or ""))
    return target.url_for(vetted.ip), headers, extensions, auth


def client(timeout: float) -> httpx.AsyncClient:
    """The outgoing HTTP client: timeouts on every phase, no redirects followed."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        follow_redirects=False,
        # A small pool: httpx scans every pooled connection on each request.
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        trust_env=False,
    )
