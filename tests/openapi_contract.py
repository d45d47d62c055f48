"""Every response the black-box suite receives is checked against /openapi.json.

`Merchant.client()` (conftest) installs `contract_hook(server)` as an httpx response hook:
the response's path template, method and status must be in the document, and its JSON
body must validate against the schema the document gives for them. Requests to paths or
methods the document does not describe (a 404 for an unknown path, a CORS preflight) are
not checked. Documents and compiled validators are cached per server; validation is
jsonschema-rs (a list of 10 payments: ~0.1 ms, against ~50 ms with `jsonschema`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema_rs


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.templates = [
            (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"), path)
            for path in document["paths"]
        ]
        self._validators: dict[tuple[str, str, str], Any] = {}

    def template(self, path: str) -> str | None:
        exact = path if path in self.document["paths"] else None
        return exact or next((t for rx, t in self.templates if rx.match(path)), None)

    def problems(self, method: str, path: str, status: int, headers: Any, body: bytes) -> str:
        """Why this response contradicts the document ("" when it does not, or when the
        document does not describe this path and method)."""
        template = self.template(path)
        operations = self.document["paths"].get(template or "", {})
        if method.lower() not in operations:
            return ""
        where = f"{method} {template} -> {status}"
        responses = operations[method.lower()]["responses"]
        if str(status) not in responses:
            return f"{where}: status not in the document (it lists {sorted(responses)})"
        content = responses[str(status)].get("content", {})
        if not content:  # 204: no body
            return f"{where}: a body where the document says none: {body[:200]!r}" if body else ""
        media = headers.get("content-type", "").split(";")[0].strip()
        if media not in content:
            return f"{where}: content type {media!r} not in the document ({sorted(content)})"
        if media != "application/json":
            return ""  # a download (text/csv): its content type is checked, not its body
        try:
            data = httpx.Response(200, content=body).json()
        except ValueError:
            return f"{where}: body is not JSON: {body[:200]!r}"
        validator = self._validator(template or "", method.lower(), str(status))
        errors = list(validator.iter_errors(data))[:5]
        return "; ".join(
            f"{where}: /{'/'.join(map(str, e.instance_path))}: {e.message[:300]}" for e in errors
        )

    def _validator(self, template: str, method: str, status: str) -> Any:
        key = (template, method, status)
        if key not in self._validators:
            response = self.document["paths"][template][method]["responses"][status]
            schema = response["content"]["application/json"]["schema"]
            root = {"allOf": [schema], "components": self.document["components"]}
            self._validators[key] = jsonschema_rs.Draft202012Validator(root)
        return self._validators[key]


_contracts: dict[str, Contract] = {}


def contract(base_url: str) -> Contract:
    if base_url not in _contracts:
        response = httpx.get(f"{base_url}/openapi.json", timeout=30)
        response.raise_for_status()
        _contracts[base_url] = Contract(response.json())
    return _contracts[base_url]


def contract_hook(base_url: str) -> Callable[[httpx.Response], None]:
    """An httpx response hook that fails the test on a response the document denies."""

    def check(response: httpx.Response) -> None:
        body = response.read()
        request = response.request
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        problem = contract(base_url).problems(
            request.method, path, response.status_code, response.headers, body
        )
        assert not problem, f"response contradicts /openapi.json: {problem}"

    return check
