"""Connections: a deadline for request headers, a cap per process, and the fd limit.

uvicorn closes a kept-alive connection that stays idle (`timeout_keep_alive`), but a
connection that never finishes its request headers (opened and left silent, or a request
sent half-way) is kept forever, and `limit_concurrency` only answers 503 once headers are
complete. Enough such connections exhaust the process's file descriptors and every client
fails. `DeadlineHttpTools` is uvicorn's httptools protocol with three additions:

- each request's headers must arrive within `header_timeout` seconds of the connection
  opening or of the request's first byte; otherwise the connection is closed;
- request headers larger than `max_header_bytes` get 400 and the connection is closed;
- at most `max_connections` connections per process: a new one past the cap evicts the
  connection that has waited longest without a request in progress (idle or half-sent),
  so an idle flood never locks out a real client; if every connection is busy, the new
  one is closed.

This subclasses uvicorn internals (`HttpToolsProtocol` and the parser callbacks named
below), so uvicorn is pinned to a minor version in pyproject.toml, `check_uvicorn()` refuses
to start on a uvicorn without these hooks, and tests/test_connections.py fails if their
behaviour changes.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import resource
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kessai.edge.faults import CLOSE_CONNECTION
from kessai.edge.settings import EdgeSettings

log = logging.getLogger("kessai.edge")
# Orders connections by when they began to wait. Not the loop's clock: uvloop's is cached
# for a loop iteration, and connections accepted together would tie.
_TURNS = itertools.count()
HOOKS = (
    "connection_made",
    "connection_lost",
    "data_received",
    "on_message_begin",
    "on_headers_complete",
    "on_response_complete",
    "send_400_response",
)


def check_uvicorn() -> None:
    """Fail at start, not under attack, if uvicorn no longer has the hooks used here."""
    missing = [name for name in HOOKS if not hasattr(HttpToolsProtocol, name)]
    if missing:
        raise RuntimeError(
            "this uvicorn's HttpToolsProtocol lacks "
            + ", ".join(missing)
            + ": install the uvicorn version pinned in pyproject.toml"
        )


class DeadlineHttpTools(HttpToolsProtocol):
    def __init__(
        self,
        *args: Any,
        header_timeout: float,
        max_header_bytes: int,
        max_connections: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self.max_connections = max_connections
        self._timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = True  # no request in progress: idle or half-sent
        self._header_bytes = 0
        self._waiting_since = 0  # when it began waiting, in turns (see _TURNS)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._waiting_since = next(_TURNS)
        self._arm()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        waiting = self._awaiting_headers
        if waiting:
            self._header_bytes += len(data)
        super().data_received(data)
        # Still no complete headers after parsing this data, and too many bytes of them
        # (the parser keeps a partial header line in memory): refuse and close.
        if (
            waiting
            and self._awaiting_headers
            and self._header_bytes > self.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._disarm()
            self.send_400_response("Request headers too large.")

    # httptools parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        self._waiting_since = next(_TURNS)
        if self._timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._header_bytes = 0
        self._disarm()
        # kessai/edge/faults.py closes the connection, unanswered, through this.
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[CLOSE_CONNECTION] = self._close
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle_in_progress() or self.transport.is_closing():
            return  # a pipelined request whose headers are already in
        # Idle again: uvicorn's keep-alive timer runs; the next request's first byte
        # (on_message_begin) starts a new header deadline.
        self._awaiting_headers = True
        self._header_bytes = 0
        self._waiting_since = next(_TURNS)

    def _close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def cycle_in_progress(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_too_slow(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _make_room(self) -> None:
        """Past the cap: close the longest-waiting connection with no request in progress."""
        idle = [
            conn
            for conn in self.connections
            if isinstance(conn, DeadlineHttpTools)
            and conn is not self
            and conn._awaiting_headers
            and not conn.cycle_in_progress()
            and not conn.transport.is_closing()
        ]
        victim = min(idle, key=lambda conn: conn._waiting_since, default=self)
        if victim is self:
            log.warning(
                "connection cap (%d) reached with every connection busy", self.max_connections
            )
        victim.transport.close()
        # Out of the count now, not when asyncio reports the close on a later turn: the
        # new connection's request may be parsed first, and uvicorn's limit_concurrency
        # would count the closing one and answer 503.
        self.connections.discard(victim)


def protocol(settings: EdgeSettings) -> Any:
    """The `http=` value for uvicorn's Config (picklable, for `--workers N`)."""
    check_uvicorn()
    return functools.partial(
        DeadlineHttpTools,
        header_timeout=settings.header_timeout,
        max_header_bytes=settings.max_header_bytes,
        max_connections=settings.max_connections,
    )


def raise_fd_limit() -> tuple[int, int]:
    """Raise this process's open-file soft limit to its hard limit (children inherit it).

    Returns (soft, hard) after the change."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d to %d", soft, hard)
    return soft, hard


def uvicorn_options(settings: EdgeSettings) -> dict[str, Any]:
    """The uvicorn Config options that bound connections (see the module docstring)."""
    forwarded = settings.forwarded_allow_ips
    return {
        "http": protocol(settings),
        "timeout_keep_alive": settings.keep_alive_timeout,
        # uvicorn answers 503 once this many connections or requests are open; the cap
        # above keeps connections at max_connections, so this bounds requests in flight.
        "limit_concurrency": settings.max_connections + 1,
        "backlog": 2048,
        "proxy_headers": bool(forwarded),
        "forwarded_allow_ips": forwarded or None,
    }
