"""kessai's benchmark suite (issue 5): throughput, latency, growth, page weight and memory,
measured side by side with this machine's own limits in the same run.

    .venv/bin/python bench/run.py [--backend sqlite|postgresql|both] [--duration 10] [--quick]
        [--workers CORES] [--sqlite-workers 1] [--repeat 1]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

For each backend, against `kessai serve --workers N` started exactly as a user starts it
(with KESSAI_BENCH_FLOOR=1 so that /bench/floor exists), on a fresh store with a merchant
made by `kessai merchant create`, and with `wrk` (Lua scripts in bench/lua/) at -t2 -c32:

1. session create   POST /api/v1/sessions, realistic body, unique idempotency key each
2. session show     GET /api/v1/sessions/{id} over random ids
3. pay              create, then pay with 4111 1111 1111 1111: completed checkouts/s
4. floors           HTTP: POST /bench/floor (auth + body + validation, no database);
                    database: bench/db_floor.py, one sessions row per transaction through
                    kessai's own engine, same concurrency; create as a fraction of the lower
5. growth           show and create with 10,000 and with 1,000,000 sessions bulk-loaded
                    straight into the table (--quick: 100,000); ratio of the two
6. hosted page      bytes of the checkout page and everything it loads, other hosts,
                    server render time (Server-Timing) over 200 GETs
7. memory           RSS of the server's process tree each second over a 60 s create run

Prints a table and the issue's targets, and writes bench/results-<backend>.json and
bench/results.json. Servers, load generators and PostgreSQL databases it made are removed
on exit, including on Ctrl-C, SIGTERM, errors and the --time-limit. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import json
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "lua"
sys.path.insert(0, str(ROOT / "src"))

from kessai.store.db import Database  # noqa: E402
from kessai.store.tables import sessions as sessions_table  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
CONCURRENCY = 32
WRK_THREADS = 2
SHOW_IDS = 2_000
GROWTH_SAMPLE = 20_000  # ids sampled (uniformly) from the loaded table for the show run
CLK_TCK = os.sysconf("SC_CLK_TCK")
NOISY = 0.25  # cores of CPU used by other work during a run that mark it "noisy"

# A realistic session: two line items (one with a Japanese description), metadata, a card-
# only checkout and a return URL. The same body goes to /bench/floor.
CREATE_BODY: dict[str, Any] = {
    "amount": 12800,
    "currency": "JPY",
    "return_url": "https://shop.example.com/orders/10023/complete",
    "email": "hanako@example.com",
    "default_locale": "ja",
    "payment_types": ["credit_card"],
    "line_items": [
        {"description": "オーガニックコットンTシャツ (M)", "amount": 3200, "quantity": 2},
        {"description": "Ceramic mug", "amount": 6400, "quantity": 1},
    ],
    "metadata": {"order_id": "10023", "customer_ref": "c_8812", "channel": "web"},
}
PAY_BODY: dict[str, Any] = {
    "payment_details": {
        "type": "credit_card",
        "number": "4111111111111111",
        "month": 12,
        "year": datetime.now(UTC).year + 3,
        "verification_value": "123",
        "name": "HANAKO YAMADA",
    }
}
# The hosted page is measured on the heaviest ordinary page: every payment type offered
# for JPY (payment_types left out) and line items with images on the shop's own host.
HOSTED_BODY: dict[str, Any] = {
    **{k: v for k, v in CREATE_BODY.items() if k != "payment_types"},
    "line_items": [
        {**item, "image": f"https://cdn.shop.example.com/p/{i}.jpg"}
        for i, item in enumerate(CREATE_BODY["line_items"])
    ],
}


class Aborted(Exception):
    """The run was stopped: a signal or the time limit."""


# --------------------------------------------------------------------------- processes

LIVE: list[subprocess.Popen[Any]] = []  # every process we started and have not reaped


def _die_with_parent() -> None:
    """In the child: get SIGTERM if bench/run.py dies (even by SIGKILL)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start a process in its own process group (so its whole tree can be stopped)."""
    proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_die_with_parent, **kwargs)
    LIVE.append(proc)
    return proc


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM the process group we started, then SIGKILL whatever is left of it."""
    pgid = proc.pid  # start_new_session: the group id is the leader's pid
    if proc.poll() is None or _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(pgid):
                break
            time.sleep(0.1)
        if _group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    if proc in LIVE:
        LIVE.remove(proc)


class Cleanup:
    """Undo actions, run last-in first-out; each one runs once even if another fails."""

    def __init__(self) -> None:
        self._stack: list[tuple[str, Callable[[], None]]] = []

    def push(self, label: str, action: Callable[[], None]) -> Callable[[], None]:
        entry = (label, action)
        self._stack.append(entry)

        def run_now() -> None:
            if entry in self._stack:
                self._stack.remove(entry)
                action()

        return run_now

    def run(self) -> None:
        while self._stack:
            label, action = self._stack.pop()
            try:
                action()
            except BaseException as exc:  # keep cleaning up
                print(f"cleanup: {label} failed: {exc!r}", file=sys.stderr)
        for proc in list(LIVE):
            stop_group(proc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- /proc


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime + stime ticks) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_stat(int(entry))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if Path(f"/proc/{pid}").exists():
            tree.append(pid)
            todo.extend(children.get(pid, []))
    return tree


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# --------------------------------------------------------------------------- the server


class Server:
    """`kessai serve --port P --workers N`, as a user starts it, in its own process group."""

    def __init__(self, url: str, workers: int, workdir: Path, cleanup: Cleanup, log_level: str):
        self.url = url
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"serve-{self.port}.log"
        self.cleanup = cleanup
        self.log_level = log_level
        self.proc: subprocess.Popen[Any] | None = None
        self._undo: Callable[[], None] | None = None

    def start(self) -> Server:
        env = {
            **os.environ,
            "KESSAI_DATABASE_URL": self.url,
            "KESSAI_BENCH_FLOOR": "1",
            "KESSAI_LOG_LEVEL": self.log_level,
            # Limits stay on (their cost is part of every request) but far above the load.
            **{
                f"KESSAI_RATE_LIMIT_{kind}": "100000000/minute"
                for kind in ("ADDRESS", "KEY", "CARD_KEY", "CARD_ADDRESS", "FAILED_AUTH")
            },
        }
        cmd = [kessai_cmd(), "serve", "--port", str(self.port), "--workers", str(self.workers)]
        with open(self.log, "ab") as log:
            self.proc = spawn(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.log.parent
            )
        self._undo = self.cleanup.push(f"stop server :{self.port}", self.stop_now)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"kessai serve exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            # every worker must be up: wait for N worker processes, then for /health
            if self._workers_up() and self._healthy():
                for _ in range(4 * self.workers):  # reach every worker at least once
                    self._healthy()
                return self
            time.sleep(0.25)
        raise RuntimeError(f"kessai serve did not become healthy:\n{self.log_tail()}")

    def _workers_up(self) -> bool:
        if self.workers <= 1 or self.proc is None:
            return True
        up = 0
        for pid in process_tree(self.proc.pid):
            with contextlib.suppress(OSError):
                up += b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
        return up >= self.workers

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/health", timeout=5) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def rss(self) -> dict[str, int]:
        """Resident KiB of the uvicorn parent and of all its descendants."""
        pids = self.pids()
        per = {pid: rss_kib(pid) for pid in pids}
        return {"total_kib": sum(per.values()), "processes": len(per)}

    def cpu_ticks(self) -> dict[int, int]:
        """CPU ticks used so far by each process of the server, and of its database: the
        PostgreSQL backends serving this store's database (their title names it)."""
        pids = self.pids()
        if not self.url.startswith("sqlite"):
            dbname = self.url.rpartition("/")[2].encode()
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    with contextlib.suppress(OSError):
                        title = Path(f"/proc/{entry}/cmdline").read_bytes()
                        if title.startswith(b"postgres:") and dbname in title:
                            pids.append(-int(entry))  # negative: the database's
        return {pid: st[1] for pid in pids if (st := _proc_stat(abs(pid))) is not None}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop_now(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)

    def stop(self) -> None:
        if self._undo is not None:
            self._undo()
            self._undo = None


def kessai_cmd() -> str:
    here = Path(sys.executable).with_name("kessai")
    return str(here) if here.exists() else (shutil.which("kessai") or "kessai")


def make_merchant(url: str) -> dict[str, str]:
    env = {**os.environ, "KESSAI_DATABASE_URL": url, "KESSAI_LOG_LEVEL": "warning"}
    out = subprocess.run(
        [kessai_cmd(), "merchant", "create", "--name", "Bench Merchant", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    merchant: dict[str, str] = json.loads(out.stdout.strip().splitlines()[-1])
    return merchant


def basic_auth(secret_key: str) -> str:
    return "Basic " + base64.b64encode(f"{secret_key}:".encode()).decode()


# --------------------------------------------------------------------------- stores


STALE_DB = re.compile(r"^kessai_bench_(\d+)_(main|growth)_[0-9a-f]{8}$")


def _is_bench_process(pid: int) -> bool:
    try:
        return b"bench/run.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class Store:
    """A fresh kessai store: a SQLite file in the work directory, or a PostgreSQL database
    created on the server of --database-url and dropped at exit."""

    def __init__(self, backend: str, name: str, workdir: Path, pg_url: str, cleanup: Cleanup):
        self.backend = backend
        if backend == "sqlite":
            self.path = workdir / f"{name}.db"
            self.url = f"sqlite:///{self.path}"
            return
        self.dbname = f"kessai_bench_{os.getpid()}_{name}_{secrets.token_hex(4)}"
        self.admin_url = pg_url
        asyncio.run(self._admin(f'CREATE DATABASE "{self.dbname}"'))
        cleanup.push(f"drop database {self.dbname}", self.drop)
        self.url = f"{pg_url.rpartition('/')[0]}/{self.dbname}"

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_url, timeout=30)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    @staticmethod
    def drop_stale(pg_url: str) -> list[str]:
        """Drop databases left by a bench/run.py that was killed (SIGKILL) mid-run."""

        async def run() -> list[str]:
            conn = await asyncpg.connect(pg_url, timeout=30)
            dropped = []
            try:
                for (name,) in await conn.fetch("SELECT datname FROM pg_database"):
                    m = STALE_DB.match(name)
                    if m and not _is_bench_process(int(m.group(1))):
                        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        dropped.append(name)
            finally:
                await conn.close()
            return dropped

        return asyncio.run(run())

    def drop(self) -> None:
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)'))

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """A read on the store, outside kessai (`?` placeholders become $n on PostgreSQL)."""
        if self.backend == "sqlite":
            con = sqlite3.connect(self.path, timeout=60)
            try:
                return list(con.execute(sql, args).fetchall())
            finally:
                con.close()
        n = iter(range(1, 100))
        pg_sql = re.sub(r"\?", lambda _: f"${next(n)}", sql)

        async def run() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(self.url, timeout=30)
            try:
                return [tuple(r) for r in await conn.fetch(pg_sql, *args)]
            finally:
                await conn.close()

        return asyncio.run(run())

    def count_sessions(self) -> int:
        return int(self.query("SELECT count(*) FROM sessions")[0][0])

    def server_version(self) -> str:
        if self.backend == "sqlite":
            return f"SQLite {sqlite3.sqlite_version}"
        return str(self.query("SELECT version()")[0][0]).split(" on ")[0]

    def settings(self) -> dict[str, Any]:
        """What decides the cost of a durable commit."""
        if self.backend == "sqlite":
            # as kessai's own engine sets them on each connection
            async def pragmas() -> dict[str, Any]:
                db = Database.from_url(self.url, pool_size=1)
                try:
                    async with db.transaction(write=False) as conn:
                        sync = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
                        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
                finally:
                    await db.dispose()
                levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
                return {"journal_mode": mode, "synchronous": levels.get(sync, sync)}

            return asyncio.run(pragmas())
        names = (
            "synchronous_commit",
            "fsync",
            "wal_sync_method",
            "full_page_writes",
            "commit_delay",
            "shared_buffers",
            "max_connections",
        )
        return {n: self.query(f"SHOW {n}")[0][0] for n in names}


# --------------------------------------------------------------------------- bulk load

COLUMNS = [c.name for c in sessions_table.columns]
BULK_LINE_ITEMS = [
    json.dumps([{"amount": 12800, "description": "Gift card", "quantity": 1}]),
    json.dumps(CREATE_BODY["line_items"], ensure_ascii=False),
    json.dumps([{"amount": 6400, "description": "Ceramic mug", "quantity": 2}]),
]
BULK_PAYMENT_TYPES = json.dumps(["credit_card"])
BULK_PAYMENT_DATA = json.dumps({"capture": "auto"})


def bulk_rows(
    merchant_id: str, first: int, count: int, final_total: int, sqlite: bool
) -> Iterator[tuple[Any, ...]]:
    """Sessions as the API writes them, created over the last 180 days in id order."""
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=180)
    step = timedelta(days=180) / max(final_total, 1)
    rnd = random.Random(first)

    def when(dt: datetime | None) -> Any:
        if dt is None or not sqlite:
            return dt
        return dt.strftime("%Y-%m-%d %H:%M:%S.%f")

    false = 0 if sqlite else False
    for i in range(first, first + count):
        created = start + step * i
        cancelled = created + timedelta(minutes=5) if rnd.random() < 0.15 else None
        values = {
            "id": secrets.token_hex(13)[:25],
            "merchant_id": merchant_id,
            "livemode": false,
            "mode": "payment",
            "status": "cancelled" if cancelled else "pending",
            "amount": 12800,
            "currency": "JPY",
            "return_url": f"https://shop.example.com/orders/{i}/complete",
            "email": f"customer{i}@example.com",
            "default_locale": "ja",
            "external_customer_id": None,
            "external_order_num": None,
            "customer_id": None,
            "payment_types": BULK_PAYMENT_TYPES,
            "line_items": BULK_LINE_ITEMS[i % 3],
            "metadata": f'{{"order_id": "{i}", "channel": "web"}}',
            "payment_data": BULK_PAYMENT_DATA,
            "scenario": None,
            "payment_id": None,
            "operation_id": None,
            "created_at": when(created),
            "expires_at": when(created + timedelta(days=1)),
            "completed_at": None,
            "cancelled_at": when(cancelled),
        }
        yield tuple(values[c] for c in COLUMNS)


def bulk_load(
    store: Store, merchant_id: str, first: int, count: int, final_total: int, keep: float
) -> tuple[list[str], float]:
    """Insert `count` sessions directly; returns (a sample of their ids, seconds)."""
    chunk = 50_000
    sample: list[str] = []
    rnd = random.Random(count)
    started = time.monotonic()
    sqlite = store.backend == "sqlite"

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        rows = bulk_rows(merchant_id, first, count, final_total, sqlite)
        while True:
            batch = [row for _, row in zip(range(chunk), rows, strict=False)]
            if not batch:
                return
            sample.extend(row[0] for row in batch if rnd.random() < keep)
            yield batch

    if sqlite:
        con = sqlite3.connect(store.path, timeout=60, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            cols = ", ".join(f'"{c}"' for c in COLUMNS)
            sql = f"INSERT INTO sessions ({cols}) VALUES ({', '.join('?' * len(COLUMNS))})"
            for batch in batches():
                con.execute("BEGIN IMMEDIATE")
                con.executemany(sql, batch)
                con.execute("COMMIT")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
    else:

        async def load() -> None:
            conn = await asyncpg.connect(store.url, timeout=30)
            try:
                for batch in batches():
                    await conn.copy_records_to_table("sessions", records=batch, columns=COLUMNS)
                # what autovacuum would do for a table that grew this way
                await conn.execute("ANALYZE sessions")
            finally:
                await conn.close()

        asyncio.run(load())
    return sample, time.monotonic() - started


# --------------------------------------------------------------------------- wrk


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "wrk"]
        if subprocess.run(cmd, env=env, timeout=600).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, timeout=600, check=False)
            subprocess.run(cmd, env=env, timeout=600, check=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk (Debian/Ubuntu), or put it on PATH")
    return found


class Bench:
    """Everything one backend's run shares: the work directory, files for Lua, cleanup."""

    def __init__(self, args: argparse.Namespace, workdir: Path, cleanup: Cleanup):
        self.args = args
        self.workdir = workdir
        self.cleanup = cleanup
        self.run_tag = secrets.token_hex(4)
        self.body_file = workdir / "create.json"
        self.body_file.write_text(json.dumps(CREATE_BODY, ensure_ascii=False))
        self.pay_file = workdir / "pay.json"
        self.pay_file.write_text(json.dumps(PAY_BODY))
        self.runs = 0

    def wrk(
        self,
        server: Server,
        script: str,
        duration: float,
        env: dict[str, str],
        *,
        during: Callable[[threading.Event], None] | None = None,
        repeat: int | None = None,
    ) -> dict[str, Any]:
        """The best of --repeat wrk runs (by 2xx/s): on a shared machine the best run is the
        one least disturbed by other work. Errors count over all the runs."""
        n = 1 if during else max(1, repeat or self.args.repeat)
        runs = [self._wrk_once(server, script, duration, env, during=during) for _ in range(n)]
        best = dict(max(runs, key=lambda r: r["requests_per_s"]))
        best["runs"] = n
        best["ok_2xx_all_runs"] = sum(r["ok_2xx"] for r in runs)
        best["errors_all_runs"] = sum(r["errors"] for r in runs)
        if n > 1:
            best["requests_per_s_each"] = [r["requests_per_s"] for r in runs]
        return best

    def _wrk_once(
        self,
        server: Server,
        script: str,
        duration: float,
        env: dict[str, str],
        *,
        during: Callable[[threading.Event], None] | None = None,
    ) -> dict[str, Any]:
        """One wrk run; its figures, plus where the machine's CPU went meanwhile."""
        self.runs += 1
        env = {
            **os.environ,
            "KB_LUA_DIR": str(LUA),
            "KB_RUN": f"{self.run_tag}-{self.runs}",
            "KB_BODY": str(self.body_file),
            "KB_PAY_BODY": str(self.pay_file),
            **env,
        }
        cmd = [
            "wrk",
            f"-t{WRK_THREADS}",
            f"-c{CONCURRENCY}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA / script),
            server.base,
        ]
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy0, total0 = machine_ticks()
        cpu0 = server.cpu_ticks()
        t0 = time.monotonic()
        proc = spawn(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stop_sampling = threading.Event()
        sampler = threading.Thread(target=during, args=(stop_sampling,), daemon=True)
        if during:
            sampler.start()
        try:
            out, err = proc.communicate(timeout=duration + 60)
        finally:
            stop_sampling.set()
            stop_group(proc, grace=2)
        wall = time.monotonic() - t0
        if during:
            sampler.join(timeout=5)
        cpu1 = server.cpu_ticks()
        busy1, total1 = machine_ticks()
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        line = next((ln for ln in out.splitlines() if ln.startswith("KBJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result (exit {proc.returncode}):\n{out}\n{err}")
        raw = json.loads(line[len("KBJSON ") :])
        secs = raw["duration_us"] / 1e6
        socket_errors = sum(raw[f"err_{k}"] for k in ("connect", "read", "write", "timeout"))
        ncpu = os.cpu_count() or 1
        elapsed = (total1 - total0) / ncpu / CLK_TCK or 1.0  # seconds, by the jiffies
        loadgen = children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime
        used = {pid: ticks - cpu0.get(pid, 0) for pid, ticks in cpu1.items()}
        server_cpu = sum(t for pid, t in used.items() if pid > 0) / CLK_TCK
        db_cpu = sum(t for pid, t in used.items() if pid < 0) / CLK_TCK
        busy = (busy1 - busy0) / CLK_TCK
        return {
            "requests_per_s": round(raw["ok2xx"] / secs, 1),
            "p50_ms": round(raw["lat_p50_us"] / 1000, 2),
            "p90_ms": round(raw["lat_p90_us"] / 1000, 2),
            "p99_ms": round(raw["lat_p99_us"] / 1000, 2),
            "max_ms": round(raw["lat_max_us"] / 1000, 2),
            "errors": raw["non2xx"] + socket_errors,
            "non_2xx": raw["non2xx"],
            "socket_errors": {k: raw[f"err_{k}"] for k in ("connect", "read", "write", "timeout")},
            "responses": raw["requests"],
            "ok_2xx": raw["ok2xx"],
            "completed": raw["completed"],
            "seconds": round(secs, 2),
            "first_error": raw["first_error"],
            # CPU, in % of one core (this machine has os.cpu_count() of them)
            "cpu_pct": {
                "server": round(100 * server_cpu / elapsed, 1),
                "database": round(100 * db_cpu / elapsed, 1),
                "load_generator": round(100 * loadgen / elapsed, 1),
                "machine_busy": round(100 * busy / elapsed, 1),
                "other": round(max(0.0, 100 * (busy - server_cpu - db_cpu - loadgen) / elapsed), 1),
                "machine_capacity": 100 * ncpu,
            },
            # other work on the machine took more than a quarter of a core: treat with care
            "noisy": (busy - server_cpu - db_cpu - loadgen) / elapsed > NOISY,
            "wall_s": round(wall, 1),
        }

    def create(self, server: Server, auth: str, duration: float, **kw: Any) -> dict[str, Any]:
        return self.wrk(server, "create.lua", duration, {"KB_AUTH": auth}, **kw)

    def floor(self, server: Server, auth: str, duration: float) -> dict[str, Any]:
        env = {"KB_AUTH": auth, "KB_PATH": "/bench/floor"}
        return self.wrk(server, "create.lua", duration, env)

    def show(
        self, server: Server, auth: str, ids: list[str], duration: float, **kw: Any
    ) -> dict[str, Any]:
        ids_file = self.workdir / f"ids-{self.runs + 1}.txt"
        ids_file.write_text("\n".join(ids) + "\n")
        env = {"KB_AUTH": auth, "KB_IDS": str(ids_file)}
        return self.wrk(server, "show.lua", duration, env, **kw)

    def pay(self, server: Server, auth: str, duration: float) -> dict[str, Any]:
        result = self.wrk(server, "pay.lua", duration, {"KB_AUTH": auth})
        result["checkouts_per_s"] = round(result["completed"] / result["seconds"], 1)
        return result

    def db_floor(
        self,
        store: Store,
        merchant_id: str,
        duration: float,
        *,
        processes: int | None = None,
        concurrency: int = CONCURRENCY,
    ) -> dict[str, Any]:
        """The best of --repeat runs of `_db_floor_once`."""
        runs = [
            self._db_floor_once(store, merchant_id, duration, processes, concurrency)
            for _ in range(max(1, self.args.repeat))
        ]
        best = dict(max(runs, key=lambda r: r["commits_per_s"]))
        best["runs"] = len(runs)
        best["errors_all_runs"] = sum(r["errors"] for r in runs)
        if len(runs) > 1:
            best["commits_per_s_each"] = [r["commits_per_s"] for r in runs]
        return best

    def _db_floor_once(
        self,
        store: Store,
        merchant_id: str,
        duration: float,
        processes: int | None,
        concurrency: int,
    ) -> dict[str, Any]:
        """N processes (N = server workers) sharing the concurrency, started together."""
        n = max(1, processes or workers_for(self.args, store.backend))
        shares = [concurrency // n + (1 if i < concurrency % n else 0) for i in range(n)]
        start_at = time.time() + 3 + n
        procs = [
            spawn(
                [
                    sys.executable,
                    str(BENCH / "db_floor.py"),
                    store.url,
                    merchant_id,
                    "--concurrency",
                    str(c),
                    "--duration",
                    str(duration),
                    "--start-at",
                    str(start_at),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for c in shares
            if c > 0
        ]
        outs = []
        try:
            for p in procs:
                out, err = p.communicate(timeout=duration + 120)
                if p.returncode != 0:
                    raise RuntimeError(f"db_floor.py failed ({p.returncode}): {err[-2000:]}")
                outs.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for p in procs:
                stop_group(p, grace=2)
        commits = sum(o["commits"] for o in outs)
        secs = max(o["seconds"] for o in outs)
        return {
            "commits_per_s": round(commits / secs, 1),
            "commits": commits,
            "processes": len(outs),
            "concurrency": concurrency,
            "p50_ms": max(o["p50_ms"] for o in outs),
            "p99_ms": max(o["p99_ms"] for o in outs),
            "errors": sum(o["errors"] for o in outs),
            "first_error": next((o["first_error"] for o in outs if o["first_error"]), ""),
        }


def warm(bench: Bench, server: Server, auth: str, ids: list[str] | None = None) -> None:
    """A short unrecorded run so every worker has its connections, caches and code warm."""
    seconds = bench.args.warmup
    if seconds <= 0:
        return
    bench.create(server, auth, seconds, repeat=1)
    if ids:
        bench.show(server, auth, ids, seconds, repeat=1)


# --------------------------------------------------------------------------- hosted page


class _Refs(HTMLParser):
    """What a browser would load for a page: stylesheets, scripts, images, icons, frames."""

    LOADS = {
        ("link", "href"),
        ("script", "src"),
        ("img", "src"),
        ("img", "srcset"),
        ("source", "src"),
        ("source", "srcset"),
        ("iframe", "src"),
        ("video", "src"),
        ("video", "poster"),
        ("audio", "src"),
        ("embed", "src"),
        ("object", "data"),
        ("input", "src"),
        ("track", "src"),
    }
    LINK_RELS = {
        "stylesheet",
        "icon",
        "shortcut",
        "apple-touch-icon",
        "preload",
        "modulepreload",
        "manifest",
        "prefetch",
        "mask-icon",
    }

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "link" and not (set(a.get("rel", "").lower().split()) & self.LINK_RELS):
            return
        for t, attr in self.LOADS:
            if t == tag and a.get(attr):
                if attr == "srcset":
                    self.loads += [c.strip().split()[0] for c in a[attr].split(",") if c.strip()]
                else:
                    self.loads.append(a[attr])
        if a.get("style"):
            self.styles.append(a["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")


def css_refs(css: str) -> list[str]:
    return [a or b for a, b in CSS_URL.findall(css) if not (a or b).startswith("data:")]


def page_weight(client: httpx.Client, page_url: str) -> dict[str, Any]:
    """Bytes of a page and of everything it loads (recursively through CSS)."""
    host = urlsplit(page_url).netloc
    r = client.get(page_url, headers={"Accept-Encoding": "identity"})
    r.raise_for_status()
    items = [{"url": urlsplit(page_url).path, "bytes": len(r.content), "type": "html"}]
    parser = _Refs()
    parser.feed(r.text)
    todo = [urljoin(page_url, u) for u in parser.loads if not u.startswith("data:")]
    todo += [urljoin(page_url, u) for s in parser.styles for u in css_refs(s)]
    seen: set[str] = set()
    other_hosts: list[str] = []
    while todo:
        url = todo.pop(0)
        if url in seen:
            continue
        seen.add(url)
        if urlsplit(url).netloc != host:
            other_hosts.append(url)
            continue
        a = client.get(url, headers={"Accept-Encoding": "identity"})
        kind = a.headers.get("content-type", "").split(";")[0]
        items.append(
            {
                "url": urlsplit(url).path,
                "bytes": len(a.content),
                "type": kind,
                "status": a.status_code,
            }
        )
        if kind == "text/css":
            todo += [urljoin(url, u) for u in css_refs(a.text)]
    return {
        "total_bytes": sum(i["bytes"] for i in items),
        "requests": len(items),
        "items": items,
        "other_host_loads": other_hosts,
    }


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def hosted_page(server: Server, secret_key: str, gets: int) -> dict[str, Any]:
    auth = {"Authorization": basic_auth(secret_key)}
    out: dict[str, Any] = {}
    with httpx.Client(timeout=30) as client:
        for name, body in (("all_payment_types", HOSTED_BODY), ("credit_card", CREATE_BODY)):
            r = client.post(f"{server.base}/api/v1/sessions", json=body, headers=auth)
            r.raise_for_status()
            page_url = r.json()["session_url"]
            weight = page_weight(client, page_url)
            renders, walls = [], []
            for _ in range(gets):
                t0 = time.perf_counter()
                g = client.get(page_url)
                walls.append((time.perf_counter() - t0) * 1000)
                m = re.search(r"render;dur=([0-9.]+)", g.headers.get("server-timing", ""))
                if g.status_code != 200 or m is None:
                    raise RuntimeError(f"hosted page: {g.status_code}, no Server-Timing render")
                renders.append(float(m.group(1)))
            out[name] = {
                **weight,
                "gets": gets,
                "render_p50_ms": round(pct(renders, 0.5), 2),
                "render_p99_ms": round(pct(renders, 0.99), 2),
                "response_p50_ms": round(pct(walls, 0.5), 2),
                "response_p99_ms": round(pct(walls, 0.99), 2),
            }
    worst = out["all_payment_types"]
    return {
        "total_bytes": max(p["total_bytes"] for p in out.values()),
        "other_host_loads": sorted({u for p in out.values() for u in p["other_host_loads"]}),
        "render_p50_ms": worst["render_p50_ms"],
        "render_p99_ms": worst["render_p99_ms"],
        "pages": out,
    }


# --------------------------------------------------------------------------- memory


def memory_run(bench: Bench, server: Server, auth: str, seconds: float) -> dict[str, Any]:
    samples: list[dict[str, float]] = []
    start = time.monotonic()

    def sample(stop: threading.Event) -> None:
        while not stop.wait(1.0):
            rss = server.rss()
            if not stop.is_set():
                samples.append(
                    {
                        "t": round(time.monotonic() - start, 1),
                        "rss_mib": round(rss["total_kib"] / 1024, 1),
                        "processes": rss["processes"],
                    }
                )

    idle = server.rss()
    load = bench.create(server, auth, seconds, during=sample)
    if not samples:
        raise RuntimeError("no memory samples")
    first, last = samples[0]["rss_mib"], samples[-1]["rss_mib"]
    peak = max(s["rss_mib"] for s in samples)
    return {
        "seconds": seconds,
        "idle_before_mib": round(idle["total_kib"] / 1024, 1),
        "processes": samples[-1]["processes"],
        "first_mib": first,
        "max_mib": peak,
        "last_mib": last,
        "growth_pct": round(100 * (last - first) / first, 1),
        "max_growth_pct": round(100 * (peak - first) / first, 1),
        "samples": samples,
        "create_during": {k: load[k] for k in ("requests_per_s", "p50_ms", "p99_ms", "errors")},
    }


# --------------------------------------------------------------------------- one backend


def phase(results: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
    """Run one measurement; a failure is recorded and the run goes on."""
    print(f"  {name} ...", end="", flush=True)
    t0 = time.monotonic()
    try:
        value = fn()
    except (Aborted, KeyboardInterrupt):
        raise
    except Exception as exc:
        results[name] = {"error": f"{type(exc).__name__}: {exc}"[:3000]}
        print(f" FAILED ({exc!r})"[:400], flush=True)
        return None
    results[name] = value
    print(f" {time.monotonic() - t0:.0f}s", flush=True)
    return value


def api_ids(store: Store, merchant_id: str, want: int) -> list[str]:
    rows = store.query(
        "SELECT id FROM sessions WHERE merchant_id = ? AND status = 'pending' "
        "ORDER BY created_at DESC LIMIT ?",
        merchant_id,
        want,
    )
    return [r[0] for r in rows]


def top_up_ids(server: Server, secret_key: str, ids: list[str], want: int) -> list[str]:
    """Create sessions through the API until there are `want` ids."""

    async def create(n: int) -> list[str]:
        sem = asyncio.Semaphore(16)
        auth = {"Authorization": basic_auth(secret_key)}
        async with httpx.AsyncClient(base_url=server.base, timeout=60) as client:

            async def one() -> str:
                async with sem:
                    r = await client.post("/api/v1/sessions", json=CREATE_BODY, headers=auth)
                    r.raise_for_status()
                    return str(r.json()["id"])

            return list(await asyncio.gather(*(one() for _ in range(n))))

    if len(ids) < want:
        ids = ids + asyncio.run(create(want - len(ids)))
    return ids


def workers_for(args: argparse.Namespace, backend: str) -> int:
    return int(args.sqlite_workers if backend == "sqlite" else args.workers)


def run_backend(
    res: dict[str, Any], backend: str, args: argparse.Namespace, workdir: Path, cleanup: Cleanup
) -> None:
    """Measure one backend, filling `res` as it goes (so an abort keeps what was measured)."""
    bench = Bench(args, workdir, cleanup)
    workers = res["workers"] = workers_for(args, backend)
    print(f"\n== {backend}: fresh store, kessai serve --workers {workers}", flush=True)
    store = Store(backend, "main", workdir, args.database_url, cleanup)
    res["database"] = store.server_version()
    merchant = make_merchant(store.url)
    res["database_settings"] = store.settings()
    auth = basic_auth(merchant["secret_key"])
    server = Server(store.url, workers, workdir, cleanup, args.log_level).start()
    d = args.duration
    try:
        warm(bench, server, auth)
        phase(res, "http_floor", lambda: bench.floor(server, auth, d))

        def create() -> dict[str, Any]:
            before = store.count_sessions()
            result = bench.create(server, auth, d)
            time.sleep(1)  # requests in flight when wrk stopped
            added = store.count_sessions() - before
            result["rows_added"] = added
            result["rows_missing"] = max(0, result["ok_2xx_all_runs"] - added)
            return result

        phase(res, "session_create", create)
        phase(res, "db_floor", lambda: bench.db_floor(store, merchant["id"], d))
        # not a floor: one writer, one commit at a time (what the disk and driver do alone)
        phase(
            res,
            "db_serial",
            lambda: bench.db_floor(store, merchant["id"], d, processes=1, concurrency=1),
        )
        ids = top_up_ids(
            server,
            merchant["secret_key"],
            api_ids(store, merchant["id"], args.show_ids),
            args.show_ids,
        )
        res["show_ids"] = len(ids)

        def show() -> dict[str, Any]:
            if args.warmup > 0:
                bench.show(server, auth, ids, args.warmup, repeat=1)
            return bench.show(server, auth, ids, d)

        phase(res, "session_show", show)
        phase(res, "pay", lambda: bench.pay(server, auth, d))
        phase(res, "hosted_page", lambda: hosted_page(server, merchant["secret_key"], 200))
        phase(res, "memory", lambda: memory_run(bench, server, auth, args.memory_seconds))
        res["server_log_tail"] = server.log_tail(10)
    finally:
        server.stop()
    res["sessions_stored_main"] = store.count_sessions()
    out: dict[str, Any] = {"stages": []}
    res["growth"] = out  # filled stage by stage, so an abort keeps the stages measured
    phase(res, "growth", lambda: growth(out, bench, args, backend, workdir, cleanup))


def growth(
    out: dict[str, Any],
    bench: Bench,
    args: argparse.Namespace,
    backend: str,
    workdir: Path,
    cleanup: Cleanup,
) -> dict[str, Any]:
    store = Store(backend, "growth", workdir, args.database_url, cleanup)
    merchant = make_merchant(store.url)
    auth = basic_auth(merchant["secret_key"])
    stages = [10_000, args.growth_rows]
    loaded, sample, rate = 0, [], 1.0
    for target in stages:
        n = max(0, target - store.count_sessions())
        new_rate = min(1.0, GROWTH_SAMPLE / target)
        sample = [i for i in sample if random.random() < new_rate / rate]
        rate = new_rate
        print(f" [load {n:,}]", end="", flush=True)
        new, load_s = bulk_load(store, merchant["id"], loaded, n, stages[-1], rate)
        loaded += n
        sample += new
        stored = store.count_sessions()
        server = Server(
            store.url, workers_for(args, backend), workdir, cleanup, args.log_level
        ).start()
        try:
            warm(bench, server, auth, sample)
            show = bench.show(server, auth, sample, args.duration)
            create = bench.create(server, auth, args.duration)
        finally:
            server.stop()
        out["stages"].append(
            {
                "sessions_stored": stored,
                "bulk_load_s": round(load_s, 1),
                "show": show,
                "create": create,
            }
        )
    a, b = out["stages"][0], out["stages"][-1]
    out["ratio"] = {
        f"{op}_{m}": round(b[op][m] / a[op][m], 2) if a[op][m] else None
        for op in ("show", "create")
        for m in ("p50_ms", "p99_ms", "requests_per_s")
    }
    return out


# --------------------------------------------------------------------------- reporting


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def is_noisy(run: Any) -> bool:
    """Did other work on the machine take more than NOISY of a core during this run?"""
    other = _get(run, "cpu_pct", "other")
    return other is not None and other > NOISY * 100


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    """The headline figures, and the targets of issue 5 with pass/fail. A target whose runs
    were disturbed by other work on the machine is marked noisy."""
    create_rps = _get(res, "session_create", "requests_per_s")
    http_floor = _get(res, "http_floor", "requests_per_s")
    db_floor = _get(res, "db_floor", "commits_per_s")
    lower = min(http_floor, db_floor) if http_floor and db_floor else None
    show_rps = _get(res, "session_show", "requests_per_s")
    fig: dict[str, Any] = {
        "create_fraction_of_lower_floor": round(create_rps / lower, 3)
        if create_rps and lower
        else None,
        "lower_floor": ("http" if lower == http_floor else "database") if lower else None,
        "show_fraction_of_http_floor": round(show_rps / http_floor, 3)
        if show_rps and http_floor
        else None,
    }
    stages = [st for st in _get(res, "growth", "stages") or [] if isinstance(st, dict)]

    def noisy(*keys: str) -> bool:
        return any(is_noisy(_get(res, k)) for k in keys)

    def check(value: Any, pred: Callable[[Any], bool]) -> bool | None:
        return None if value is None else bool(pred(value))

    t: list[dict[str, Any]] = []

    def target(name: str, value: Any, pred: Callable[[Any], bool], goal: str, noise: bool) -> None:
        t.append(
            {
                "target": name,
                "goal": goal,
                "value": value,
                "pass": check(value, pred),
                "noisy": noise,
            }
        )

    sqlite = res.get("backend") == "sqlite"
    create_noise = noisy("session_create")
    goal = 1000 if sqlite else 1500
    target("create req/s", create_rps, lambda v: v >= goal, f">= {goal:,}", create_noise)
    if not sqlite:
        frac = fig["create_fraction_of_lower_floor"]
        target(
            "create / lower floor",
            frac,
            lambda v: v >= 0.6,
            ">= 0.60",
            noisy("session_create", "http_floor", "db_floor"),
        )
    errs = _get(res, "session_create", "errors_all_runs")
    if errs is None:
        errs = _get(res, "session_create", "errors")
    target("create errors", errs, lambda v: v == 0, "0", False)
    p99 = _get(res, "session_create", "p99_ms")
    target("create p99 ms", p99, lambda v: v < 50, "< 50", create_noise)
    frac = fig["show_fraction_of_http_floor"]
    target(
        "show / HTTP floor",
        frac,
        lambda v: v >= 0.7,
        ">= 0.70",
        noisy("session_show", "http_floor"),
    )
    growth_noise = any(is_noisy(_get(st, op)) for st in stages for op in ("show", "create"))
    for op in ("show", "create"):
        r = _get(res, "growth", "ratio", f"{op}_p50_ms")
        target(f"growth {op} p50 ratio", r, lambda v: v <= 1.3, "<= 1.3", growth_noise)
    size = _get(res, "hosted_page", "total_bytes")
    target("hosted page bytes", size, lambda v: v < 40_000, "< 40,000", False)
    ext = _get(res, "hosted_page", "other_host_loads")
    target(
        "hosted page other hosts", None if ext is None else len(ext), lambda v: v == 0, "0", False
    )
    render = _get(res, "hosted_page", "render_p50_ms")
    target("hosted render p50 ms", render, lambda v: v < 5, "< 5", False)
    mem = _get(res, "memory", "max_growth_pct")
    target("memory growth % (max vs first)", mem, lambda v: v <= 10, "<= 10", False)
    fig["targets"] = t
    return fig


def fmt(v: Any, spec: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not spec:
        spec = ",.1f" if abs(v) >= 100 else ".2f"
    return format(v, spec or ",")


def table(results: dict[str, dict[str, Any]], markdown: bool = False) -> str:
    backends = list(results)
    rows: list[tuple[str, ...]] = []

    def row(label: str, fn: Callable[[dict[str, Any]], str]) -> None:
        cells = []
        for b in backends:
            try:
                cells.append(fn(results[b]))
            except Exception:
                cells.append("-")
        rows.append((label, *cells))

    def lat(r: dict[str, Any], *p: str) -> str:
        return f"{fmt(_get(r, *p, 'p50_ms'))} / {fmt(_get(r, *p, 'p99_ms'))}"

    def star(r: dict[str, Any], *p: str) -> str:
        return "*" if is_noisy(_get(r, *p)) else ""

    for key, label in (
        ("session_create", "session create"),
        ("session_show", "session show"),
        ("pay", "pay (create+pay)"),
        ("http_floor", "HTTP floor"),
    ):
        row(f"{label}: req/s", lambda r, k=key: fmt(_get(r, k, "requests_per_s")) + star(r, k))
        row(f"{label}: p50 / p99 ms", lambda r, k=key: lat(r, k))
        row(f"{label}: errors", lambda r, k=key: fmt(_get(r, k, "errors")))
        if key in ("session_create", "session_show"):
            row(
                f"{label}: CPU % server/db/wrk/other",
                lambda r, k=key: "/".join(
                    fmt(_get(r, k, "cpu_pct", c), ".0f")
                    for c in ("server", "database", "load_generator", "other")
                ),
            )
    row("pay: completed checkouts/s", lambda r: fmt(_get(r, "pay", "checkouts_per_s")))
    row("session create: rows missing", lambda r: fmt(_get(r, "session_create", "rows_missing")))
    row("DB floor: commits/s", lambda r: fmt(_get(r, "db_floor", "commits_per_s")))
    row("DB floor: p50 / p99 ms", lambda r: lat(r, "db_floor"))
    row("DB, one writer: commits/s", lambda r: fmt(_get(r, "db_serial", "commits_per_s")))
    row("disk: fdatasync/s (one writer)", lambda r: fmt(_get(r, "disk", "fdatasync_per_s")))
    row(
        "create / lower floor",
        lambda r: (
            f"{fmt(_get(r, 'figures', 'create_fraction_of_lower_floor'), '.0%')} "
            f"({_get(r, 'figures', 'lower_floor')})"
        ),
    )
    row(
        "show / HTTP floor", lambda r: fmt(_get(r, "figures", "show_fraction_of_http_floor"), ".0%")
    )
    for i, label in ((0, "growth 10k"), (-1, "growth big")):
        row(
            f"{label}: sessions stored",
            lambda r, i=i: fmt(_get(r, "growth", "stages")[i]["sessions_stored"]),
        )
        for op in ("show", "create"):
            row(
                f"{label}: {op} p50 / p99 ms",
                lambda r, i=i, op=op: (
                    lat(_get(r, "growth", "stages")[i], op)
                    + star(_get(r, "growth", "stages")[i], op)
                ),
            )
    for op in ("show", "create"):
        row(
            f"growth ratio {op} p50 / p99",
            lambda r, op=op: (
                f"{fmt(_get(r, 'growth', 'ratio', f'{op}_p50_ms'))} / "
                f"{fmt(_get(r, 'growth', 'ratio', f'{op}_p99_ms'))}"
            ),
        )
    row("hosted page: bytes (all loads)", lambda r: fmt(_get(r, "hosted_page", "total_bytes")))
    row(
        "hosted page: other-host loads",
        lambda r: fmt(len(_get(r, "hosted_page", "other_host_loads"))),
    )
    row(
        "hosted page: render p50 / p99 ms",
        lambda r: (
            f"{fmt(_get(r, 'hosted_page', 'render_p50_ms'))}"
            f" / {fmt(_get(r, 'hosted_page', 'render_p99_ms'))}"
        ),
    )
    row(
        "memory: first / max / last MiB",
        lambda r: "/".join(
            fmt(_get(r, "memory", k), ".0f") for k in ("first_mib", "max_mib", "last_mib")
        ),
    )
    row(
        "memory: growth % (last, max)",
        lambda r: (
            f"{fmt(_get(r, 'memory', 'growth_pct'))}, {fmt(_get(r, 'memory', 'max_growth_pct'))}"
        ),
    )

    if markdown:
        return markdown_table(results, backends, rows)
    widths = [max(len(r[i]) for r in [("", *backends), *rows]) for i in range(len(backends) + 1)]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [("", *backends), *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(f"* other work on the machine used more than {NOISY} of a core during the run")
    lines.append("")
    lines.append("targets (issue 5)")
    for b in backends:
        for t in _get(results[b], "figures", "targets") or []:
            verdict = {True: "PASS", False: "FAIL", None: "n/a"}[t["pass"]]
            lines.append(
                f"  {b:<10} {verdict:<4}  {t['target']:<32} {fmt(t['value']):>10}"
                f"   (goal {t['goal']}){'  noisy' if t.get('noisy') else ''}"
            )
    return "\n".join(lines)


def markdown_table(
    results: dict[str, dict[str, Any]], backends: list[str], rows: list[tuple[str, ...]]
) -> str:
    def line(cells: tuple[str, ...] | list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(["", *backends]), line(["---"] * (len(backends) + 1))]
    out += [line(r) for r in rows]
    out += ["", line(["target (issue 5)", "goal", *backends]), line(["---"] * (len(backends) + 2))]
    names: dict[str, dict[str, str]] = {}
    verdicts: dict[tuple[str, str], str] = {}
    for b in backends:
        for t in _get(results[b], "figures", "targets") or []:
            names.setdefault(t["target"], {})[b] = t["goal"]
            verdict = {True: "PASS", False: "**FAIL**", None: "n/a"}[t["pass"]]
            noisy = " (noisy)" if t.get("noisy") else ""
            verdicts[(t["target"], b)] = f"{verdict} {fmt(t['value'])}{noisy}"
    for name, goals in names.items():
        if len(set(goals.values())) == 1:
            goal = next(iter(goals.values()))
        else:
            goal = "; ".join(f"{b} {g}" for b, g in goals.items())
        out.append(line([name, goal, *(verdicts.get((name, b), "") for b in backends)]))
    return "\n".join(out)


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, IndexError, ValueError):
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    wrk_version = ""
    with contextlib.suppress(Exception):
        v = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        wrk_version = (v.stdout + v.stderr).splitlines()[0].strip()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_mib": mem_kib // 1024,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version,
        "loadavg_at_start": os.getloadavg(),
    }


def fsync_rate(workdir: Path, seconds: float = 2.0) -> dict[str, Any]:
    """The disk's own limit on durable commits: append 4 KiB + fdatasync, one at a time."""
    path = workdir / "fsync.probe"
    block = os.urandom(4096)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    n, lat = 0, []
    try:
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t0)
            n += 1
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return {
        "fdatasync_per_s": round(n / seconds, 1),
        "p50_ms": round(pct(lat, 0.5) * 1000, 2),
        "p99_ms": round(pct(lat, 0.99) * 1000, 2),
    }


def git_commit() -> dict[str, Any]:
    def git(*a: str) -> str:
        return subprocess.run(
            ["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=30
        ).stdout.strip()

    with contextlib.suppress(Exception):
        return {
            "commit": git("rev-parse", "HEAD"),
            "subject": git("log", "-1", "--format=%s"),
            "src_modified": bool(git("status", "--porcelain", "--untracked-files=no", "--", "src")),
        }
    return {"commit": None}


def fs_type(path: Path) -> str:
    best, kind = "", "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    return kind


# --------------------------------------------------------------------------- main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--duration", type=float, help="seconds per measurement (10; --quick: 5)")
    p.add_argument(
        "--quick", action="store_true", help="5 s runs, growth to 100,000 rows, 15 s memory run"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="kessai serve --workers on PostgreSQL (default: the cores, as the README advises)",
    )
    p.add_argument(
        "--sqlite-workers",
        type=int,
        default=1,
        help="kessai serve --workers on SQLite (default 1, as the README advises)",
    )
    p.add_argument(
        "--database-url",
        default=DEFAULT_PG,
        help="PostgreSQL server to create (and drop) the benchmark databases on",
    )
    p.add_argument(
        "--growth-rows", type=int, help="the big growth stage (1,000,000; --quick 100,000)"
    )
    p.add_argument("--memory-seconds", type=float, help="memory run length (60; --quick 15)")
    p.add_argument("--warmup", type=float, help="unrecorded seconds before runs (2; --quick 1)")
    p.add_argument("--show-ids", type=int, default=SHOW_IDS)
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each measurement N times and keep the best (for a shared machine)",
    )
    p.add_argument(
        "--log-level",
        default="warning",
        help="KESSAI_LOG_LEVEL for the server (default warning: no access log)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=60,
        help="minutes; the run stops and cleans up after this (default 60)",
    )
    p.add_argument("--workdir", type=Path, help="where SQLite files and logs go (a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--out", type=Path, default=BENCH, help="directory for the results JSON")
    p.add_argument(
        "--table", type=Path, metavar="RESULTS_JSON", help="only print the table of a results file"
    )
    p.add_argument("--markdown", action="store_true", help="with --table: as Markdown")
    args = p.parse_args()
    if args.table:
        saved = json.loads(args.table.read_text())
        found = saved.get("backends") or {saved.get("backend", "?"): saved}
        for r in found.values():
            r["figures"] = summarize(r)  # with this version's targets
        print(table(found, markdown=args.markdown))
        return 0
    args.duration = args.duration or (5.0 if args.quick else 10.0)
    args.growth_rows = args.growth_rows or (100_000 if args.quick else 1_000_000)
    args.memory_seconds = args.memory_seconds or (15.0 if args.quick else 60.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]

    ensure_wrk()
    cleanup = Cleanup()

    def abort(signum: int, _frame: Any) -> None:
        raise Aborted(f"stopped by {signal.Signals(signum).name}")

    # SIGINT too: a shell may start us with it ignored (`cmd &`), and Ctrl-C must clean up
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, abort)
    signal.alarm(int(args.time_limit * 60))

    for stale in Path(tempfile.gettempdir()).glob("kessai-bench-*-*"):
        pid = stale.name.split("-")[2]
        if pid.isdigit() and not _is_bench_process(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed run
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"kessai-bench-{os.getpid()}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not args.keep and not args.workdir:
        cleanup.push("remove work directory", lambda: shutil.rmtree(workdir, ignore_errors=True))
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "kessai": git_commit(),
        "settings": {
            "workers": args.workers,
            "sqlite_workers": args.sqlite_workers,
            "concurrency": CONCURRENCY,
            "wrk_threads": WRK_THREADS,
            "duration_s": args.duration,
            "quick": args.quick,
            "growth_rows": args.growth_rows,
            "memory_seconds": args.memory_seconds,
            "warmup_s": args.warmup,
            "repeat": args.repeat,
            "server_log_level": args.log_level,
            "kessai_env": {k: v for k, v in os.environ.items() if k.startswith("KESSAI_")},
            "workdir_filesystem": fs_type(workdir.resolve()),
        },
        "disk": fsync_rate(workdir),
    }
    if meta["settings"]["workdir_filesystem"] in ("tmpfs", "ramfs"):
        print(
            f"warning: {workdir} is on {meta['settings']['workdir_filesystem']}: SQLite's "
            "fsync costs nothing there; use --workdir on a disk",
            file=sys.stderr,
        )
    c = meta["kessai"].get("commit") or "?"
    print(
        f"kessai {c[:10]}, {meta['machine']['nproc']} CPUs ({meta['machine']['cpu_model']}), "
        f"load {os.getloadavg()[0]:.2f}; work dir {workdir}",
        flush=True,
    )

    results: dict[str, dict[str, Any]] = {}
    status = 0
    aborted = False
    try:
        if "postgresql" in backends:
            for name in Store.drop_stale(args.database_url):
                print(f"dropped {name}, left by a killed run", flush=True)
        for backend in backends:
            res = results[backend] = {**meta, "backend": backend}
            try:
                run_backend(res, backend, args, workdir, cleanup)
            except (Aborted, KeyboardInterrupt) as exc:
                res["aborted"] = str(exc) or "Ctrl-C"
                raise
            except Exception as exc:
                status = 1
                res["error"] = f"{type(exc).__name__}: {exc}"[:3000]
                print(f"\n{backend} failed: {exc}", file=sys.stderr)
            finally:
                res["loadavg_at_end"] = os.getloadavg()
                res["figures"] = summarize(res)
            args.out.mkdir(parents=True, exist_ok=True)
            path = args.out / f"results-{backend}.json"
            path.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    except (Aborted, KeyboardInterrupt) as exc:
        print(f"\naborted: {exc or 'Ctrl-C'}; cleaning up", file=sys.stderr)
        status, aborted = 130, True
    finally:
        signal.alarm(0)
        # a second Ctrl-C or SIGTERM must not interrupt the cleanup
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cleanup.run()
    if results:
        print()
        print(table(results))
        if aborted:
            print("\naborted: the JSON results files were left as they were", flush=True)
        else:
            combined = {**meta, "backends": results}
            (args.out / "results.json").write_text(
                json.dumps(combined, indent=2, ensure_ascii=False) + "\n"
            )
            print(f"\nwrote {args.out}/results.json and results-<backend>.json", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
