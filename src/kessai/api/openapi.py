"""The OpenAPI 3.1 document, generated from the code that parses and renders.

Each API route declares what it takes and answers with `@operation(...)` under its FastAPI
decorator: the pydantic model its body or query string is parsed with, the TypedDict of
`kessai.schemas.shapes` its 200 body is built as, the key kind it takes, and whether a
processor can decline or be missing. `build(routers)` walks the routers the app mounts
(the same list `create_app` includes) and turns those declarations into the document. The
schemas come from pydantic (`TypeAdapter.json_schemas`) over the same types, so nothing is
written twice. A route without a declaration is an error when the document is built.

The declaration only attaches data to the endpoint function; requests never read it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

import kessai
from kessai.errors import ErrorBody

F = TypeVar("F", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"
# "signature": no API key; the body is signed (an acquirer's webhook).
# "optional": no key needed; one that is sent must be valid (the konbini barcode).
KeyKind = Literal["secret", "publishable", "signature", "optional"]

SECURITY_SCHEMES = {
    "secretKey": {
        "type": "http",
        "scheme": "basic",
        "description": "The merchant's secret key (`sk_test_...` or `sk_live_...`) as the "
        "user name, an empty password. Allowed on every endpoint.",
    },
    "publishableKey": {
        "type": "http",
        "scheme": "basic",
        "description": "The merchant's publishable key (`pk_test_...`, `pk_live_...`) as "
        "the user name, an empty password. Only on the endpoints that list it; elsewhere "
        "it gets 403 `forbidden`.",
    },
}

ERRORS: dict[int, str] = {
    400: "`bad_request`: the body is not valid JSON or form encoding, or its content type "
    "is not one of those.",
    401: "`unauthorized`: no key, an unknown key, or an Authorization header that is not "
    "Basic credentials.",
    402: "The processor refused: a decline code (`card_declined`, `insufficient_funds`, "
    "...); `details.payment` is the failed payment when one was recorded.",
    403: "`forbidden`: a publishable key on a secret-key endpoint.",
    404: "`not_found`: no such object for this merchant and mode. `format_unavailable`: "
    "a settlement as PDF or XLS (kessai makes settlements as CSV only).",
    408: "`request_timeout`: the request body did not arrive in time "
    "(`KESSAI_BODY_TIMEOUT_SECONDS`).",
    409: "`conflict`: a request with the same `X-KOMOJU-IDEMPOTENCY` key is still running.",
    413: "`request_too_large`: the request body is larger than the server accepts "
    "(`KESSAI_MAX_BODY_BYTES`); refused before it is read.",
    422: "A parameter is missing or invalid (`param` names it: `missing_parameter`, "
    "`invalid_parameter`, `invalid_currency`, `invalid_payment_type`), or the object's state "
    "does not allow the action (`not_capturable`, `not_refundable`, `not_cancellable`, "
    "`session_not_payable`, `insufficient_balance`, `not_disputable`, `not_acceptable`, "
    "`not_defendable`).",
    429: "`too_many_requests`: a rate limit; retry after `Retry-After` seconds.",
    500: "`internal_server_error`: never expected; also an injected `error_after` fault "
    "(the request was done; retry with the same X-KOMOJU-IDEMPOTENCY key to get its answer).",
    503: "`processor_unavailable`: this mode (live, by default) has no processor, or the "
    "processor's answer was lost (`details.operation`; retry with the same "
    "X-KOMOJU-IDEMPOTENCY key to resume it). `service_unavailable`: an injected fault.",
}


@dataclass(frozen=True)
class Operation:
    summary: str
    ok: Any
    key: KeyKind = "secret"
    body: Any = None
    query: type[BaseModel] | None = None
    extra_query: Mapping[str, Any] = field(default_factory=dict)
    declines: bool = False
    processor: bool = False
    scenario: bool = False
    description: str = ""
    media_type: str | tuple[str, ...] = "application/json"


_OPERATIONS: dict[Callable[..., Any], Operation] = {}


def operation(
    summary: str,
    *,
    ok: Any,
    key: KeyKind = "secret",
    body: Any = None,
    query: type[BaseModel] | None = None,
    extra_query: Mapping[str, Any] | None = None,
    declines: bool = False,
    processor: bool = False,
    scenario: bool = False,
    description: str = "",
    media_type: str | tuple[str, ...] = "application/json",
) -> Callable[[F], F]:
    """Declare a route for the document (put it under the `@router.<method>` lines).

    `ok`: the type of the 200 body; `key`: the least key kind allowed; `body`/`query`: the
    models the route parses; `extra_query`: other query parameters (name → type);
    `declines`: the processor may refuse (402); `processor`: needs a processor (503
    without one); `scenario`: takes KOMOJU's `Komoju-Scenario` test header;
    `media_type`: the 200 body's content type (a download, `text/csv`, with `ok=str`), or
    the types it may have (a file, with `ok=bytes`); `ok=None`: no body, 204 (KOMOJU's
    `void` operations).
    """
    declared = Operation(
        summary,
        ok,
        key,
        body,
        query,
        dict(extra_query or {}),
        declines,
        processor,
        scenario,
        description,
        media_type,
    )

    def register(fn: F) -> F:
        _OPERATIONS[fn] = declared
        return fn

    return register


Mounted = Sequence[tuple[str, APIRouter]]


def documented_routes(routers: Mounted) -> Iterable[tuple[str, APIRoute, str]]:
    """Every (path, route, method) the document describes: all routes of `routers`, each
    a (prefix, router) pair as the app includes them."""
    for prefix, router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                for method in sorted(route.methods or ()):
                    yield prefix + route.path_format, route, method


def build(routers: Mounted) -> dict[str, Any]:
    ops = [
        (path, route, method, _declared(route))
        for path, route, method in documented_routes(routers)
    ]
    schemas = _schemas([op for _, _, _, op in ops])
    names = [route.endpoint.__name__ for _, route, _, _ in ops]
    paths: dict[str, dict[str, Any]] = {}
    for path, route, method, op in ops:
        name = route.endpoint.__name__
        op_id = name if names.count(name) == 1 else f"{name}_{method.lower()}"
        paths.setdefault(path, {})[method.lower()] = _operation(path, method, op, op_id, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kessai",
            "version": kessai.__version__,
            "description": "KOMOJU's payments API (`/api/v1`) as kessai serves it, and "
            "kessai's own webhook management (`/kessai/v1`). Bodies may be JSON or form "
            "encoded with bracket nesting (`metadata[order]=1`, `line_items[0][amount]=500`, "
            "`payment_types[]=konbini`), with the same meaning.",
        },
        "paths": paths,
        "components": {"schemas": schemas.definitions, "securitySchemes": SECURITY_SCHEMES},
    }


def _declared(route: APIRoute) -> Operation:
    op = _OPERATIONS.get(route.endpoint)
    if op is None:
        raise LookupError(f"{route.path} ({route.endpoint.__name__}) has no @operation declaration")
    return op


@dataclass
class _Schemas:
    refs: dict[tuple[Any, JsonSchemaMode], dict[str, Any]]
    definitions: dict[str, Any]

    def ref(self, tp: Any, mode: JsonSchemaMode = "serialization") -> dict[str, Any]:
        return self.refs[(tp, mode)]


def _schemas(ops: list[Operation]) -> _Schemas:
    inputs: dict[tuple[Any, JsonSchemaMode], TypeAdapter[Any]] = {
        (ErrorBody, "serialization"): TypeAdapter(ErrorBody)
    }
    for op in ops:
        if op.ok is not None:
            inputs.setdefault((op.ok, "serialization"), TypeAdapter(op.ok))
        for model in (op.body, op.query):
            if model is not None:
                inputs.setdefault((model, "validation"), TypeAdapter(model))
        for tp in op.extra_query.values():
            inputs.setdefault((tp, "validation"), TypeAdapter(tp))
    refs, defs = TypeAdapter.json_schemas(
        [(tp, mode, adapter) for (tp, mode), adapter in inputs.items()], ref_template=REF
    )
    return _Schemas(dict(refs), dict(defs.get("$defs", {})))


def _operation(
    path: str, method: str, op: Operation, op_id: str, schemas: _Schemas
) -> dict[str, Any]:
    write = method != "GET"
    path_params = re.findall(r"{([^}:]+)", path)
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in path_params
    ]
    if op.query is not None:
        params += _query_params(op.query, schemas)
    for name, tp in op.extra_query.items():
        params.append(
            {"name": name, "in": "query", "schema": _drop_null(schemas.ref(tp, "validation"))}
        )
    if write:
        params.append(
            {
                "name": "X-KOMOJU-IDEMPOTENCY",
                "in": "header",
                "description": "1 to 100 printable ASCII characters; a repeat within 24 "
                "hours gets the first response back.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 100},
            }
        )
    if op.scenario:
        params.append(
            {
                "name": "Komoju-Scenario",
                "in": "header",
                "description": "Test mode only: force a processor outcome.",
                "schema": {"type": "string"},
            }
        )
    if path.startswith("/api/v1/"):
        params.append(
            {
                "name": "Kessai-Fault",
                "in": "header",
                "description": "Test mode only: inject a fault into this request "
                "(`error_before`, `error_after`, `drop_after`, `stall_after`; docs/faults.md).",
                "schema": {
                    "type": "string",
                    "enum": ["error_before", "error_after", "drop_after", "stall_after"],
                },
            }
        )
    statuses = {401, 422, 429}
    statuses |= {500, 503} if path.startswith("/api/v1/") else set()
    statuses |= {403} if op.key == "secret" else set()
    statuses |= {400, 408, 409, 413} if write else set()
    statuses |= {404} if path_params else set()
    statuses |= {402} if op.declines else set()
    statuses |= {503} if op.processor else set()
    responses: dict[str, Any] = (
        {"204": {"description": "No Content"}}
        if op.ok is None
        else {"200": _json("OK", schemas.ref(op.ok), op.media_type)}
    )
    error = schemas.ref(ErrorBody)
    for status in sorted(statuses):
        responses[str(status)] = _json(ERRORS[status], error)
    responses["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    responses["429"]["headers"] = {
        "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}
    }
    security: list[dict[str, list[str]]] = [{"secretKey": []}]
    if op.key == "publishable":
        security.append({"publishableKey": []})
    elif op.key == "signature":
        security = []
    elif op.key == "optional":
        security = [{}, {"secretKey": []}, {"publishableKey": []}]
    doc: dict[str, Any] = {
        "operationId": op_id,
        "summary": op.summary,
        "security": security,
        "parameters": params,
        "responses": responses,
    }
    if op.description:
        doc["description"] = op.description
    if op.body is not None:
        doc["requestBody"] = _request_body(op.body, schemas)
    return doc


def _json(
    description: str, schema: dict[str, Any], media_type: str | tuple[str, ...] = "application/json"
) -> dict[str, Any]:
    types = (media_type,) if isinstance(media_type, str) else media_type
    return {"description": description, "content": {t: {"schema": schema} for t in types}}


def _request_body(model: Any, schemas: _Schemas) -> dict[str, Any]:
    ref = schemas.ref(model, "validation")
    name = ref["$ref"].rsplit("/", 1)[-1]
    properties = schemas.definitions[name].get("properties", {})
    nested = {
        prop: {"style": "deepObject", "explode": True}
        for prop, schema in properties.items()
        if _is_structured(schema)
    }
    form: dict[str, Any] = {"schema": ref}
    if nested:
        form["encoding"] = nested
    return {
        "required": bool(schemas.definitions[name].get("required")),
        "description": "JSON, or form encoding with bracket nesting; an empty body is an "
        "empty object.",
        "content": {"application/json": {"schema": ref}, "application/x-www-form-urlencoded": form},
    }


def _is_structured(schema: Mapping[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(o.get("type") in ("object", "array") or "$ref" in o for o in options)


def _query_params(model: type[BaseModel], schemas: _Schemas) -> list[dict[str, Any]]:
    ref = schemas.ref(model, "validation")
    definition = schemas.definitions[ref["$ref"].rsplit("/", 1)[-1]]
    required = set(definition.get("required", ()))
    params = []
    for name, schema in definition.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": _drop_null(schema),
        }
        if param["schema"].get("type") == "array":  # a comma list: a,b
            param["style"], param["explode"] = "form", False
        params.append(param)
    return params


def _drop_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: `null` is not a value it can take."""
    result = {k: v for k, v in schema.items() if not (k == "default" and v is None)}
    options = [o for o in schema.get("anyOf", ()) if o.get("type") != "null"]
    if len(options) == 1:
        del result["anyOf"]
        result.update(options[0])
    return result
