"""Limits at the edge, as one ASGI middleware: request body size and time, and the
per-address rate limit.

Body size: a request that declares a `Content-Length` past the limit is answered 413 at
once, before a byte of its body is read; a body sent without one (chunked) is counted as
it arrives and refused the moment it passes the limit, so at most the limit (plus one
network read) is ever held. A body that takes longer than `body_timeout` seconds to arrive
is answered 408. Either way the connection is then closed, so the rest of the body is
never read. API paths (`/api/`, `/kessai/`) get KOMOJU's error body; the hosted page's
forms, a smaller limit and a plain page.

Rate limit per address: every request but `/health` and static assets (`/static/`,
`/docs/assets/`) counts against its client address; past the limit, 429 with
`Retry-After`. `/ready` and `/metrics` count like any other path: they do real work (a
store round trip, the metrics exposition) without authentication. For the limits, an IPv6
client is its /64 (one subscriber's usual allocation: counting each address apart would
give one client 2**64 budgets) and an IPv4-mapped IPv6 address is the IPv4 address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from functools import lru_cache

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kessai.edge.ratelimit import RateLimiter
from kessai.edge.settings import MIB, EdgeSettings
from kessai.errors import KessaiError, RequestTimeout, RequestTooLarge, TooManyRequests
from kessai.hosted.pages import plain_page

API_PREFIXES = ("/api/", "/kessai/")
UNLIMITED = "/health"
UNLIMITED_PREFIXES = ("/static/", "/docs/assets/")
# Routes whose bodies carry a file, with the size they may reach whatever
# KESSAI_MAX_BODY_BYTES says: a chargeback defense's document (15 MiB, base64-encoded in
# JSON or a form: under 24 MiB).
DOCUMENT_BODY_BYTES = 24 * MIB
LARGE_BODIES = ((re.compile(r"/api/v1/chargeback_requests/[^/]+/defend"), DOCUMENT_BODY_BYTES),)


def client_address(scope: Scope) -> str:
    """The client's address as the rate limits count it: the peer, or the proxy-reported
    one when uvicorn trusts the proxy (`KESSAI_FORWARDED_ALLOW_IPS`), folded by
    `limit_address`. Logs keep the address itself."""
    client = scope.get("client")
    return limit_address(str(client[0])) if client else "unknown"


@lru_cache(maxsize=4096)  # parsing an address costs more than the rest of a limit check
def limit_address(address: str) -> str:
    """IPv6: its /64 network (`2001:db8::/64`), or the IPv4 address it maps
    (`::ffff:192.0.2.1` is `192.0.2.1`); IPv4 and anything unparsable: unchanged."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"The request body is larger than this endpoint accepts ({limit} bytes). "
        "Send a smaller body.",
        details={"max_bytes": limit},
    )


def refusal(scope: Scope, error: KessaiError) -> Response:
    headers = dict(getattr(error, "headers", {}))
    if scope["path"].startswith(API_PREFIXES):
        return JSONResponse(error.body(), status_code=error.status, headers=headers)
    page = plain_page(error.status, error.message)
    page.headers.update(headers)
    return page


class EdgeLimits:
    def __init__(self, app: ASGIApp, settings: EdgeSettings, limiter: RateLimiter) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path != UNLIMITED and not path.startswith(UNLIMITED_PREFIXES):
            try:
                await self.limiter.address(client_address(scope))
            except TooManyRequests as exc:
                await refusal(scope, exc)(scope, receive, send)
                return
        api = path.startswith(API_PREFIXES)
        limit = self.settings.max_body_bytes if api else self.settings.max_form_bytes
        for pattern, larger in LARGE_BODIES:
            if pattern.fullmatch(path):
                limit = max(limit, larger)
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await refusal(scope, too_large(limit))(scope, receive, send)
            return
        body = _Body(receive, limit, self.settings.body_timeout)
        await self.app(scope, body.receive, body.closing(send))


class _Body:
    """`receive` with the size and time limits; after a refusal the connection closes."""

    def __init__(self, receive: Receive, limit: int, timeout: float) -> None:
        self._receive = receive
        self.limit = limit
        self.deadline = asyncio.get_running_loop().time() + timeout
        self.received = 0
        self.complete = False
        self.refused = False

    async def receive(self) -> Message:
        if self.complete:
            return await self._receive()  # after the body: only a disconnect can come
        remaining = self.deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                message = await self._receive()
        except TimeoutError:
            self.refused = True
            raise RequestTimeout(
                "The request body did not arrive in time. Send the whole body at once."
            ) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = True
                raise too_large(self.limit)
            self.complete = not message.get("more_body", False)
        else:
            self.complete = True
        return message

    def closing(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if self.refused and message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"connection"
                ]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        return wrapped
