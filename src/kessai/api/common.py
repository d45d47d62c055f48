"""What every API route does: authenticate, read the body, run one operation, respond."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.auth import authenticate
from kessai.api.body import parse_body
from kessai.core import rules
from kessai.errors import InvalidParameter, KessaiError, NotFound, error_body
from kessai.processors.base import Declined
from kessai.services import execute, phases
from kessai.services.execute import IdempotencyKey, Rendered, dumps
from kessai.services.phases import Plan
from kessai.services.runtime import Caller, Runtime

T = TypeVar("T")
IDEMPOTENCY_HEADER = "X-KOMOJU-IDEMPOTENCY"
SCENARIO_HEADER = "Komoju-Scenario"
Body = Callable[[], dict[str, Any]]
WriteOp = Callable[[AsyncConnection, Runtime, Caller, Body], Awaitable[T]]
ReadOp = Callable[[AsyncConnection, Runtime, Caller], Awaitable[T]]
ViewOp = Callable[[Runtime, Caller], Awaitable[T]]
MakePlan = Callable[[Runtime, Caller, Body], Plan[T]]
Render = Callable[[Runtime, T], Rendered]


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def check_edge(request: Request) -> None:
    """Once per request, before its operation: what reaches the store from outside the body.

    A path id that is not a well-formed id is 404 without a query; a query parameter (name
    or value) or a Komoju-Scenario header with NUL or another control character is 422
    naming it. Bodies are checked where they are parsed (`api.body`).
    """
    for name, value in request.path_params.items():
        if name.endswith("_id") and not rules.is_id(value):
            raise NotFound(
                "No such object: ids are 25 lowercase letters and digits. Check the path."
            )
    fields: list[tuple[str, tuple[str, ...]]] = [
        (key, (key, value)) for key, value in request.query_params.multi_items()
    ]
    scenario = request.headers.get(SCENARIO_HEADER)
    if scenario is not None:
        fields.append((SCENARIO_HEADER, (scenario,)))
    for name, values in fields:
        for value in values:
            try:
                rules.single_line(value)
            except rules.Invalid as exc:
                shown = rules.printable(name)
                raise InvalidParameter(f"{shown} {exc.message}", param=shown) from None


def idempotency_key(request: Request, raw: bytes) -> IdempotencyKey | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 100 or not key.isascii() or not key.isprintable():
        raise InvalidParameter(
            f"{IDEMPOTENCY_HEADER} must be 1 to 100 printable ASCII characters.",
            param=IDEMPOTENCY_HEADER,
        )
    return IdempotencyKey.of(key, request.method, request.url.path, raw)


def json_response(rendered: Rendered) -> Response:
    status, body = rendered
    return Response(body, status_code=status, media_type="application/json")


def ok(body: Any) -> Rendered:
    return 200, dumps(body)


def declined(decline: Declined, details: dict[str, Any] | None = None) -> Rendered:
    """A processor's refusal: 402 with the decline code, as KOMOJU answers."""
    return 402, dumps(error_body(decline.code, decline.message, None, details))


def as_is(rt: Runtime, body: Any) -> Rendered:
    """Render a body the service built already."""
    return ok(body)


def row_or_decline(serialize: Callable[[Any], Any]) -> Render[Any]:
    """Render an operation that returns a row, or a `Declined` from the processor."""

    def render(rt: Runtime, result: Any) -> Rendered:
        return declined(result) if isinstance(result, Declined) else ok(serialize(result))

    return render


def query(request: Request) -> dict[str, Any]:
    return dict(request.query_params)


async def _writing(
    request: Request, secret_only: bool, caller: Caller | None = None
) -> tuple[Runtime, Caller, IdempotencyKey | None, Body]:
    """What every writing route does first: authenticate (unless the route did), check
    what reaches the store from outside the body, read the body and the idempotency key.
    The body is parsed only when the operation asks (`body()`)."""
    rt = runtime(request)
    if caller is None:
        caller = await authenticate(rt, request, secret_only=secret_only)
    check_edge(request)
    raw = await request.body()
    key = idempotency_key(request, raw)

    def body() -> dict[str, Any]:
        return parse_body(request.headers.get("content-type"), raw)

    return rt, caller, key, body


async def write(
    request: Request,
    operation: WriteOp[T],
    render: Render[T],
    *,
    secret_only: bool = True,
    store_only: bool = False,
    caller: Caller | None = None,
) -> Response:
    """A POST/PATCH/DELETE: one transaction, idempotent when the client sends a key.

    The body is parsed inside the operation, so a malformed request's error is stored
    under its idempotency key like any other response. `store_only=True` says the
    operation calls no processor (see `execute.run`'s `claim_first`). `caller`: the route
    has authenticated the request already (each request authenticates, and counts against
    the limits, once).
    """
    rt, caller, key, body = await _writing(request, secret_only, caller)
    return json_response(
        await execute.run(
            rt,
            caller,
            key,
            lambda conn: operation(conn, rt, caller, body),
            lambda result: render(rt, result),
            claim_first=not store_only,
        )
    )


async def phased(
    request: Request,
    make: MakePlan[T],
    render: Render[T],
    *,
    secret_only: bool = True,
) -> Response:
    """A POST whose operation may call a processor: its `Plan` runs in phases
    (`kessai.services.phases`), idempotent when the client sends a key.

    `make` parses the request into the plan; the plan's `before` (vaulting a card) runs
    only once the key is known to be new.
    """
    rt, caller, key, body = await _writing(request, secret_only)
    try:
        plan = make(rt, caller, body)
    except KessaiError as exc:
        rendered = execute.render_error(exc)
        if key is not None and phases.storable(exc):
            rendered = await execute.store_error(rt, caller, key, rendered)
        return json_response(rendered)
    return json_response(await phases.run(rt, caller, key, plan, lambda result: render(rt, result)))


async def read(
    request: Request,
    operation: ReadOp[T],
    render: Render[T],
    *,
    secret_only: bool = True,
    media_type: str = "application/json",
) -> Response:
    """A GET whose operation reads on a connection of its own (`media_type`: of the
    rendered body, for a download such as `text/csv`; errors are JSON all the same)."""
    return await view(
        request,
        lambda rt, caller: execute.read(rt, lambda conn: operation(conn, rt, caller)),
        render,
        secret_only=secret_only,
        media_type=media_type,
    )


async def view(
    request: Request,
    fetch: ViewOp[T],
    render: Render[T],
    *,
    secret_only: bool = True,
    media_type: str = "application/json",
) -> Response:
    """A GET answered by a service function that does its own reading (batched, say)."""
    rt = runtime(request)
    caller = await authenticate(rt, request, secret_only=secret_only)
    check_edge(request)
    status, body = render(rt, await fetch(rt, caller))
    return Response(body, status_code=status, media_type=media_type)
