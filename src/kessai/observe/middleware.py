"""The outer edge of every HTTP request: its id, its metrics and its access log line.

A plain ASGI middleware (no response buffering): it takes the client's `X-Request-Id` when
sane (else makes one), puts it in the response headers and in the context every log line
reads, and when the response ends counts it by route *template* (never the raw path: ids
would make the label set grow without bound) and status, with its latency.

The 500 page for an unexpected exception is written by Starlette outside all middleware;
the request id is left in `scope["state"]` so that handler can return it too
(`request_id_header`).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kessai.observe import context, logs, metrics

UNMATCHED = "<unmatched>"
# Methods get a label of their own; any other (a client may send any token) is OTHER.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope, path: str, root_path: str = "") -> str:
    """The route `path` matched, as its template (`/api/v1/payments/{payment_id}`).

    Read from the ASGI scope alone (the matched route and its `path_params`), so it does not
    depend on how a FastAPI version nests included routers: each segment that is a path
    parameter's value becomes `{name}`. The result must end with the route's own template
    (defined in code), so a label can only ever be one of kessai's routes. A mount (the
    static files) shows as what it matched plus `/{path}` (`root_path` is the scope's
    root path before routing; a mount extends it).
    """
    route = scope.get("route")
    own = getattr(route, "path", None)
    mounted = str(scope.get("root_path", ""))
    if (isinstance(route, Mount) or route is None) and mounted != root_path:
        if mounted.startswith(root_path) and not scope.get("path_params"):
            return f"{mounted[len(root_path) :]}/{{path}}"
        return UNMATCHED
    if not isinstance(own, str):
        return UNMATCHED
    params = scope.get("path_params") or {}
    names = {str(value): name for name, value in params.items()}
    template = "/".join(
        f"{{{names[segment]}}}" if segment in names else segment for segment in path.split("/")
    )
    return template if template.endswith(own) else own


def request_id_header(request: Request) -> dict[str, str]:
    """The header that returns this request's id (for responses written outside us)."""
    rid = request.scope.get("state", {}).get("request_id")
    return {"X-Request-Id": rid} if isinstance(rid, str) else {}


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope.get("path", "")
        root_path: str = scope.get("root_path", "")
        header = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = context.request_id_from(header)
        context.begin(request_id)
        state = scope.setdefault("state", {})
        if isinstance(state, dict):
            state["request_id"] = request_id
        status = 500
        raw_id = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", raw_id)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._done(scope, path, root_path, status, time.perf_counter() - started)

    @staticmethod
    def _done(scope: Scope, path: str, root_path: str, status: int, seconds: float) -> None:
        route = route_template(scope, path, root_path)
        method: str = scope["method"] if scope["method"] in METHODS else "OTHER"
        metrics.request_done(method, route, status, seconds)
        client: Any = scope.get("client")
        logs.request_line(
            method=method,
            path=path,
            route=route,
            status=status,
            duration_ms=seconds * 1000,
            client=str(client[0]) if client else None,
        )
