"""Webhook metrics: attempts by outcome, finished deliveries and the delivery lag move with
real deliveries, in `kessai serve` (its /metrics) and in `kessai worker` (its own port)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, free_port, served
from tests.webhooks.conftest import (
    FAST_RETRIES,
    Receiver,
    SplitStack,
    create_merchant,
    create_payment,
    wait_until,
)


def sample(url: str, name: str, **labels: str) -> float:
    text = httpx.get(url, timeout=10).text
    want = set(labels.items())
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and want <= set(s.labels.items())
    )


@pytest.fixture
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own, so its counters move only with this test."""
    workdir = tmp_path_factory.mktemp("hook-metrics")
    with served(workdir, env=FAST_RETRIES) as srv:
        yield srv


def check_round_trip(metrics_url: str, server: Server, receiver: Receiver) -> None:
    receiver.fail_first = 1  # every event: 500 first, then 200 on the retry (1 s later)
    merchant = create_merchant(server, "Hook Metrics Shop", webhook_url=receiver.url)
    with merchant.client() as api:
        for _ in range(2):
            create_payment(api)
    receiver.wait(lambda r: len(r.ids(status=200)) >= 3, 40, "ping + 2 events delivered")
    wait_until(
        lambda: sample(metrics_url, "kessai_webhook_deliveries_total", outcome="delivered") == 3,
        30,
        "three deliveries counted",
    )
    assert sample(metrics_url, "kessai_webhook_attempts_total", outcome="5xx") == 3
    assert sample(metrics_url, "kessai_webhook_attempts_total", outcome="2xx") == 3
    assert sample(metrics_url, "kessai_webhook_deliveries_total", outcome="failed") == 0
    assert sample(metrics_url, "kessai_webhook_delivery_lag_seconds_count") == 3
    # Each was delivered on its retry, at least a retry base (1 s) after the event.
    assert sample(metrics_url, "kessai_webhook_delivery_lag_seconds_sum") >= 3
    assert sample(metrics_url, "kessai_webhook_delivery_lag_seconds_bucket", le="0.5") == 0


def test_webhook_metrics_in_the_server(own_server: Server, receiver: Receiver) -> None:
    check_round_trip(f"{own_server.base_url}/metrics", own_server, receiver)


def test_webhook_metrics_of_a_separate_worker_on_its_own_port(
    split_stack: SplitStack, receiver: Receiver
) -> None:
    port = free_port()
    split_stack.start_worker(env={"KESSAI_WORKER_METRICS_PORT": str(port)})
    worker_metrics = f"http://127.0.0.1:{port}/metrics"
    check_round_trip(worker_metrics, split_stack.server, receiver)
    # The server delivered nothing itself (KESSAI_EMBEDDED_WORKER=0).
    assert sample(f"{split_stack.server.base_url}/metrics", "kessai_webhook_attempts_total") == 0
    assert sample(worker_metrics, "kessai_db_pool_size", pool="main") == 20
