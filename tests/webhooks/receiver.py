"""A local webhook receiver that records every request (used by the tests in this
package through the `receiver` fixture in conftest.py)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from tests.conftest import free_port

T = TypeVar("T")


@dataclass
class Received:
    """One request the receiver got: what came in, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    arrived: float  # time.monotonic()
    complete: bool = True  # False: the sender went away before the whole body came
    status: int | None = None  # what the receiver answered (None: still in progress)
    answered: float | None = None

    @property
    def event_id(self) -> str | None:
        return self.headers.get("x-komoju-id")

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A local webhook receiver on a fixed 127.0.0.1 port that records every request.

    - `fail_first = n`: answer 500 to the first n requests of each event (X-Komoju-ID);
    - `fail_paths`: answer 500 to every request on these paths;
    - `status_by_path`: answer this status on that path (a 3xx points to `/elsewhere`);
    - `trickle_paths`: answer 200 with a body that never ends (a byte every 0.5 s);
    - `delay`: seconds to sleep before answering (the request is recorded on arrival);
    - `down()` closes the listening socket (connections are refused) and `up()` listens
      again on the same port.

    A request whose body was cut short (its sender was killed) is recorded with
    `complete=False` and left out of `snapshot()`, `ids()` and `of_event()`.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/hook"
        self.requests: list[Received] = []
        self.fail_first = 0
        self.fail_paths: set[str] = set()
        self.status_by_path: dict[str, int] = {}
        self.trickle_paths: set[str] = set()
        self.delay = 0.0
        self._stopping = threading.Event()
        self._seen: dict[str, int] = {}
        self._cond = threading.Condition()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- running

    def up(self) -> None:
        assert self._httpd is None, "receiver is already up"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                receiver._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._stopping.clear()
        httpd = _Server(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        self._httpd, self._thread = httpd, thread

    def down(self) -> None:
        """Stop listening: new connections are refused until `up()`."""
        if self._httpd is None:
            return
        self._stopping.set()  # ends trickling answers
        self._httpd.shutdown()
        self._httpd.server_close()
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._httpd = self._thread = None

    # -- handling

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        try:
            body = handler.rfile.read(length) if length else b""
        except OSError:
            body = b""
        received = Received(
            method=handler.command,
            path=handler.path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            arrived=time.monotonic(),
            complete=len(body) == length,
        )
        if not received.complete:
            with self._cond:
                self.requests.append(received)
                self._cond.notify_all()
            return
        with self._cond:
            self.requests.append(received)
            event_id = received.event_id or ""
            self._seen[event_id] = self._seen.get(event_id, 0) + 1
            failing = handler.path in self.fail_paths or self._seen[event_id] <= self.fail_first
            self._cond.notify_all()
        if self.delay:
            time.sleep(self.delay)
        status = self.status_by_path.get(handler.path, 500 if failing else 200)
        answer = b"" if status == 204 else b"ok"
        if status >= 400:
            answer = b'{"error":"receiver says no"}'
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "text/plain")
            if 300 <= status < 400:
                handler.send_header("Location", f"{self.base}/elsewhere")
            if handler.path in self.trickle_paths:
                handler.end_headers()  # no length: the body runs until the connection closes
                while not self._stopping.wait(0.5):
                    handler.wfile.write(b".")
                    handler.wfile.flush()
            else:
                handler.send_header("Content-Length", str(len(answer)))
                handler.end_headers()
                handler.wfile.write(answer)
                handler.wfile.flush()
        except OSError:  # the worker went away (killed, or gave up) while we answered
            status = -1
        with self._cond:
            received.status = status
            received.answered = time.monotonic()
            self._cond.notify_all()

    # -- reading

    def snapshot(self, path: str | None = None) -> list[Received]:
        """Every complete request (on `path`), in arrival order."""
        with self._cond:
            return [r for r in self.requests if r.complete and (path is None or r.path == path)]

    def truncated(self) -> list[Received]:
        with self._cond:
            return [r for r in self.requests if not r.complete]

    def of_event(self, event_id: str) -> list[Received]:
        return [r for r in self.snapshot() if r.event_id == event_id]

    def ids(self, path: str | None = None, *, status: int | None = None) -> set[str]:
        return {
            r.event_id
            for r in self.snapshot(path)
            if r.event_id and (status is None or r.status == status)
        }

    def wait(self, predicate: Callable[[Receiver], T], timeout: float, what: str = "") -> T:
        """Block until `predicate(self)` is truthy (re-checked on every request)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"receiver: timed out after {timeout}s waiting for {what or predicate}; "
                        f"{len(self.requests)} requests, {len(self._seen)} distinct event ids"
                    )
                self._cond.wait(min(left, 0.5))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # the default listen backlog (5) overflows under 100 senders
