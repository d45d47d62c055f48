"""/metrics, black-box against real `kessai serve` processes: the text parses as Prometheus
exposition, counters move with traffic (requests by route template and status, payments
by type and outcome), the pool gauges are there, and with `--workers 2` every scrape,
whichever process answers it, shows the installation's totals."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kessai.settings import Settings
from tests.api.helpers import DECLINES, card, create_session, pay
from tests.conftest import CARD, Merchant, Server, served

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SESSION = "/api/v1/sessions/{session_id}"
DECLINED_CARD, DECLINE_CODE = next(iter(DECLINES.items()))


def scrape(server: Server, **kwargs: Any) -> Samples:
    """One GET /metrics on a new connection, parsed by prometheus_client's own parser."""
    resp = httpx.get(f"{server.base_url}/metrics", timeout=30, **kwargs)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain"), resp.headers
    samples: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, lbl), v in samples.items() if n == name and want <= lbl)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: nothing but these tests moves its counters."""
    workdir = tmp_path_factory.mktemp("metrics")
    with served(workdir) as srv:
        yield srv


@pytest.fixture(scope="module")
def shop(metered: Server) -> Merchant:
    return metered.merchant("Metrics Shop")


def test_requests_are_counted_by_route_template_and_status(metered: Server, shop: Merchant) -> None:
    with shop.client() as api:
        session = create_session(api)
        before = scrape(metered)
        for _ in range(3):
            assert api.get(f"/sessions/{session['id']}").status_code == 200
        assert api.get("/sessions/zzzzzzzzzzzzzzzzzzzzzzzzz").status_code == 404
        create_session(api)
        assert httpx.get(f"{metered.base_url}/api/v1/no/such/{uuid.uuid4().hex}").status_code == 404
        assert httpx.get(f"{metered.base_url}/static/checkout.css").status_code == 200
    after = scrape(metered)
    count = "kessai_http_requests_total"
    assert moved(before, after, count, method="GET", route=SESSION, status="200") == 3
    assert moved(before, after, count, method="GET", route=SESSION, status="404") == 1
    assert moved(before, after, count, method="POST", route="/api/v1/sessions", status="200") == 1
    assert moved(before, after, count, route="<unmatched>", status="404") == 1
    assert moved(before, after, count, route="/static/{path}", status="200") == 1
    latency = "kessai_http_request_duration_seconds_count"
    assert moved(before, after, latency, method="GET", route=SESSION) == 4
    assert value(after, "kessai_http_request_duration_seconds_sum", route=SESSION) > 0
    labels = {v for (_, lbl) in after for _, v in lbl}
    assert not any(session["id"] in label for label in labels), "a raw id became a label"


def test_payments_are_counted_by_type_and_outcome_once_committed(
    metered: Server, shop: Merchant
) -> None:
    total = "kessai_payments_total"
    before = scrape(metered)
    with shop.client() as api:
        assert pay(api, create_session(api)["id"]).status_code == 200
        assert pay(api, create_session(api)["id"], card(DECLINED_CARD)).status_code == 402
        body = {"amount": 1000, "currency": "JPY", "payment_details": CARD, "capture": False}
        held = api.post("/payments", json=body).json()
        assert held["status"] == "authorized", held
        assert api.post(f"/payments/{held['id']}/capture").status_code == 200
        assert api.post(f"/payments/{held['id']}/refund", json={"amount": 400}).status_code == 200
        assert api.post(f"/payments/{held['id']}/refund").status_code == 200
        other = api.post("/payments", json=body).json()
        assert api.post(f"/payments/{other['id']}/cancel").status_code == 200
        # An idempotent replay moves nothing a second time.
        key = {"X-KOMOJU-IDEMPOTENCY": uuid.uuid4().hex}
        first = api.post("/payments", json={**body, "capture": True}, headers=key)
        again = api.post("/payments", json={**body, "capture": True}, headers=key)
        assert first.json()["id"] == again.json()["id"]
        konbini = {"type": "konbini", "store": "lawson", "email": "buyer@example.test"}
        cash = api.post("/payments", json={**body, "payment_details": konbini})
        assert cash.status_code == 200, cash.text
    after = scrape(metered)
    card_type = {"payment_type": "credit_card", "mode": "test"}
    assert moved(before, after, total, outcome="captured", **card_type) == 3
    assert moved(before, after, total, outcome="authorized", **card_type) == 2
    assert moved(before, after, total, outcome="declined", code=DECLINE_CODE, **card_type) == 1
    assert moved(before, after, total, outcome="partially_refunded", **card_type) == 1
    assert moved(before, after, total, outcome="refunded", **card_type) == 1
    assert moved(before, after, total, outcome="cancelled", **card_type) == 1
    assert moved(before, after, total, payment_type="konbini", outcome="authorized") == 1
    assert moved(before, after, total) == 10


def test_database_pool_use_is_reported(metered: Server) -> None:
    samples = scrape(metered)
    assert value(samples, "kessai_db_pool_size", pool="main") == 20  # KESSAI_DB_POOL_SIZE
    assert value(samples, "kessai_db_pool_checked_out", pool="main") >= 0
    assert ("kessai_db_pool_overflow", frozenset({("pool", "main")})) in samples


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("metrics2")
    env = {"KESSAI_METRICS_TOKEN": "metrics-token-1", "KESSAI_DB_POOL_SIZE": "3"}
    with served(workdir, "--workers", "2", env=env) as srv:
        yield srv


TOKEN = {"Authorization": "Bearer metrics-token-1"}


def test_metrics_token_is_required_when_set(two_workers: Server) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDo="}):
        resp = httpx.get(f"{two_workers.base_url}/metrics", headers=headers)
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"]["code"] == "unauthorized"
    scrape(two_workers, headers=TOKEN)


def test_totals_add_up_across_server_processes(two_workers: Server, tmp_path: Path) -> None:
    # Each process publishes its pool into the shared directory: two processes, 3 each.
    deadline_scrapes = 100
    for _ in range(deadline_scrapes):
        if value(scrape(two_workers, headers=TOKEN), "kessai_db_pool_size", pool="main") == 6:
            break
    else:
        raise AssertionError("the pool gauges never summed both processes (2 x 3)")
    merchant = two_workers.merchant("Two Workers")
    requests, payments = 40, 10
    for _ in range(requests):  # a new connection each: the processes share them
        assert httpx.get(f"{two_workers.base_url}/ready").status_code == 200
    for _ in range(payments):
        with merchant.client() as api:
            assert (
                api.post(
                    "/payments", json={"amount": 500, "currency": "JPY", "payment_details": CARD}
                ).status_code
                == 200
            )
    for _ in range(8):  # whichever process answers, the same totals
        samples = scrape(two_workers, headers=TOKEN)
        assert value(samples, "kessai_http_requests_total", route="/ready") == requests
        assert value(samples, "kessai_http_request_duration_seconds_count", route="/ready") == (
            requests
        )
        assert value(samples, "kessai_payments_total", outcome="captured") == payments


def test_text_log_lines_carry_the_request_id(metered: Server, shop: Merchant) -> None:
    """The default format (text): `TIME LEVEL LOGGER [REQUEST_ID] MESSAGE`, one per line."""
    request_id = f"text-{uuid.uuid4().hex}"
    with shop.client() as api:
        resp = api.post(
            "/sessions",
            json={"amount": 500, "currency": "JPY"},
            headers={"X-Request-Id": request_id},
        )
    assert resp.headers["x-request-id"] == request_id
    wanted = f"INFO kessai.access [{request_id}] POST /api/v1/sessions 200 "
    for _ in range(300):  # the line is written as the response finishes: wait for it
        if wanted in metered.log_path.read_text(errors="replace"):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"no access line {wanted!r} in the server log")


def test_the_multiprocess_directory_comes_from_settings_not_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`metrics.server_processes` neither reads nor writes the environment: the operator's
    directory arrives as `Settings.metrics_dir`, and the CLI hands the result on."""
    import os

    from kessai.observe import metrics

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    chosen = str(tmp_path / "chosen")
    with metrics.server_processes(1, None) as directory:
        assert directory is None  # one process: in memory
    with metrics.server_processes(2, chosen) as directory:
        assert directory == chosen
    with metrics.server_processes(2, None) as directory:
        assert directory is not None and Path(directory).is_dir()
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert not Path(directory).exists()  # a fresh one lasts for the run only
    assert Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": chosen}).metrics_dir == chosen


def test_a_server_process_takes_host_and_port_from_the_cli() -> None:
    env = {"KESSAI_HOST": "0.0.0.0", "KESSAI_PORT": "8123"}  # noqa: S104
    assert Settings.for_server_process(env).base_url == "http://127.0.0.1:8123"
    assert Settings.for_server_process({}).base_url == "http://127.0.0.1:8000"
