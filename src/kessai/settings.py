"""Settings, read once from `KESSAI_*` environment variables and passed down.

Nothing else in kessai reads the environment; `create_app(settings)` and the CLI take a
`Settings` object, so tests build their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///kessai.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    base_url: str = "http://127.0.0.1:8000"
    # Pool size per server process (PostgreSQL); SQLite uses a small pool of its own.
    db_pool_size: int = 20
    log_level: str = "info"
    # Seconds between deadline sweeps in each server process (0 turns the sweeper off).
    sweep_interval: float = 30.0
    # Run webhook delivery and sweeps inside `kessai serve` (off when `kessai worker` runs).
    embedded_worker: bool = True
    webhook_retry_base: float = 60.0
    webhook_timeout: float = 10.0
    # How long a worker's claim on a delivery lasts; must outlast webhook_timeout.
    webhook_lease: float = 60.0
    webhook_allow_private: str = "test"  # test | all | none (see worker/addresses.py)
    # Seconds an authenticated API key is remembered in each process (0: look up every time).
    auth_cache_seconds: float = 30.0
    bench_floor: bool = False  # expose /bench/floor (benchmarks only)

    def __post_init__(self) -> None:
        if self.webhook_lease <= self.webhook_timeout:
            raise ValueError("KESSAI_WEBHOOK_LEASE_SECONDS must exceed the webhook timeout")

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, host: str = "127.0.0.1", port: int = 8000
    ) -> Settings:
        env = os.environ if env is None else env
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        return cls(
            database_url=env.get("KESSAI_DATABASE_URL") or DEFAULT_DATABASE_URL,
            base_url=(env.get("KESSAI_BASE_URL") or f"http://{shown_host}:{port}").rstrip("/"),
            db_pool_size=int(env.get("KESSAI_DB_POOL_SIZE") or 20),
            log_level=env.get("KESSAI_LOG_LEVEL") or "info",
            sweep_interval=float(env.get("KESSAI_SWEEP_INTERVAL") or 30),
            embedded_worker=(env.get("KESSAI_EMBEDDED_WORKER") or "1") not in ("0", "false"),
            webhook_retry_base=float(env.get("KESSAI_WEBHOOK_RETRY_BASE_SECONDS") or 60),
            webhook_timeout=float(env.get("KESSAI_WEBHOOK_TIMEOUT_SECONDS") or 10),
            webhook_lease=float(env.get("KESSAI_WEBHOOK_LEASE_SECONDS") or 60),
            webhook_allow_private=_policy(env.get("KESSAI_WEBHOOK_ALLOW_PRIVATE") or "test"),
            auth_cache_seconds=float(env.get("KESSAI_AUTH_CACHE_SECONDS") or 30),
            bench_floor=env.get("KESSAI_BENCH_FLOOR") == "1",
        )


def _policy(value: str) -> str:
    if value not in ("test", "all", "none"):
        raise ValueError("KESSAI_WEBHOOK_ALLOW_PRIVATE must be test, all or none")
    return value
