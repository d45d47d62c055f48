"""Settings, read once from `KESSAI_*` environment variables and passed down.

Nothing else in kessai reads the environment; `create_app(settings)` and the CLI take a
`Settings` object, so tests build their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from kessai.edge.faults import FaultSpec, parse_faults
from kessai.edge.settings import EdgeSettings
from kessai.settings_parsing import (
    LOG_LEVELS,
    SettingsError,
    env_bool,
    env_choice,
    env_float,
    env_int,
    parse_base_url,
    parse_database_url,
)

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
    # Seconds between rounds of the reconciler of lost processor answers (0: off).
    reconcile_interval: float = 5.0
    # Run webhook delivery and sweeps inside `kessai serve` (off when `kessai worker` runs).
    embedded_worker: bool = True
    webhook_retry_base: float = 60.0
    webhook_timeout: float = 10.0
    # How long a worker's claim on a delivery lasts; must outlast webhook_timeout.
    webhook_lease: float = 60.0
    webhook_allow_private: str = "test"  # test | test-private | all | none (core/addresses.py)
    # Seconds an authenticated API key is remembered in each process (0: look up every time).
    auth_cache_seconds: float = 30.0
    bench_floor: bool = False  # expose /bench/floor (benchmarks only)
    # Operations (kessai/observe): log lines as text or JSON; a bearer token /metrics then
    # requires (None: open); prometheus_client's multiprocess directory (`serve --workers N`
    # sets it); the port `kessai worker` serves its own /metrics on (0: none).
    log_format: str = "text"
    metrics_token: str | None = None
    metrics_dir: str | None = None
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 0
    # Rate limits, body size and connection deadlines (see kessai/edge/settings.py).
    edge: EdgeSettings = field(default_factory=EdgeSettings)
    # Faults injected into /api/v1 requests (`serve --faults`; kessai/edge/faults.py).
    faults: FaultSpec = field(default_factory=FaultSpec)

    def __post_init__(self) -> None:
        if self.webhook_lease <= self.webhook_timeout:
            raise SettingsError(
                "KESSAI_WEBHOOK_LEASE_SECONDS must exceed KESSAI_WEBHOOK_TIMEOUT_SECONDS"
            )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, host: str = "127.0.0.1", port: int = 8000
    ) -> Settings:
        env = os.environ if env is None else env
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        return cls(
            database_url=parse_database_url(env.get("KESSAI_DATABASE_URL"), DEFAULT_DATABASE_URL),
            base_url=parse_base_url(env.get("KESSAI_BASE_URL"), f"http://{shown_host}:{port}"),
            db_pool_size=env_int(env, "KESSAI_DB_POOL_SIZE", 20, minimum=1),
            log_level=env_choice(env, "KESSAI_LOG_LEVEL", "info", LOG_LEVELS),
            sweep_interval=env_float(env, "KESSAI_SWEEP_INTERVAL", 30),
            reconcile_interval=env_float(env, "KESSAI_RECONCILE_INTERVAL", 5),
            embedded_worker=env_bool(env, "KESSAI_EMBEDDED_WORKER", True),
            webhook_retry_base=env_float(env, "KESSAI_WEBHOOK_RETRY_BASE_SECONDS", 60),
            webhook_timeout=env_float(env, "KESSAI_WEBHOOK_TIMEOUT_SECONDS", 10, positive=True),
            webhook_lease=env_float(env, "KESSAI_WEBHOOK_LEASE_SECONDS", 60, positive=True),
            webhook_allow_private=env_choice(
                env, "KESSAI_WEBHOOK_ALLOW_PRIVATE", "test", ("test", "test-private", "all", "none")
            ),
            auth_cache_seconds=env_float(env, "KESSAI_AUTH_CACHE_SECONDS", 30),
            bench_floor=env_bool(env, "KESSAI_BENCH_FLOOR", False),
            log_format=env_choice(env, "KESSAI_LOG_FORMAT", "text", ("text", "json")),
            metrics_token=env.get("KESSAI_METRICS_TOKEN") or None,
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            worker_metrics_host=env.get("KESSAI_WORKER_METRICS_HOST") or "127.0.0.1",
            worker_metrics_port=env_int(env, "KESSAI_WORKER_METRICS_PORT", 0, maximum=65535),
            edge=EdgeSettings.from_env(env),
            faults=parse_faults(env.get("KESSAI_FAULTS")),
        )

    @classmethod
    def for_server_process(cls, env: Mapping[str, str] | None = None) -> Settings:
        """A `kessai serve` process's settings: the CLI hands its --host and --port down
        as KESSAI_HOST and KESSAI_PORT (they shape the default base URL)."""
        env = os.environ if env is None else env
        return cls.from_env(
            env,
            host=env.get("KESSAI_HOST") or "127.0.0.1",
            port=env_int(env, "KESSAI_PORT", 8000, minimum=1, maximum=65535),
        )


__all__ = ["DEFAULT_DATABASE_URL", "Settings", "SettingsError"]
