"""Request bodies: JSON or HTML form encoding (with bracket nesting), identical in meaning.

    metadata[order]=1            → {"metadata": {"order": "1"}}
    line_items[0][amount]=500    → {"line_items": {"0": {"amount": "500"}}}
    payment_types[]=konbini      → {"payment_types": ["konbini"]}

Form values stay strings; the request schemas accept digit strings as integers and
"true"/"false" as booleans, and objects keyed "0", "1", ... where they expect arrays, so both
encodings mean the same thing. An empty body is an
empty object whatever its content type.

Every key and string value is checked here, once, before any schema or store sees it: a NUL
(PostgreSQL cannot store it) or a lone UTF-16 surrogate (JSON's "\\ud800"; nothing can
encode it, so it would fail only when the response is rendered, after the work) is a 422
`invalid_parameter` naming the parameter in bracket form. A body that is not JSON or
UTF-8 at all stays a 400 `bad_request`.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from kessai.core import rules
from kessai.errors import BadRequest, InvalidParameter

MAX_BODY = 1024 * 1024
MAX_DEPTH = 16
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def parse_body(
    content_type: str | None, raw: bytes, *, max_bytes: int = MAX_BODY
) -> dict[str, Any]:
    """The body's parameters; `max_bytes`: larger for a route that takes a file (the edge
    lets that route's bodies through, `kessai.edge.middleware.LARGE_BODIES`)."""
    if len(raw) > max_bytes:
        raise BadRequest(f"The request body is larger than {max_bytes // MAX_BODY} MiB.")
    if not raw.strip():
        return {}
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if not media:
        media = (
            "application/json"
            if raw.lstrip()[:1] in (b"{", b"[")
            else ("application/x-www-form-urlencoded")
        )
    # JSON can only carry a NUL or a lone surrogate as a \u escape (a raw control character
    # is invalid JSON), and a form a NUL only as %00 (UTF-8 decoding refuses encoded
    # surrogates): a body without those needs no walk. UTF-16 or UTF-32 JSON (which
    # json.loads also reads) always holds NUL bytes, so it is always walked.
    if media == "application/json" or media.endswith("+json"):
        data = _json(raw)
        return storable(data) if b"\\u" in raw or b"\x00" in raw else data
    if media == "application/x-www-form-urlencoded":
        data = _form(raw)
        return storable(data) if b"%00" in raw or b"\x00" in raw else data
    raise BadRequest(
        f"Unsupported Content-Type {media!r}: send application/json or "
        "application/x-www-form-urlencoded."
    )


def storable(data: dict[str, Any]) -> dict[str, Any]:
    """`data` unchanged, unless a key or string in it can be neither stored nor rendered."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            items = list(node.items())
        elif isinstance(node, list):
            items = [(str(i), v) for i, v in enumerate(node)]
        else:
            if isinstance(node, str):
                _check(path, node)
            continue
        for key, value in items:
            _check((*path, key), key)
            stack.append(((*path, key), value))
    return data


def _check(path: tuple[str, ...], value: str) -> None:
    try:
        rules.storable(value)
    except rules.Invalid as exc:
        shown = [rules.printable(p) for p in path]
        name = shown[0] + "".join(f"[{p}]" for p in shown[1:])
        raise InvalidParameter(f"{name} {exc.message}", param=name) from None


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    except RecursionError:
        raise BadRequest("The JSON request body is nested too deeply.") from None
    if not isinstance(data, dict):
        raise BadRequest("The JSON request body must be an object of parameters.")
    return data


def _form(raw: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The form-encoded request body could not be parsed.") from None
    root: dict[str, Any] = {}
    for key, value in pairs:
        _assign(root, key, value)
    return root


def _assign(root: dict[str, Any], key: str, value: str) -> None:
    head, _, rest = key.partition("[")
    if not head:
        raise BadRequest(f"Form field {key!r} has no name.")
    path = [head]
    if rest:
        path += _SEGMENT.findall("[" + rest)
    if len(path) > MAX_DEPTH:
        raise BadRequest(f"Form field {key[:40]!r}... is nested too deeply.")
    node: Any = root
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if part == "":  # "a[]": append
            if not isinstance(node, _Appendable):
                raise BadRequest(f"Form field {key!r} mixes list and object forms.")
            if last:
                node.append(value)
                return
            node.append({})
            node = node[-1]
            continue
        if not isinstance(node, dict):
            raise BadRequest(f"Form field {key!r} mixes list and object forms.")
        if last:
            node[part] = value
            return
        nxt = path[i + 1]
        if part not in node or not isinstance(node[part], (dict, list)):
            node[part] = _Appendable() if nxt == "" else {}
        node = node[part]


class _Appendable(list[Any]):
    pass
