"""Shared fixtures: a real store (SQLite file, or PostgreSQL when KESSAI_DATABASE_URL says
so), a real `kessai serve` process, merchants made with `kessai merchant create --json`,
and the KOMOJU SDK schemas every response is checked against.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jsonschema
import pytest

from tests.openapi_contract import contract_hook

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = Path(__file__).resolve().parent / "reference" / "komoju-sdk-schemas"
KESSAI = [sys.executable, "-m", "kessai"]


def kessai(*args: str | bytes, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the `kessai` command with `env` added to this environment; never raises on exit."""
    return subprocess.run(
        [*KESSAI, *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _postgres_url() -> str | None:
    url = os.environ.get("KESSAI_DATABASE_URL", "")
    return url if url.startswith(("postgresql://", "postgres://")) else None


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion from sync test code, whatever loop is running here.

    A thread of its own keeps it clear of pytest-asyncio's and Playwright's loops.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _pg(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(tmp_dir: Path) -> Iterator[str]:
    """A new, empty store: a PostgreSQL database when KESSAI_DATABASE_URL names a server
    (dropped afterwards), otherwise a SQLite file in `tmp_dir`."""
    pg = _postgres_url()
    if pg is None:
        yield f"sqlite:///{tmp_dir / f'kessai-{secrets.token_hex(4)}.db'}"
        return
    name = f"kessai_test_{secrets.token_hex(4)}"
    run_async(_pg(pg, f'CREATE DATABASE "{name}"'))
    base, _, _ = pg.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        run_async(_pg(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The store the test run's shared server uses."""
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        yield url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base_url: str
    database_url: str
    log_path: Path
    workdir: Path
    process: subprocess.Popen[bytes]
    log_file: Any = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "KESSAI_DATABASE_URL": self.database_url}

    def merchant(self, name: str = "Test Shop") -> Merchant:
        out = subprocess.run(
            [*KESSAI, "merchant", "create", "--name", name, "--json"],
            env=self.env(),
            cwd=self.workdir,
            capture_output=True,
            check=True,
            timeout=60,
        )
        data = json.loads(out.stdout)
        return Merchant(
            self,
            data["id"],
            data["name"],
            data["secret_key"],
            data["publishable_key"],
            live_secret_key=data.get("live_secret_key"),
            live_publishable_key=data.get("live_publishable_key"),
        )


@dataclass
class Merchant:
    server: Server
    id: str
    name: str
    secret_key: str
    publishable_key: str
    # Keyword-only, so subclasses' positional fields keep their places.
    live_secret_key: str | None = field(default=None, kw_only=True)
    live_publishable_key: str | None = field(default=None, kw_only=True)

    def move_clock(self, **body: Any) -> dict[str, Any]:
        """Move this merchant's test clock (`POST /kessai/v1/clock` with `advance_seconds=`
        or `now=`): deadlines are seen to pass by moving it, never by waiting. Its answer."""
        resp = httpx.post(
            f"{self.server.base_url}/kessai/v1/clock",
            json=body,
            auth=(self.secret_key, ""),
            timeout=300,
        )
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        """An API client; every response it gets must agree with /openapi.json."""
        hooks = kwargs.pop("event_hooks", {})
        hooks["response"] = [*hooks.get("response", []), contract_hook(self.server.base_url)]
        return httpx.Client(
            base_url=f"{self.server.base_url}/api/v1",
            auth=(key or self.secret_key, ""),
            timeout=30,
            event_hooks=hooks,
            **kwargs,
        )


# The suite sends everything from one address, with many deliberate failures: its servers
# run with the rate limits on, but far above what it sends (tests/api/test_limits.py starts
# servers with tight ones).
SUITE_LIMITS = {
    "KESSAI_RATE_LIMIT_ADDRESS": "1000000/minute",
    "KESSAI_RATE_LIMIT_KEY": "1000000/minute",
    "KESSAI_RATE_LIMIT_CARD_KEY": "1000000/minute",
    "KESSAI_RATE_LIMIT_CARD_ADDRESS": "1000000/minute",
    "KESSAI_RATE_LIMIT_FAILED_AUTH": "1000000/minute",
}


def start_server(
    database_url: str, workdir: Path, *extra: str, env: dict[str, str] | None = None
) -> Server:
    """Start `kessai serve` on a free port; `env` adds (or overrides) environment variables."""
    port = free_port()
    log_path = workdir / f"server-{port}.log"
    base_env = {**os.environ, "KESSAI_DATABASE_URL": database_url, "KESSAI_LOG_LEVEL": "info"}
    base_env.pop("KESSAI_BASE_URL", None)
    env = {**base_env, **SUITE_LIMITS, **(env or {})}
    log = log_path.open("wb")
    process = subprocess.Popen(
        [*KESSAI, "serve", "--port", str(port), *extra],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(f"kessai serve exited:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return Server(base_url, database_url, log_path, workdir, process, log)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    log.close()
    raise RuntimeError(f"kessai serve did not become healthy:\n{log_path.read_text()}")


@contextlib.contextmanager
def served(workdir: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A `kessai serve` of its own on a fresh store (see `fresh_database`), stopped after."""
    with fresh_database(workdir) as url:
        srv = start_server(url, workdir, *extra, env=env)
        try:
            yield srv
        finally:
            stop_server(srv)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    if server.log_file is not None:
        server.log_file.close()


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(database_url, tmp_path_factory.mktemp("server"))
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture(scope="session")
def merchant(server: Server) -> Merchant:
    return server.merchant("Test Shop")


@pytest.fixture
def api(merchant: Merchant) -> Iterator[httpx.Client]:
    """An API client with the shared merchant's secret key."""
    with merchant.client() as client:
        yield client


@pytest.fixture
def public_api(merchant: Merchant) -> Iterator[httpx.Client]:
    """An API client with the shared merchant's publishable key."""
    with merchant.client(merchant.publishable_key) as client:
        yield client


_schema_cache: dict[str, dict[str, Any]] = {}


def assert_schema(body: Any, name: str) -> None:
    """Fail unless `body` validates against the KOMOJU SDK schema `name`."""
    if name not in _schema_cache:
        _schema_cache[name] = json.loads((SCHEMAS / f"{name}.json").read_text())
    validator = jsonschema.Draft7Validator(_schema_cache[name])
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{name} schema: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:5]
    )


def assert_error(
    response: httpx.Response, status: int, code: str, param: str | None = ...
) -> dict[str, Any]:  # type: ignore[assignment]
    """Fail unless the response is a KOMOJU error with this status, code (and param)."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert_schema(body, "APIError")
    assert body["error"]["code"] == code, body
    if param is not ...:
        assert body["error"]["param"] == param, body
    assert body["error"]["message"], body
    return body


# Expiry years are relative to today, so the good card never expires under the suite.
CARD_YEAR = date.today().year + 5
EXPIRED_YEAR = date.today().year - 1
CARD = {
    "type": "credit_card",
    "number": "4111111111111111",
    "month": 12,
    "year": CARD_YEAR,
    "verification_value": "123",
    "name": "Taro Yamada",
}


def wait_for(condition: Callable[[], T | None], *, what: str, timeout: float = 15.0) -> T:
    """Poll `condition` until it returns something truthy (returned); fail after `timeout`.

    For tests that wait for an event they can observe (a session's expiry, a clock that has
    moved) instead of sleeping for a guessed time.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.02)


def moment_after(created_at: str | None) -> datetime:
    """A millisecond of this machine's clock (which the server reads, to the millisecond)
    strictly after `created_at` (None: now), waited for: an object created after this call
    has a `created_at` at or after it."""
    if created_at is None:
        now = datetime.now(UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)
    after = datetime.fromisoformat(created_at.replace("Z", "+00:00")) + timedelta(milliseconds=1)

    def passed() -> datetime | None:
        now = datetime.now(UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000) if now >= after else None

    return wait_for(passed, what=f"the clock to pass {created_at}")
