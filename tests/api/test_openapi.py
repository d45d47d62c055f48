"""/openapi.json: valid OpenAPI 3.1, complete, generated from the types; /docs serves it.

The check that every response of the black-box suite agrees with the document is the
response hook `Merchant.client()` installs (tests/openapi_contract.py); its own behaviour is
tested here too.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from openapi_spec_validator import OpenAPIV31SpecValidator
from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api import openapi
from kessai.schemas import shapes
from tests.conftest import Server
from tests.openapi_contract import Contract

# The wire contract's endpoints (docs API.md sections 2 to 5 and 8) and the key kind each
# takes: the publishable key only where section 1 allows it.
CONTRACT = {
    ("post", "/api/v1/sessions"): "secret",
    ("get", "/api/v1/sessions/{session_id}"): "publishable",
    ("post", "/api/v1/sessions/{session_id}/cancel"): "secret",
    ("post", "/api/v1/sessions/{session_id}/pay"): "publishable",
    ("post", "/api/v1/payments"): "secret",
    ("get", "/api/v1/payments"): "secret",
    ("get", "/api/v1/payments/{payment_id}"): "secret",
    ("patch", "/api/v1/payments/{payment_id}"): "secret",
    ("post", "/api/v1/payments/{payment_id}/capture"): "secret",
    ("post", "/api/v1/payments/{payment_id}/refund"): "secret",
    ("post", "/api/v1/payments/{payment_id}/cancel"): "secret",
    ("post", "/api/v1/payments/{payment_id}/refund_request"): "secret",
    ("post", "/api/v1/customers"): "secret",
    ("get", "/api/v1/customers"): "secret",
    ("get", "/api/v1/customers/{customer_id}"): "secret",
    ("patch", "/api/v1/customers/{customer_id}"): "secret",
    ("post", "/api/v1/customers/{customer_id}"): "secret",
    ("delete", "/api/v1/customers/{customer_id}"): "secret",
    ("post", "/api/v1/tokens"): "publishable",
    ("get", "/api/v1/payment_methods"): "publishable",
    ("get", "/api/v1/events"): "secret",
    ("get", "/api/v1/events/{event_id}"): "secret",
    ("post", "/api/v1/subscriptions"): "secret",
    ("get", "/api/v1/subscriptions"): "secret",
    ("get", "/api/v1/subscriptions/{subscription_id}"): "secret",
    ("delete", "/api/v1/subscriptions/{subscription_id}"): "secret",
    ("get", "/api/v1/barcodes/{payment_id}"): "optional",
    ("post", "/api/v1/secure_tokens"): "publishable",
    ("get", "/api/v1/secure_tokens/{secure_token_id}"): "secret",
    ("post", "/api/v1/payments/{payment_id}/finalize"): "secret",
    ("delete", "/api/v1/external_customers/{id}"): "secret",
    ("get", "/api/v1/balances/{currency}"): "secret",
    ("get", "/api/v1/balances/{currency}/transactions"): "secret",
    ("get", "/api/v1/balances/{currency}/transactions/{transaction_id}"): "secret",
    ("get", "/api/v1/settlements"): "secret",
    ("get", "/api/v1/settlements/{settlement_id}"): "secret",
    ("get", "/api/v1/settlements/{settlement_id}/csv"): "secret",
    ("get", "/api/v1/settlements/{settlement_id}/pdf"): "secret",
    ("get", "/api/v1/settlements/{settlement_id}/xls"): "secret",
    ("get", "/api/v1/chargeback_requests"): "secret",
    ("get", "/api/v1/chargeback_requests/{chargeback_id}"): "secret",
    ("post", "/api/v1/chargeback_requests/{chargeback_id}/accept"): "secret",
    ("post", "/api/v1/chargeback_requests/{chargeback_id}/defend"): "secret",
    ("post", "/api/v1/disbursements"): "secret",
    ("get", "/api/v1/disbursements"): "secret",
    ("get", "/api/v1/disbursements/report"): "secret",
    ("get", "/api/v1/disbursements/{disbursement_id}"): "secret",
    ("post", "/api/v1/disbursements/{disbursement_id}/cancel"): "secret",
    ("get", "/kessai/v1/clock"): "secret",
    ("post", "/kessai/v1/clock"): "secret",
    ("post", "/kessai/v1/chargebacks"): "secret",
    ("get", "/kessai/v1/chargebacks/{chargeback_id}/document"): "secret",
    ("get", "/kessai/v1/ledger/settings"): "secret",
    ("patch", "/kessai/v1/ledger/settings"): "secret",
    ("get", "/kessai/v1/webhook_endpoints"): "secret",
    ("post", "/kessai/v1/webhook_endpoints"): "secret",
    ("delete", "/kessai/v1/webhook_endpoints/{endpoint_id}"): "secret",
    ("get", "/kessai/v1/events/{event_id}/deliveries"): "secret",
    ("post", "/kessai/v1/events/{event_id}/redeliver"): "secret",
    # Signed by KOMOJU, not called with a key.
    ("post", "/kessai/v1/processors/komoju/webhooks/{merchant_id}"): "signature",
}


@pytest.fixture(scope="module")
def document(server: Server) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return dict(response.json())


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): op
        for path, item in document["paths"].items()
        for method, op in item.items()
    }


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    errors = list(OpenAPIV31SpecValidator(document).iter_errors())
    assert not errors, [str(e)[:300] for e in errors[:5]]


def test_validator_refuses_a_broken_document(document: dict[str, Any]) -> None:
    broken = {**document, "paths": {"/x": {"get": {"responses": {"200": {}}}}}}
    assert list(OpenAPIV31SpecValidator(broken).iter_errors())


def test_every_contract_endpoint_with_its_key_kinds(document: dict[str, Any]) -> None:
    ops = operations(document)
    assert set(ops) == set(CONTRACT)
    for key, kind in CONTRACT.items():
        schemes = {name for req in ops[key]["security"] for name in req}
        expected = {
            "publishable": {"secretKey", "publishableKey"},
            "optional": {"secretKey", "publishableKey"},
            "secret": {"secretKey"},
            "signature": set(),
        }[kind]
        assert schemes == expected, key
        assert ("403" in ops[key]["responses"]) == (kind == "secret"), key
    basic = document["components"]["securitySchemes"]
    assert {s["type"] for s in basic.values()} == {"http"}
    assert {s["scheme"] for s in basic.values()} == {"basic"}


def test_parameters_bodies_and_errors(document: dict[str, Any]) -> None:
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for (method, path), op in operations(document).items():
        in_path = {p["name"] for p in op["parameters"] if p["in"] == "path"}
        assert in_path == set(re.findall(r"{(\w+)}", path)), (method, path)
        for status in ("401", "422", "429"):
            assert op["responses"][status]["content"]["application/json"]["schema"] == error
        assert "Retry-After" in op["responses"]["429"]["headers"]
        if in_path:
            assert "404" in op["responses"], (method, path)
        if method != "get":
            assert {"400", "409", "413"} <= set(op["responses"]), (method, path)
            headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
            assert "X-KOMOJU-IDEMPOTENCY" in headers
        if "requestBody" in op:
            content = op["requestBody"]["content"]
            assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
            assert (
                content["application/json"]["schema"]
                == (content["application/x-www-form-urlencoded"]["schema"])
            )
    ops = operations(document)
    create = ops[("post", "/api/v1/sessions")]["requestBody"]["content"]
    form = create["application/x-www-form-urlencoded"]
    assert form["encoding"]["metadata"] == {"style": "deepObject", "explode": True}
    listing = {p["name"]: p for p in ops[("get", "/api/v1/payments")]["parameters"]}
    assert {"page", "per_page", "start_time", "end_time", "status", "currency"} <= set(listing)
    assert listing["start_time"]["schema"]["format"] == "date-time"
    assert "402" in ops[("post", "/api/v1/sessions/{session_id}/pay")]["responses"]


def test_schemas_are_the_render_types(document: dict[str, Any]) -> None:
    """The document's schemas are the TypedDicts the builders return, not a copy."""
    schemas = document["components"]["schemas"]
    for shape in (shapes.Session, shapes.Payment, shapes.Customer, shapes.Token):
        schema = schemas[shape.__name__]
        assert set(schema["properties"]) == set(shape.__annotations__)
        optional = {k for k, v in shape.__annotations__.items() if "NotRequired[" in str(v)}
        assert set(schema["required"]) == set(shape.__annotations__) - optional
        assert schema["additionalProperties"] is False
    ops = operations(document)
    ok = ops[("get", "/api/v1/sessions/{session_id}")]["responses"]["200"]["content"]
    assert ok["application/json"]["schema"] == {"$ref": "#/components/schemas/Session"}
    adapter = TypeAdapter(shapes.Session)
    mine = adapter.json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    assert mine["properties"] == schemas["Session"]["properties"]


def test_a_route_without_a_declaration_is_refused() -> None:
    router = APIRouter()

    @router.get("/undeclared")
    async def undeclared(request: Request) -> Response:
        return Response()

    with pytest.raises(LookupError, match="undeclared"):
        openapi.build([("/api/v1", router)])


def test_document_is_built_once_per_process(server: Server) -> None:
    first = httpx.get(f"{server.base_url}/openapi.json").content
    assert httpx.get(f"{server.base_url}/openapi.json").content == first


def test_docs_page_uses_only_this_server(server: Server) -> None:
    page = httpx.get(f"{server.base_url}/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = dict(
        part.strip().split(" ", 1)
        for part in page.headers["content-security-policy"].split(";")
        if part.strip()
    )
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"
    assert "<script>" not in page.text  # no inline script: CSP would block it
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets)
    types = {".js": "javascript", ".css": "text/css"}
    for asset in assets:
        response = httpx.get(f"{server.base_url}{asset}")
        assert response.status_code == 200, asset
        assert types[asset[asset.rindex(".") :]] in response.headers["content-type"], asset


# --- the response hook the black-box suite runs ---------------------------------------


def test_contract_hook_refuses_what_the_document_does_not_say(document: dict[str, Any]) -> None:
    contract = Contract(document)
    json_type = {"content-type": "application/json"}
    error = b'{"error":{"code":"not_found","message":"No.","param":null,"details":{}}}'
    path = "/api/v1/payments/abc"
    assert contract.problems("GET", path, 404, json_type, error) == ""
    assert "status not in the document" in contract.problems("GET", path, 418, json_type, error)
    assert "content type" in contract.problems(
        "GET", path, 404, {"content-type": "text/plain"}, b"nope"
    )
    # A body missing a required field, and one with a field the type does not name.
    assert '"param" is a required property' in contract.problems(
        "GET", path, 404, json_type, b'{"error":{"code":"x","message":"y","details":{}}}'
    )
    extra = b'{"error":{"code":"x","message":"y","param":null,"details":{},"trace":"..."}}'
    assert "trace" in contract.problems("GET", path, 404, json_type, extra)
    # Undocumented paths and methods are not judged.
    assert contract.problems("GET", "/api/v1/nope", 404, json_type, error) == ""
    assert contract.problems("OPTIONS", "/api/v1/tokens", 204, {}, b"") == ""
