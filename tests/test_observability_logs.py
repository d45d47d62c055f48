"""Logs, audit and readiness, black-box against `kessai serve` with KESSAI_LOG_FORMAT=json.

Every log line is one JSON object; a request's lines carry its id, taken from a sane
X-Request-Id (or made) and returned on every response, errors included; each money move
writes exactly one `kessai.audit` line, with no card data; `/ready` is 503 with a reason
while the store's schema is behind, when `/health` (liveness) still answers 200.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kessai.hosted.pages import INTERNAL_ERROR
from kessai.observe.ready import head_revisions
from tests.api.helpers import create_session, pay
from tests.conftest import (
    CARD,
    Merchant,
    Server,
    _pg,
    run_async,
    served,
)

HEX32 = re.compile(r"[0-9a-f]{32}")
CVV = "7319"
BUYER = {"name": "Hanako Observability", "email": "obs-buyer@example.test"}


@pytest.fixture(scope="module")
def json_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("logs")
    with served(workdir, env={"KESSAI_LOG_FORMAT": "json"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def shop(json_server: Server) -> Merchant:
    return json_server.merchant("Logs Shop")


def log_records(server: Server) -> list[dict[str, Any]]:
    """Every JSON line the server logged (the CLI's own startup text is not a log line)."""
    records = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))  # a line that starts as JSON must be JSON
    return records


def wait_for_records(
    server: Server, check: Callable[[list[dict[str, Any]]], bool], what: str
) -> list[dict[str, Any]]:
    """The records once `check` holds (lines are written as responses finish)."""
    deadline = time.monotonic() + 30
    while True:
        records = log_records(server)
        if check(records):
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"the server log never showed {what}")
        time.sleep(0.05)


def rid() -> dict[str, str]:
    return {"X-Request-Id": f"obs-{uuid.uuid4().hex}"}


def test_every_log_line_is_json_and_uvicorn_lines_too(json_server: Server) -> None:
    records = log_records(json_server)
    assert any(r["logger"].startswith("uvicorn") for r in records), records[:3]
    for record in records:
        assert {"time", "level", "logger", "message", "request_id"} <= record.keys(), record
    text = json_server.log_path.read_text(errors="replace")
    assert "Application startup complete" not in "\n".join(
        line for line in text.splitlines() if not line.startswith("{")
    )


def test_request_id_is_taken_returned_and_on_the_access_line(
    json_server: Server, shop: Merchant
) -> None:
    headers = rid()
    with shop.client() as api:
        resp = api.post("/sessions", json={"amount": 1000, "currency": "JPY"}, headers=headers)
    assert resp.status_code == 200
    sent = headers["X-Request-Id"]
    assert resp.headers["x-request-id"] == sent
    records = wait_for_records(
        json_server,
        lambda rs: any(r.get("request_id") == sent and r["logger"] == "kessai.access" for r in rs),
        "the access line",
    )
    [line] = [r for r in records if r.get("request_id") == sent and r["logger"] == "kessai.access"]
    assert line["method"] == "POST"
    assert line["route"] == "/api/v1/sessions"
    assert line["path"] == "/api/v1/sessions"
    assert line["status"] == 200
    assert line["merchant_id"] == shop.id
    assert line["client"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/api/v1/sessions", 401),  # no key
        ("GET", "/api/v1/sessions", 405),
        ("GET", "/api/v1/not-an-endpoint", 404),
        ("GET", "/sessions/zzzzzzzzzzzzzzzzzzzzzzzzz", 404),  # the hosted page
        ("GET", "/health", 200),
    ],
)
def test_request_id_comes_back_on_errors_too(
    json_server: Server, method: str, path: str, status: int
) -> None:
    headers = rid()
    resp = httpx.request(method, f"{json_server.base_url}{path}", headers=headers)
    assert resp.status_code == status
    assert resp.headers["x-request-id"] == headers["X-Request-Id"]


@pytest.mark.parametrize("bad", ["x" * 129, "two words", 'quote"d', "caf\u00e9", ""])
def test_an_insane_request_id_is_replaced(json_server: Server, bad: str) -> None:
    resp = httpx.get(
        f"{json_server.base_url}/health", headers=[("X-Request-Id", bad.encode("utf-8"))]
    )
    assert HEX32.fullmatch(resp.headers["x-request-id"]), resp.headers


def test_one_audit_line_per_money_move_and_no_card_data(
    json_server: Server, shop: Merchant
) -> None:
    details = {**CARD, "verification_value": CVV, "name": BUYER["name"]}
    ids = [rid() for _ in range(5)]
    with shop.client() as api:
        session = create_session(api, email=BUYER["email"])
        paid = pay(api, session["id"], details, customer_email=BUYER["email"]).json()
        body = {"amount": 3000, "currency": "JPY", "payment_details": details, "capture": False}
        held = api.post("/payments", json=body, headers=ids[0]).json()
        assert api.post(f"/payments/{held['id']}/capture", headers=ids[1]).status_code == 200
        refund = {**ids[2], "X-KOMOJU-IDEMPOTENCY": uuid.uuid4().hex}
        for _ in range(2):  # the replay moves nothing, so writes no second line
            resp = api.post(f"/payments/{held['id']}/refund", json={"amount": 1200}, headers=refund)
            assert resp.status_code == 200, resp.text
        declined = {**details, "number": "4123111111111059"}
        resp = api.post("/payments", json={**body, "payment_details": declined}, headers=ids[3])
        assert resp.status_code == 402, resp.text
    sent = {h["X-Request-Id"] for h in ids[:4]}
    records = wait_for_records(
        json_server,
        lambda rs: {r.get("request_id") for r in rs if r["logger"] == "kessai.audit"} >= sent,
        "the audit lines",
    )
    audit = [r for r in records if r["logger"] == "kessai.audit"]
    mine = [r for r in audit if r.get("payment_id") == held["id"]]
    assert [(r["audit"], r["amount"], r["request_id"]) for r in mine] == [
        ("authorized", 3000, ids[0]["X-Request-Id"]),
        ("captured", 3000, ids[1]["X-Request-Id"]),
        ("refund", 1200, ids[2]["X-Request-Id"]),
    ]
    for line in mine:
        assert line["merchant_id"] == shop.id
        assert line["mode"] == "test"
        assert line["currency"] == "JPY"
        assert line["payment_type"] == "credit_card"
        assert line["level"] == "INFO"
    [decline] = [r for r in audit if r["request_id"] == ids[3]["X-Request-Id"]]
    assert (decline["audit"], decline["code"]) == ("declined", "card_declined")
    assert [r["audit"] for r in audit if r["payment_id"] == paid["payment"]["id"]] == ["captured"]

    text = json_server.log_path.read_text(errors="replace")
    for secret in (CARD["number"], declined["number"], BUYER["name"], BUYER["email"]):
        assert secret not in text, f"{secret!r} is in the server log"
    assert not re.search(rf"(?<![0-9a-f.]){CVV}(?![0-9a-f])", text), "the CVV is in the log"


def set_schema(server: Server, revision: str | None) -> None:
    """Stamp the store's Alembic version (None: as if never migrated)."""
    statements = ["DELETE FROM alembic_version"]
    if revision is not None:
        statements.append(f"INSERT INTO alembic_version (version_num) VALUES ('{revision}')")
    url = server.database_url
    if url.startswith("sqlite:///"):
        with sqlite3.connect(Path(url.removeprefix("sqlite:///"))) as conn:
            for sql in statements:
                conn.execute(sql)
        return
    run_async(_pg(url, ";".join(statements)))


def test_ready_is_503_while_the_schema_is_behind(json_server: Server) -> None:
    ready = f"{json_server.base_url}/ready"
    resp = httpx.get(ready)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "ready"
    [head] = head_revisions()
    try:
        set_schema(json_server, None)
        resp = httpx.get(ready)
        assert resp.status_code == 503, resp.text
        assert resp.json()["reason"] == "schema_not_current"
        assert resp.json()["expected"] == [head]
        # Liveness does not depend on the store.
        assert httpx.get(f"{json_server.base_url}/health").json() == {"status": "ok"}
    finally:
        set_schema(json_server, head)
    assert httpx.get(ready).status_code == 200


async def test_an_unexpected_error_still_returns_the_request_id_and_is_counted() -> None:
    """The 500 answer is written outside every middleware: it must carry the id too.

    In-process (a route that raises cannot be reached from outside), without a store."""
    from prometheus_client import REGISTRY

    from kessai.app import create_app
    from kessai.settings import Settings

    app = create_app(Settings())

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/boom", boom)
    labels = {"method": "GET", "route": "/api/v1/boom", "status": "500"}

    def count() -> float:
        return REGISTRY.get_sample_value("kessai_http_requests_total", labels) or 0.0

    before = count()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kessai.test") as client:
        resp = await client.get("/api/v1/boom", headers={"X-Request-Id": "boom-1"})
    assert resp.status_code == 500
    assert resp.json()["error"]["code"] == "internal_server_error"
    assert resp.json()["error"]["message"] == INTERNAL_ERROR  # the hosted 500 page's words
    assert resp.headers["x-request-id"] == "boom-1"
    assert count() == before + 1
