"""Input a hostile client sends to the API, by class; each was a 500 (or worse) once.

- timestamps whose UTC equivalent leaves the calendar (any list's start_time/end_time);
- NUL and other control characters in any string the edge accepts: JSON and form bodies
  (values and keys), query parameters, headers that reach the store;
- path ids that are not ids (`/payments/%00`): 404 without a query;
- lone UTF-16 surrogates in JSON strings and keys: refused before any work is done.

PostgreSQL is where NUL broke (text and JSONB cannot hold it): run this on both stores.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.helpers import UNKNOWN_ID, create_session, parse_time
from tests.conftest import CARD, Merchant, Server, assert_error

LISTS = ["/payments", "/customers", "/events"]
BEYOND_CALENDAR = [
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "0001-01-01T00:00:00+00:01",
    "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
    "9999-12-31T23:59:59.999999-00:01",
]


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("param", ["start_time", "end_time"])
@pytest.mark.parametrize("value", BEYOND_CALENDAR)
def test_timestamp_beyond_the_calendar_is_422(
    api: httpx.Client, path: str, param: str, value: str
) -> None:
    assert_error(api.get(path, params={param: value}), 422, "invalid_parameter", param)


@pytest.mark.parametrize("path", LISTS)
def test_calendar_edges_in_utc_are_a_valid_range(api: httpx.Client, path: str) -> None:
    resp = api.get(
        path, params={"start_time": "0001-01-01T00:00:00Z", "end_time": "9999-12-31T23:59:59Z"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["start_time"] == "0001-01-01T00:00:00.000Z", body["start_time"]
    assert parse_time(body["end_time"]).year == 9999


def test_offsets_are_applied_not_dropped(api: httpx.Client) -> None:
    resp = api.get("/customers", params={"start_time": "2030-01-01T09:00:00+09:00"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["start_time"] == "2030-01-01T00:00:00.000Z"


# --- strings in bodies: NUL and lone surrogates ------------------------------------------------

BAD = "\x00"
SESSION = {"amount": 1000, "currency": "JPY"}
PAYMENT = {"amount": 1000, "currency": "JPY", "payment_details": CARD}

# (path, body with BAD somewhere, the parameter the error must name)
BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("/sessions", {**SESSION, "metadata": {"order": f"a{BAD}b"}}, "metadata[order]"),
    ("/sessions", {**SESSION, "metadata": {f"k{BAD}": "v"}}, "metadata[k\\u0000]"),
    ("/sessions", {**SESSION, "return_url": f"https://shop.example/{BAD}"}, "return_url"),
    ("/sessions", {**SESSION, "email": f"a{BAD}@example.com"}, "email"),
    ("/sessions", {**SESSION, "external_customer_id": BAD}, "external_customer_id"),
    (
        "/sessions",
        {**SESSION, "line_items": [{"amount": 1, "description": BAD}]},
        "line_items[0][description]",
    ),
    ("/sessions", {**SESSION, "payment_data": {"name": BAD}}, "payment_data[name]"),
    ("/sessions", {**SESSION, "payment_types": ["credit_card", BAD]}, "payment_types[1]"),
    ("/sessions", {**SESSION, f"unknown{BAD}": "1"}, "unknown\\u0000"),
    ("/sessions", {**SESSION, "currency": f"JPY{BAD}"}, "currency"),
    ("/payments", {**PAYMENT, "description": f"x{BAD}"}, "description"),
    ("/payments", {**PAYMENT, "payment_details": {**CARD, "name": BAD}}, "payment_details[name]"),
    ("/payments", {**PAYMENT, "fraud_details": {"ip": BAD}}, "fraud_details[ip]"),
    ("/customers", {"email": f"c{BAD}@example.com"}, "email"),
    ("/customers", {"metadata": {"note": BAD}}, "metadata[note]"),
    ("/tokens", {"payment_details": {**CARD, "name": BAD}}, "payment_details[name]"),
]


def _ids(cases: list[tuple[str, dict[str, Any], str]]) -> list[str]:
    return [f"{path}:{param}" for path, _, param in cases]


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Bracket form encoding of a JSON body, as KOMOJU's clients send it."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _flatten(v, f"{prefix}[{k}]" if prefix else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _flatten(v, f"{prefix}[{i}]")]
    return [(prefix, str(value))]


def _swap(value: Any, bad: str) -> Any:
    """`value` with every NUL (in keys and strings) replaced by `bad`."""
    if isinstance(value, dict):
        return {_swap(k, bad): _swap(v, bad) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, bad) for v in value]
    return value.replace(BAD, bad) if isinstance(value, str) else value


@pytest.mark.parametrize(("path", "body", "param"), BODIES, ids=_ids(BODIES))
def test_nul_in_json_body_is_422_naming_the_parameter(
    api: httpx.Client, path: str, body: dict[str, Any], param: str
) -> None:
    error = assert_error(api.post(path, json=body), 422, "invalid_parameter", param)
    assert "\x00" not in json.dumps(error)


@pytest.mark.parametrize(("path", "body", "param"), BODIES, ids=_ids(BODIES))
def test_nul_in_form_body_is_422_naming_the_parameter(
    api: httpx.Client, path: str, body: dict[str, Any], param: str
) -> None:
    resp = api.post(path, data=dict(_flatten(body)))
    assert_error(resp, 422, "invalid_parameter", param)


@pytest.mark.parametrize(("path", "body", "param"), BODIES, ids=_ids(BODIES))
def test_lone_surrogate_in_json_is_422_naming_the_parameter(
    api: httpx.Client, path: str, body: dict[str, Any], param: str
) -> None:
    raw = json.dumps(_swap(body, "\ud800"))  # ensure_ascii: the escape "\ud800" on the wire
    assert "\\ud800" in raw
    resp = api.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert_error(resp, 422, "invalid_parameter", param.replace("\\u0000", "\\ud800"))


def test_nul_in_pay_and_webhook_bodies(api: httpx.Client, merchant: Merchant) -> None:
    session = create_session(api)
    resp = api.post(
        f"/sessions/{session['id']}/pay", json={"payment_details": {**CARD, "name": BAD}}
    )
    assert_error(resp, 422, "invalid_parameter", "payment_details[name]")
    assert api.get(f"/sessions/{session['id']}").json()["status"] == "pending"
    hooks = f"{merchant.server.base_url}/kessai/v1/webhook_endpoints"
    resp = api.post(hooks, json={"url": f"http://127.0.0.1:9/{BAD}"})
    assert_error(resp, 422, "invalid_parameter", "url")


def test_control_characters_in_text_are_422(api: httpx.Client) -> None:
    for bad in ("\x07", "\x1b[31m", "\x7f", "\x85"):
        resp = api.post("/sessions", json={**SESSION, "payment_data": {"name": f"a{bad}"}})
        assert_error(resp, 422, "invalid_parameter", "payment_data[name]")
    resp = api.post("/payments", json={**PAYMENT, "description": "line one\r\n\tline two"})
    assert resp.status_code == 200, resp.text  # tab and line breaks are text
    assert resp.json()["description"] == "line one\r\n\tline two"


def test_refused_surrogate_did_no_work_and_replays(server: Server) -> None:
    """The error comes before the work: nothing was created, and the stored error replays."""
    shop = server.merchant("Surrogate Shop")
    raw = '{"email":"a@example.com","metadata":{"note":"\\udfff"}}'
    headers = {"Content-Type": "application/json", "X-KOMOJU-IDEMPOTENCY": "surrogate-1"}
    with shop.client() as client:
        first = client.post("/customers", content=raw, headers=headers)
        assert_error(first, 422, "invalid_parameter", "metadata[note]")
        again = client.post("/customers", content=raw, headers=headers)
        assert (again.status_code, again.json()) == (first.status_code, first.json())
        assert client.get("/customers").json()["total"] == 0


# --- path ids, query parameters, headers ------------------------------------------------------

NOT_IDS = [
    "%00",
    "a%00",
    "ABCDEFGHIJKLMNOPQRSTUVWXY",
    "a" * 26,
    "a" * 24,
    "%ED%A0%80",
    "%C3%A9" * 25,
]
BY_ID = [
    ("GET", "/api/v1/payments/{}"),
    ("PATCH", "/api/v1/payments/{}"),
    ("POST", "/api/v1/payments/{}/capture"),
    ("POST", "/api/v1/payments/{}/refund_request"),
    ("GET", "/api/v1/sessions/{}"),
    ("POST", "/api/v1/sessions/{}/cancel"),
    ("POST", "/api/v1/sessions/{}/pay"),
    ("GET", "/api/v1/customers/{}"),
    ("DELETE", "/api/v1/customers/{}"),
    ("GET", "/api/v1/events/{}"),
    ("GET", "/kessai/v1/events/{}/deliveries"),
    ("DELETE", "/kessai/v1/webhook_endpoints/{}"),
]


@pytest.mark.parametrize("bad", NOT_IDS)
@pytest.mark.parametrize(("method", "path"), BY_ID, ids=[f"{m} {p}" for m, p in BY_ID])
def test_path_id_that_is_not_an_id_is_404(
    api: httpx.Client, server: Server, method: str, path: str, bad: str
) -> None:
    url = server.base_url + path.format(bad)
    resp = api.request(method, url, json={} if method != "GET" else None)
    assert_error(resp, 404, "not_found", None)


def test_bad_path_id_still_needs_a_key(server: Server) -> None:
    resp = httpx.get(f"{server.base_url}/api/v1/payments/%00")
    assert_error(resp, 401, "unauthorized")
    with httpx.Client(auth=("sk_test_unknown", "")) as client:
        assert_error(client.get(f"{server.base_url}/api/v1/payments/%00"), 401, "unauthorized")


def test_well_formed_unknown_id_is_still_looked_up(api: httpx.Client) -> None:
    assert_error(api.get(f"/payments/{UNKNOWN_ID}"), 404, "not_found")


@pytest.mark.parametrize(
    ("path", "query", "param"),
    [
        ("/payments", "currency=%00", "currency"),
        ("/payments", "external_order_num=a%00b", "external_order_num"),
        ("/payments", "status=captured%01", "status"),
        ("/customers", "start_time=%00", "start_time"),
        ("/events", "type=payment.captured%00", "type"),
        ("/events", "page=1%0a", "page"),
        ("/customers", "x%00y=1", "x\\u0000y"),
        ("/payment_methods", "unused=%1b", "unused"),
    ],
)
def test_control_characters_in_query_are_422(
    api: httpx.Client, path: str, query: str, param: str
) -> None:
    assert_error(api.get(f"{path}?{query}"), 422, "invalid_parameter", param)


def test_control_characters_in_scenario_header_are_422(api: httpx.Client) -> None:
    resp = api.post("/payments", json=PAYMENT, headers=[(b"Komoju-Scenario", b"capture\x85")])
    assert_error(resp, 422, "invalid_parameter", "Komoju-Scenario")
