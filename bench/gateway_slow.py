"""bench/gateway.py's slow-upstream run: does a gateway whose upstream answers every call
after 2 seconds keep serving its other requests at full speed?

Session create and session show on the gateway (test-mode key: the simulated processor,
never the upstream) are measured with wrk (bench/lua/create.lua and show.lua) twice: with
no live payment in flight, and while another client keeps LIVE live-mode card payments in
flight through the slow upstream the whole time.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from gateway_client import CARD
from gateway_procs import Pair
from run import (
    CLK_TCK,
    CREATE_BODY,
    LUA,
    basic_auth,
    machine_ticks,
    pct,
    process_tree,
    spawn,
    stop_group,
)
from run import _proc_stat as proc_stat

NOISY = 0.25  # cores of CPU used by other work during a run that mark it "noisy"


def cpu_ticks(pids: list[int]) -> int:
    return sum(st[1] for pid in pids if (st := proc_stat(pid)) is not None)


def _db_pids(pair: Pair) -> list[int]:
    names = [n.store.dbname.encode() for n in (pair.gateway, pair.upstream)
             if n.store.backend == "postgresql"]  # fmt: skip
    if not names:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"postgres:") and any(n in title for n in names):
                out.append(int(entry))
    return out


def _db_ticks(pair: Pair) -> dict[int, int]:
    return {pid: st[1] for pid in _db_pids(pair) if (st := proc_stat(pid)) is not None}


def snapshot(pair: Pair) -> dict[str, Any]:
    """CPU seconds so far: each server's process tree, their PostgreSQL backends, this
    harness (its live-payment client thread and its reaped wrk runs), the machine."""
    assert pair.gateway.proc is not None and pair.upstream.proc is not None
    me = os.times()
    busy, total = machine_ticks()
    return {
        "gateway": cpu_ticks(process_tree(pair.gateway.proc.pid)) / CLK_TCK,
        "upstream": cpu_ticks(process_tree(pair.upstream.proc.pid)) / CLK_TCK,
        "database": _db_ticks(pair),  # per backend: connections come and go
        "harness": me.user + me.system + me.children_user + me.children_system,
        "busy": busy / CLK_TCK,
        "total": total / CLK_TCK / (os.cpu_count() or 1),
    }


def cpu_pct(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Where the machine's CPU went between two snapshots, in % of one core; `other` is
    everything not ours (a run where it passed a quarter of a core is `noisy`)."""
    db0, db1 = before["database"], after["database"]
    d = {k: after[k] - before[k] for k in before if k != "database"}
    d["database"] = sum(t - db0.get(pid, 0) for pid, t in db1.items()) / CLK_TCK
    wall = d.pop("total") or 1.0
    ours = d["gateway"] + d["upstream"] + d["database"] + d["harness"]
    out: dict[str, Any] = {k: round(100 * v / wall, 1) for k, v in d.items()}
    out["other"] = round(max(0.0, 100 * (d["busy"] - ours) / wall), 1)
    out["noisy"] = (d["busy"] - ours) / wall > NOISY
    return out


def wrk(pair: Pair, script: str, env: dict[str, str], seconds: float, conc: int) -> dict[str, Any]:
    """One wrk run (-t2 -cCONC); throughput, latency, errors and CPU (% of one core)."""
    cmd = ["wrk", "-t2", f"-c{conc}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(LUA / script), pair.gateway.base]  # fmt: skip
    before = snapshot(pair)
    proc = spawn(cmd, env={**os.environ, "KB_LUA_DIR": str(LUA), **env},
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=seconds + 60)
    finally:
        stop_group(proc, grace=2)
    cpu = cpu_pct(before, snapshot(pair))
    line = next((ln for ln in out.splitlines() if ln.startswith("KBJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result (exit {proc.returncode}):\n{out}\n{err}")
    raw = json.loads(line[len("KBJSON ") :])
    secs = raw["duration_us"] / 1e6
    sock = sum(raw[f"err_{k}"] for k in ("connect", "read", "write", "timeout"))
    return {
        "requests_per_s": round(raw["ok2xx"] / secs, 1),
        "p50_ms": round(raw["lat_p50_us"] / 1000, 2),
        "p99_ms": round(raw["lat_p99_us"] / 1000, 2),
        "max_ms": round(raw["lat_max_us"] / 1000, 2),
        "ok_2xx": raw["ok2xx"],
        "errors": raw["non2xx"] + sock,
        "first_error": raw["first_error"],
        "cpu_pct": cpu,
        "noisy": cpu["noisy"],
        # requests per second of the gateway's CPU: what other work on the machine moves least
        "per_gateway_cpu_s": round(raw["ok2xx"] / secs / (cpu["gateway"] / 100), 1)
        if cpu["gateway"]
        else None,
    }


class LiveLoad:
    """`inflight` concurrent loops, each making one live card payment after another through
    the gateway (unique idempotency keys, capture true), in a thread of its own. Their starts
    are spread over one upstream delay, so that answers arrive evenly, not in waves."""

    def __init__(
        self, base: str, live_key: str, inflight: int, timeout: float, spread: float = 0.0
    ) -> None:
        self.base, self.key, self.n, self.timeout = base, live_key, inflight, timeout
        self.spread = spread  # loop i starts at i * spread / n: no waves of answers
        self.tag = secrets.token_hex(6)  # keys never repeat across loads: no replays
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.in_flight = 0
        self.samples: list[int] = []  # in flight, sampled while measuring
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> LiveLoad:
        self.thread.start()
        return self

    def sample(self) -> None:
        self.samples.append(self.in_flight)

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.n + 4)
        async with httpx.AsyncClient(
            base_url=self.base, auth=(self.key, ""), timeout=self.timeout, limits=limits
        ) as http:
            await asyncio.gather(*(self._loop(http, i) for i in range(self.n)))

    async def _loop(self, http: httpx.AsyncClient, worker: int) -> None:
        n = 0
        await asyncio.sleep(worker * self.spread / self.n)
        while not self.stop.is_set():
            n += 1
            body = {"amount": 1200 + n, "currency": "JPY", "payment_details": CARD}
            headers = {"X-KOMOJU-IDEMPOTENCY": f"slow-{self.tag}-{worker}-{n}"}
            self.in_flight += 1
            t0 = time.monotonic()
            try:
                resp = await http.post("/api/v1/payments", json=body, headers=headers)
                label = f"{resp.status_code} {resp.json().get('status', '')}".strip()
            except (httpx.HTTPError, ValueError) as exc:
                label = type(exc).__name__
            finally:
                self.in_flight -= 1
            self.latencies.append(time.monotonic() - t0)
            self.statuses[label] = self.statuses.get(label, 0) + 1

    def finish(self) -> dict[str, Any]:
        self.stop.set()
        self.thread.join(timeout=self.timeout + 10)
        lat = self.latencies
        return {
            "inflight_target": self.n,
            "payments": len(lat),
            "statuses": self.statuses,
            "p50_ms": round(pct(lat, 0.5) * 1000, 1),
            "p99_ms": round(pct(lat, 0.99) * 1000, 1),
            "min_ms": round(min(lat) * 1000, 1) if lat else None,
            "inflight_while_measuring": {
                "min": min(self.samples, default=0),
                "mean": round(sum(self.samples) / max(1, len(self.samples)), 1),
            },
        }


def seed_sessions(base: str, test_key: str, n: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=base, auth=(test_key, ""), timeout=30) as http:
        for i in range(n):
            resp = http.post("/api/v1/sessions", json=CREATE_BODY,
                             headers={"X-KOMOJU-IDEMPOTENCY": f"seed-{i}"})  # fmt: skip
            resp.raise_for_status()
            ids.append(resp.json()["id"])
    return ids


def measure(pair: Pair, workdir: Path, ids_file: Path, seconds: float, conc: int,
            tag: str, load: LiveLoad | None) -> dict[str, Any]:  # fmt: skip
    auth = basic_auth(pair.test_key)
    body = workdir / "create.json"
    body.write_text(json.dumps(CREATE_BODY, ensure_ascii=False))
    sampler_stop = threading.Event()

    def sampler() -> None:
        while load is not None and not sampler_stop.wait(0.25):
            load.sample()

    t = threading.Thread(target=sampler, daemon=True)
    t.start()
    try:
        create = wrk(pair, "create.lua",
                     {"KB_AUTH": auth, "KB_BODY": str(body), "KB_RUN": f"{tag}-{time.time_ns()}"},
                     seconds, conc)  # fmt: skip
        show = wrk(pair, "show.lua", {"KB_AUTH": auth, "KB_IDS": str(ids_file)}, seconds, conc)
    finally:
        sampler_stop.set()
        t.join()
    return {"session_create": create, "session_show": show}


def cost_alone(pair: Pair, load: LiveLoad, seconds: float) -> dict[str, Any]:
    """The live payments with nothing else: payments/s and the gateway's CPU per payment."""
    assert pair.gateway.proc is not None
    pids = process_tree(pair.gateway.proc.pid)
    n0, cpu0, t0 = len(load.latencies), cpu_ticks(pids), time.monotonic()
    time.sleep(seconds)
    n, cpu = len(load.latencies) - n0, (cpu_ticks(pids) - cpu0) / CLK_TCK
    wall = time.monotonic() - t0
    return {
        "payments_per_s": round(n / wall, 1),
        "gateway_cpu_pct": round(100 * cpu / wall, 1),
        "gateway_cpu_ms_per_payment": round(1000 * cpu / n, 2) if n else None,
    }


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per operation, the run with the most requests/s (the least disturbed by other work
    on a shared machine), with every run's throughput beside it."""
    out = {}
    for op in ("session_create", "session_show"):
        top = dict(max((r[op] for r in runs), key=lambda x: x["requests_per_s"]))
        top["requests_per_s_each"] = [r[op]["requests_per_s"] for r in runs]
        top["noisy_runs"] = sum(r[op]["noisy"] for r in runs)
        out[op] = top
    return out


def run_slow(pair: Pair, workdir: Path, args: Any) -> dict[str, Any]:
    """Upstream with latency_ms=LATENCY; baseline and under live load, alternated --repeat
    times (the best of each kept); then the live payments' own cost; ratios."""
    pair.upstream.start(f"latency_ms={args.latency_ms}")
    pair.gateway.start()
    ids_file = workdir / "show-ids.txt"
    ids_file.write_text("\n".join(seed_sessions(pair.gateway.base, pair.test_key, 300)) + "\n")
    conc, secs = args.concurrency, args.duration
    measure(pair, workdir, ids_file, 2, conc, "warm", None)  # unrecorded warm-up
    base_runs, load_runs, lives = [], [], []
    latencies: list[float] = []
    live_alone: dict[str, Any] = {}
    for rep in range(max(1, args.repeat)):
        base_runs.append(measure(pair, workdir, ids_file, secs, conc, f"base{rep}", None))
        load = LiveLoad(pair.gateway.base, pair.live_key, args.inflight, pair.timeout + 30,
                        spread=args.latency_ms / 1000)  # fmt: skip
        load.start()
        time.sleep(args.latency_ms / 1000 + 1.5)  # every loop has a payment waiting upstream
        load_runs.append(measure(pair, workdir, ids_file, secs, conc, f"load{rep}", load))
        if rep == max(1, args.repeat) - 1:
            live_alone = cost_alone(pair, load, secs)
        lives.append(load.finish())
        latencies += load.latencies
    baseline, loaded = best(base_runs), best(load_runs)
    ratios = {
        f"{op}_{k}": round(loaded[op][k] / baseline[op][k], 2) if baseline[op][k] else None
        for op in ("session_create", "session_show")
        for k in ("requests_per_s", "p50_ms", "p99_ms")
    }
    statuses: dict[str, int] = {}
    for lv in lives:
        for k, v in lv["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    live = {
        "inflight_target": args.inflight,
        "payments": len(latencies),
        "statuses": statuses,
        "p50_ms": round(pct(latencies, 0.5) * 1000, 1),
        "p99_ms": round(pct(latencies, 0.99) * 1000, 1),
        "min_ms": round(min(latencies) * 1000, 1) if latencies else None,
        "inflight_while_measuring": {
            "min": min(lv["inflight_while_measuring"]["min"] for lv in lives),
            "mean": round(
                sum(lv["inflight_while_measuring"]["mean"] for lv in lives) / len(lives), 1
            ),
        },  # fmt: skip
        "alone": live_alone,
    }
    live["valid"] = set(statuses) == {"200 captured"}  # else the load was not what it claims
    runs = {"baseline": base_runs, "with_live_load": load_runs}
    return {"baseline": baseline, "with_live_load": loaded, "loaded_over_baseline": ratios,
            "live_payments": live, "runs": runs}  # fmt: skip
