"""Processes for bench/gateway.py: an upstream kessai playing KOMOJU and a gateway kessai in
front of it, each `kessai serve` on its own store, set up only through kessai's CLI.

Reuses bench/run.py's process and store helpers (process groups, cleanup, PostgreSQL
databases created and dropped).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from run import Cleanup, Store, free_port, kessai_cmd, spawn, stop_group

# As in bench/run.py: the edge's limits stay on, far above the load.
HIGH_LIMITS = {
    f"KESSAI_RATE_LIMIT_{kind}": "100000000/minute"
    for kind in ("ADDRESS", "KEY", "CARD_KEY", "CARD_ADDRESS", "FAILED_AUTH")
}


def cli(store_url: str, *args: str) -> str:
    """`kessai ARGS` on a store; its standard output (the CLI's one-line error on failure)."""
    env = {**os.environ, "KESSAI_DATABASE_URL": store_url, "KESSAI_LOG_LEVEL": "warning"}
    out = subprocess.run(
        [kessai_cmd(), *args], env=env, capture_output=True, text=True, timeout=180
    )
    if out.returncode != 0:
        raise RuntimeError(f"kessai {args[0]} {args[1]} failed: {out.stderr.strip()[-500:]}")
    return out.stdout


def cli_json(store_url: str, *args: str) -> Any:
    return json.loads(cli(store_url, *args).strip().splitlines()[-1])


class Node:
    """One `kessai serve` on a fixed port (kept across restarts: the gateway's processor
    settings name it), in its own process group, logging to the work directory."""

    def __init__(
        self,
        name: str,
        store: Store,
        workdir: Path,
        cleanup: Cleanup,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        log_level: str = "warning",
    ) -> None:
        self.name = name
        self.store = store
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        self.cleanup = cleanup
        self.env = {
            **os.environ,
            **HIGH_LIMITS,
            "KESSAI_DATABASE_URL": store.url,
            "KESSAI_LOG_LEVEL": log_level,
            **(env or {}),
        }
        self.proc: subprocess.Popen[Any] | None = None
        self.faults: str | None = None
        self._undo: Any = None
        self.starts = 0

    def start(self, faults: str | None = None) -> Node:
        cmd = [kessai_cmd(), "serve", "--port", str(self.port), "--workers", str(self.workers)]
        if faults:
            cmd += ["--faults", faults]
        self.faults = faults
        self.starts += 1
        with open(self.log, "ab") as log:
            log.write(f"\n==== start {self.starts}: {' '.join(cmd[1:])}\n".encode())
            log.flush()
            self.proc = spawn(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.log.parent
            )
        self._undo = self.cleanup.push(f"stop {self.name}", self.stop)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
            if self.healthy():
                for _ in range(4 * self.workers):  # reach every worker once
                    self.healthy()
                return self
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become healthy:\n{self.tail()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/health", timeout=5) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def count_log(self, needle: str) -> int:
        try:
            return self.log.read_text(errors="replace").count(needle)
        except OSError:
            return 0


@dataclass
class Pair:
    """An upstream (merchant U, test mode) and a gateway (merchant G, live mode → U)."""

    upstream: Node
    gateway: Node
    u: dict[str, str]  # U's `merchant create --json`
    g: dict[str, str]  # G's
    timeout: float

    @property
    def live_key(self) -> str:
        return self.g["live_secret_key"]

    @property
    def test_key(self) -> str:
        return self.g["secret_key"]

    @property
    def upstream_key(self) -> str:
        return self.u["secret_key"]


def make_pair(
    backend: str,
    tag: str,
    workdir: Path,
    pg_url: str,
    cleanup: Cleanup,
    *,
    timeout: float,
    workers: int,
    gateway_env: dict[str, str] | None = None,
    log_level: str = "warning",
) -> Pair:
    """Two fresh stores and merchants, U's webhook endpoint pointing at the gateway's
    receiver for G, G's live mode routed to U; neither server started yet."""
    up_store = Store(backend, f"up{tag}", workdir, pg_url, cleanup)
    gw_store = Store(backend, f"gw{tag}", workdir, pg_url, cleanup)
    upstream = Node(
        f"upstream{tag}", up_store, workdir, cleanup, workers=workers, log_level=log_level
    )
    gateway = Node(
        f"gateway{tag}",
        gw_store,
        workdir,
        cleanup,
        workers=workers,
        env=gateway_env,
        log_level=log_level,
    )
    u = cli_json(up_store.url, "merchant", "create", "--name", "Upstream U", "--json")
    g = cli_json(gw_store.url, "merchant", "create", "--name", "Gateway G", "--json")
    hook = f"{gateway.base}/kessai/v1/processors/komoju/webhooks/{g['id']}"
    endpoint = cli_json(up_store.url, "webhook", "add", "--merchant", u["id"], "--url", hook)
    cli(
        gw_store.url,
        "processor", "set", "--merchant", g["id"], "--mode", "live", "komoju",
        "--api-url", upstream.base, "--secret-key", u["secret_key"],
        "--webhook-secret", endpoint["secret"], "--timeout", f"{timeout:g}",
    )  # fmt: skip
    return Pair(upstream, gateway, u, g, timeout)
