"""Every kessai metric, and `/metrics` itself (Prometheus text, from `prometheus_client`).

One process (`kessai serve --workers 1`, `kessai worker`) keeps its metrics in memory and
`/metrics` shows the default registry, so counters other modules define appear as well.
With several server processes, `kessai serve` points PROMETHEUS_MULTIPROC_DIR at a fresh
directory before the processes start: each process writes its values to files there and
`/metrics`, whichever process answers, adds up every process's files (prometheus_client's
multiprocess mode). A process that stops marks itself dead, so its pool gauges leave the sum.

Database pool use is read from SQLAlchemy's pools when scraped (one process), or published
by each process every few seconds into gauges the directory sums (several processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes
POOL_SAMPLE_SECONDS = 5.0

REQUESTS = Counter(
    "kessai_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "kessai_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PAYMENTS = Counter(
    "kessai_payments",
    "Committed payment outcomes, by payment type, outcome (authorized, captured, declined, "
    "failed, cancelled, expired, refunded, partially_refunded, refund_requested), decline "
    "code and mode.",
    ["payment_type", "outcome", "code", "mode"],
)
PROCESSOR_CALLS = Counter(
    "kessai_processor_calls",
    "Calls to processors (reconciling ones too), by processor, kind (authorize, complete, "
    "capture, refund, cancel, vault) and answer (approved, declined, needs_action, "
    "awaiting_customer, vaulted, unknown: the outcome was lost and is reconciled later).",
    ["processor", "kind", "answer"],
)
WEBHOOK_ATTEMPTS = Counter(
    "kessai_webhook_attempts",
    "Webhook delivery attempts, by outcome (the receiver's status class 2xx..5xx, or error).",
    ["outcome"],
)
WEBHOOK_DELIVERIES = Counter(
    "kessai_webhook_deliveries",
    "Webhook deliveries finished, by outcome (delivered, or failed: given up).",
    ["outcome"],
)
WEBHOOK_LAG = Histogram(
    "kessai_webhook_delivery_lag_seconds",
    "Time from an event's creation to its webhook's successful delivery.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 3 * 86400),
)

# The pools this process uses, by name ("main", and on SQLite "sqlite_writer").
_pools: dict[str, AsyncEngine] = {}
_POOL_HELP = {
    "checked_out": "Database connections in use, by pool.",
    "size": "Database connections the pool keeps open at most when idle, by pool.",
    "overflow": "Database connections open beyond the pool size (a burst), by pool.",
}
# Several processes: each publishes its pools here and the directory sums the live ones.
_pool_gauges = {
    stat: Gauge(
        f"kessai_db_pool_{stat}", text, ["pool"], registry=None, multiprocess_mode="livesum"
    )
    for stat, text in _POOL_HELP.items()
}


@contextlib.contextmanager
def server_processes(workers: int, chosen: str | None) -> Iterator[str | None]:
    """`kessai serve`: the multiprocess directory its server processes share (None: one
    process, metrics in memory). `chosen` is the operator's (`Settings.metrics_dir`); with
    several processes and none chosen, a fresh directory for this run, removed when they
    have stopped. The caller hands it to the processes (PROMETHEUS_MULTIPROC_DIR, which
    prometheus_client reads itself) before they start."""
    if workers <= 1 or chosen is not None:
        yield chosen
        return
    directory = tempfile.mkdtemp(prefix="kessai-metrics-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _stats() -> Iterable[tuple[str, dict[str, int]]]:
    for name, engine in list(_pools.items()):
        pool: Any = engine.pool
        try:
            yield (
                name,
                {
                    "checked_out": int(pool.checkedout()),
                    "size": int(pool.size()),
                    "overflow": max(0, int(pool.overflow())),
                },
            )
        except AttributeError:  # a pool kind without these numbers (none that kessai makes)
            continue


class _PoolCollector(Collector):
    """One process: the pools' numbers, read when /metrics is scraped."""

    def collect(self) -> Iterable[Metric]:
        families = {
            stat: GaugeMetricFamily(f"kessai_db_pool_{stat}", text, labels=["pool"])
            for stat, text in _POOL_HELP.items()
        }
        for name, numbers in _stats():
            for stat, value in numbers.items():
                families[stat].add_metric([name], value)
        return families.values()


REGISTRY.register(_PoolCollector())


def track_pools(engines: Mapping[str, AsyncEngine | None]) -> None:
    """Report these engines' pools (the latest engine under each name wins)."""
    for name, engine in engines.items():
        if engine is not None:
            _pools[name] = engine


def publish_pools() -> None:
    """Several processes: write this process's pool numbers where the directory sums them."""
    for name, numbers in _stats():
        for stat, value in numbers.items():
            _pool_gauges[stat].labels(name).set(value)


@contextlib.asynccontextmanager
async def process_metrics(directory: str | None) -> AsyncIterator[None]:
    """For the life of a server process: with several processes, publish the pools every
    few seconds, and mark the process dead when it stops."""
    if directory is None:
        yield
        return

    async def publish_forever() -> None:
        while True:
            publish_pools()
            await asyncio.sleep(POOL_SAMPLE_SECONDS)

    task = asyncio.create_task(publish_forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        mark_process_dead(os.getpid(), directory)


def exposition(directory: str | None) -> bytes:
    """The text `/metrics` answers: this process's registry, or every process's files."""
    if directory is None:
        return generate_latest(REGISTRY)
    publish_pools()
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)


# --------------------------------------------------------------------------- recording


# The labelled children of the request metrics, by (method, route, status): looked up once
# (labels() takes a lock and builds a key each time). Bounded like the labels themselves.
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def request_done(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    children = _request_children.get(key)
    if children is None:
        children = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def processor_call(processor: str, kind: str, answer: object) -> None:
    name = {
        "Approved": "approved",
        "Declined": "declined",
        "NeedsAction": "needs_action",
        "AwaitingCustomer": "awaiting_customer",
        "Vaulted": "vaulted",
    }.get(type(answer).__name__, "unknown")
    PROCESSOR_CALLS.labels(processor, kind, name).inc()


def payment_outcome(payment_type: str, outcome: str, livemode: bool, code: str | None) -> None:
    PAYMENTS.labels(payment_type, outcome, code or "", "live" if livemode else "test").inc()


def webhook_round(rows: Sequence[Mapping[Any, Any]], outcomes: Sequence[Mapping[str, Any]]) -> None:
    """Count a round's recorded attempts (`rows` as claimed, `outcomes` in the same order)."""
    for row, outcome in zip(rows, outcomes, strict=False):
        status = outcome.get("status_code")
        WEBHOOK_ATTEMPTS.labels(f"{status // 100}xx" if status is not None else "error").inc()
        if outcome.get("delivered"):
            WEBHOOK_DELIVERIES.labels("delivered").inc()
            created: datetime | None = row.get("queued_at")  # real time, as started is
            started: datetime | None = outcome.get("started_at")
            if created is not None and started is not None:
                lag = (started - created).total_seconds() + outcome.get("latency_ms", 0) / 1000
                WEBHOOK_LAG.observe(max(0.0, lag))
        elif outcome.get("next_attempt_at") is None:
            WEBHOOK_DELIVERIES.labels("failed").inc()


def serve_worker_metrics(host: str, port: int) -> None:
    """`kessai worker`: serve this process's /metrics on its own port (a daemon thread)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host)
