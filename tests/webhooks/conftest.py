"""Fixtures for the webhook tests: a recording HTTP receiver, servers with a 1-second retry
base on stores of their own, and separate `kessai worker` processes.

Every server here gets a database of its own (a new SQLite file, or a new PostgreSQL
database when KESSAI_DATABASE_URL names one). Sharing the session store would let the
session `server` fixture's embedded worker (60-second retry base) claim these tests'
deliveries whenever the whole suite runs, and the worker tests must be sure that the only
workers delivering are the ones they start.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import (
    CARD,
    KESSAI,
    Merchant,
    Server,
    fresh_database,
    run_async,
    served,
    start_server,
    stop_server,
)
from tests.openapi_contract import contract_hook
from tests.webhooks.receiver import Received, Receiver

__all__ = ["Received", "Receiver"]  # the tests import them from here

T = TypeVar("T")

# The environment every server and worker here runs with.
FAST_RETRIES = {
    "KESSAI_WEBHOOK_RETRY_BASE_SECONDS": "1",
    # A short claim lease, so a killed worker's deliveries come due again within seconds.
    "KESSAI_WEBHOOK_TIMEOUT_SECONDS": "4",
    "KESSAI_WEBHOOK_LEASE_SECONDS": "8",
    "KESSAI_WEBHOOK_ALLOW_PRIVATE": "test",  # the receiver is on 127.0.0.1
    "KESSAI_LOG_LEVEL": "info",
}


# --------------------------------------------------------------------------- receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    recv.up()
    try:
        yield recv
    finally:
        recv.down()


# --------------------------------------------------------------------------- stores


@pytest.fixture(scope="package")
def hooks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`kessai serve` with its embedded worker, retry base 1 s, on a store of its own."""
    workdir = tmp_path_factory.mktemp("hooks")
    with served(workdir, env=FAST_RETRIES) as srv:
        yield srv


# --------------------------------------------------------------------------- workers


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: Any

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class SplitStack:
    """A server without its embedded worker, and `kessai worker` processes beside it."""

    server: Server
    workdir: Path
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, env: dict[str, str] | None = None) -> Worker:
        [worker] = self.start_workers(1, env)
        return worker

    def start_workers(self, count: int, env: dict[str, str] | None = None) -> list[Worker]:
        """`count` `kessai worker` processes (retry base 1 s), started side by side."""
        full_env = {
            **os.environ,
            **FAST_RETRIES,
            "KESSAI_DATABASE_URL": self.server.database_url,
            **(env or {}),
        }
        started = []
        for _ in range(count):
            log_path = self.workdir / f"worker-{len(self.workers)}.log"
            log_file = log_path.open("wb")
            process = subprocess.Popen(
                [*KESSAI, "worker"],
                env=full_env,
                cwd=self.workdir,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            worker = Worker(process, log_path, log_file)
            self.workers.append(worker)
            started.append(worker)
        deadline = time.monotonic() + 60
        for worker in started:
            while "kessai worker running" not in worker.log():
                if worker.process.poll() is not None:
                    raise RuntimeError(f"kessai worker exited:\n{worker.log()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"kessai worker did not start:\n{worker.log()}")
                time.sleep(0.05)
        return started

    @staticmethod
    def stop_worker(worker: Worker) -> None:
        if worker.process.poll() is None:
            worker.process.terminate()
            try:
                worker.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        worker.log_file.close()


@pytest.fixture
def split_stack(tmp_path: Path) -> Iterator[SplitStack]:
    """A fresh store served with KESSAI_EMBEDDED_WORKER=0; the test starts the workers."""
    with fresh_database(tmp_path) as url:
        srv = start_server(url, tmp_path, env={**FAST_RETRIES, "KESSAI_EMBEDDED_WORKER": "0"})
        stack = SplitStack(srv, tmp_path)
        try:
            yield stack
        finally:
            for worker in stack.workers:
                stack.stop_worker(worker)
            stop_server(srv)


# --------------------------------------------------------------------------- merchants


@dataclass
class HookMerchant(Merchant):
    webhook_secret: str | None = None
    webhook_endpoint_id: str | None = None

    def admin(self, key: str | None = None) -> httpx.Client:
        """A client for kessai's own /kessai/v1 API."""
        return httpx.Client(
            base_url=f"{self.server.base_url}/kessai/v1",
            auth=(key or self.secret_key, ""),
            timeout=30,
            event_hooks={"response": [contract_hook(self.server.base_url)]},
        )


def create_merchant(server: Server, name: str, webhook_url: str | None = None) -> HookMerchant:
    """`kessai merchant create --json [--webhook-url URL]`."""
    args = [*KESSAI, "merchant", "create", "--name", name, "--json"]
    if webhook_url is not None:
        args += ["--webhook-url", webhook_url]
    out = subprocess.run(
        args, env=server.env(), cwd=server.workdir, capture_output=True, check=True, timeout=60
    )
    data = json.loads(out.stdout)
    if webhook_url is not None:
        assert data.get("webhook_secret"), data
        assert data.get("webhook_endpoint_id"), data
    return HookMerchant(
        server,
        data["id"],
        data["name"],
        data["secret_key"],
        data["publishable_key"],
        data.get("webhook_secret"),
        data.get("webhook_endpoint_id"),
    )


# --------------------------------------------------------------------------- helpers


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `check()` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def create_payment(client: httpx.Client, **params: Any) -> dict[str, Any]:
    body = {"amount": 1000, "currency": "JPY", "payment_details": CARD, **params}
    resp = client.post("/payments", json=body)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def create_payments(merchant: Merchant, count: int, concurrency: int = 8) -> list[str]:
    """`count` captured card payments through POST /payments, `concurrency` at a time."""
    import asyncio

    async def run() -> list[str]:
        sem = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=f"{merchant.server.base_url}/api/v1",
            auth=(merchant.secret_key, ""),
            timeout=60,
            limits=limits,
        ) as client:

            async def one(i: int) -> str:
                async with sem:
                    resp = await client.post(
                        "/payments",
                        json={"amount": 100 + i, "currency": "JPY", "payment_details": CARD},
                    )
                assert resp.status_code == 200, resp.text
                return str(resp.json()["id"])

            return list(await asyncio.gather(*(one(i) for i in range(count))))

    ids: list[str] = run_async(run())
    return ids


def add_endpoint(merchant: HookMerchant, url: str, **params: Any) -> dict[str, Any]:
    with merchant.admin() as admin:
        resp = admin.post("/webhook_endpoints", json={"url": url, **params})
    assert resp.status_code == 200, resp.text
    endpoint = dict(resp.json())
    assert endpoint["resource"] == "webhook_endpoint", endpoint
    assert re.fullmatch(r"[a-z0-9]{25}", endpoint["id"]), endpoint
    assert endpoint["url"] == url, endpoint
    assert endpoint["livemode"] is False, endpoint
    assert isinstance(endpoint["secret"], str) and len(endpoint["secret"]) >= 32, endpoint
    return endpoint


def deliveries(merchant: HookMerchant, event_id: str) -> dict[str, Any]:
    with merchant.admin() as admin:
        resp = admin.get(f"/events/{event_id}/deliveries")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def recorded(merchant: HookMerchant, event_id: str) -> dict[str, Any] | None:
    """The event's deliveries once there are some and none is pending any more."""
    found = deliveries(merchant, event_id)
    pending = any(d["status"] == "pending" for d in found["deliveries"])
    return None if pending or not found["deliveries"] else found


def all_events(merchant: Merchant) -> list[dict[str, Any]]:
    """Every event of the merchant through GET /api/v1/events, page by page."""
    found: list[dict[str, Any]] = []
    with merchant.client() as client:
        page = 1
        while True:
            resp = client.get("/events", params={"page": page, "per_page": 100})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            found += body["data"]
            if page >= body["last_page"]:
                return found
            page += 1
