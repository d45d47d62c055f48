"""kessai as a gateway in front of KOMOJU (issue 10), measured: faults and a slow upstream.

    .venv/bin/python bench/gateway.py faults [--backend sqlite|postgresql|both]
        [--payments 300] [--concurrency 16] [--timeout 8] [--settle-limit 120]
    .venv/bin/python bench/gateway.py slow [--backend ...] [--duration 10] [--repeat 3]
        [--concurrency 16] [--inflight 32] [--latency-ms 2000]

Both start two `kessai serve`s, each on its own fresh store (SQLite files, or PostgreSQL
databases created on --database-url and dropped at exit): an upstream playing KOMOJU
(merchant U, test mode) and a gateway (merchant G) whose live mode goes to U through
`kessai processor set ... komoju`, with U's webhooks pointed at the gateway's receiver.

faults  The upstream runs with --faults SPEC (default: the issue's). A client makes
        --payments card payments through the gateway (a third authorize-then-capture, some
        partially refunded), retrying every request with the same idempotency key. Then the
        upstream is restarted without faults on the same store, and every second, for up to
        --settle-limit seconds, every gateway payment is checked against the upstream's.
slow    The upstream answers every call after --latency-ms. Gateway session create and show
        (test key) with wrk: alone, then while --inflight live payments wait on the upstream.

Prints a summary and writes the figures into bench/results-gateway.json (under "faults" or
"slow", per backend). Everything started is stopped on exit. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway_faults import FAULTS, run_faults
from gateway_procs import make_pair
from gateway_slow import run_slow
from run import BENCH, DEFAULT_PG, ROOT, Aborted, Cleanup, ensure_wrk, git_commit, machine_info


def src_digest() -> str:
    """A digest of the source tree as run (the working tree may differ from the commit)."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="run", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    common.add_argument("--database-url", default=DEFAULT_PG,
                        help="PostgreSQL server to create (and drop) the databases on")  # fmt: skip
    common.add_argument("--workers", type=int, default=None,
                        help="server processes (default: 1 on SQLite, the cores on PostgreSQL, "
                        "as the README advises)")  # fmt: skip
    common.add_argument("--concurrency", type=int, default=16)
    common.add_argument("--log-level", default="warning", help="KESSAI_LOG_LEVEL of both")
    common.add_argument("--workdir", type=Path, help="SQLite files and server logs (temp dir)")
    common.add_argument("--keep", action="store_true", help="keep the work directory")
    common.add_argument("--out", type=Path, default=BENCH / "results-gateway.json")
    common.add_argument("--time-limit", type=float, default=15, help="minutes, then stop")
    f = sub.add_parser("faults", parents=[common], help="the fault run (issue 10)")
    f.add_argument("--faults", default=FAULTS, help=f"the upstream's --faults (default {FAULTS})")
    f.add_argument("--payments", type=int, default=300)
    f.add_argument("--no-tax", action="store_true", help="no payment carries tax")
    f.add_argument(
        "--timeout",
        type=float,
        default=8.0,
        help="the gateway's processor timeout, seconds (processor set --timeout)",
    )
    f.add_argument("--client-timeout", type=float, default=60.0, help="per request, seconds")
    f.add_argument("--client-attempts", type=int, default=60,
                   help="attempts per request before the client gives up (1: never retries, "
                   "leaving unknown outcomes to the reconciler)")  # fmt: skip
    f.add_argument("--settle-limit", type=float, default=120.0,
                   help="seconds after the restart within which the checks must pass")  # fmt: skip
    s = sub.add_parser("slow", parents=[common], help="the slow-upstream run (issue 10)")
    s.add_argument("--latency-ms", type=int, default=2000)
    s.add_argument("--duration", type=float, default=10.0, help="seconds of each wrk run")
    s.add_argument("--inflight", type=int, default=32, help="live payments kept in flight")
    s.add_argument("--repeat", type=int, default=3,
                   help="alternate baseline and loaded runs N times; keep the best")  # fmt: skip
    s.add_argument("--timeout", type=float, default=10.0,
                   help="the gateway's processor timeout, seconds")  # fmt: skip
    return p.parse_args()


def summary_faults(r: dict[str, Any]) -> str:
    c, s, fc = r["client"], r["settle"], r["final_check"]
    lines = [
        f"  client: {c['attempts']} requests ({c['retries']} retries) in {c['seconds']} s; "
        f"5xx: {c['faults_own_5xx']} processor_unavailable, {c['other_5xx']} other; "
        f"transport errors {sum(c['transport_errors'].values())}; gave up {len(c['gave_up'])}",
        f"  upstream faults injected: {r['upstream_faults_injected']}",
        f"  settle: {'PASS' if s['passed'] else 'FAIL'} "
        f"({s['seconds_from_restart']} s after restart; limit {s['limit_s']:g} s)",
        f"  gateway payments {fc['gateway_payments']} {fc['gateway_statuses']}; matched "
        f"{fc['matched']}; failed never reaching upstream {fc['failed_never_reached_upstream']}",
        f"  upstream payments {fc['upstream_payments']}; orphans "
        f"{len(fc['orphan_upstream_payments'])}; unmarked {len(fc['unmarked_upstream_payments'])}",
        f"  mismatches {len(fc['mismatches'])}: {fc['mismatch_kinds']}",
    ]
    if r["gateway_log"]["tracebacks"]:
        lines.append(f"  gateway log: {r['gateway_log']['tracebacks']} tracebacks (a bug)")
    for m in fc["mismatches"][:10]:
        lines.append(f"    {m['payment']}: {m['problem']}")
    for o in c["other_5xx_examples"][:5]:
        lines.append(f"    other 5xx: {o['op']} {o['status']} {o['body'][:160]}")
    return "\n".join(lines)


def summary_slow(r: dict[str, Any]) -> str:
    lines = []
    for op in ("session_create", "session_show"):
        b, w = r["baseline"][op], r["with_live_load"][op]
        lines.append(
            f"  {op}: {b['requests_per_s']:,} -> {w['requests_per_s']:,} req/s "
            f"(x{r['loaded_over_baseline'][op + '_requests_per_s']}); p50 {b['p50_ms']} -> "
            f"{w['p50_ms']} ms, p99 {b['p99_ms']} -> {w['p99_ms']} ms; errors "
            f"{b['errors']}/{w['errors']}; each run (req/s) {b['requests_per_s_each']} / "
            f"{w['requests_per_s_each']}; noisy runs {b['noisy_runs']}/{w['noisy_runs']}; "
            f"per gateway CPU-second {b['per_gateway_cpu_s']} -> {w['per_gateway_cpu_s']}"
        )
    lv = r["live_payments"]
    lines.append(
        f"  live payments: {lv['payments']} {lv['statuses']}, p50 {lv['p50_ms']} ms, "
        f"p99 {lv['p99_ms']} ms; in flight while measuring {lv['inflight_while_measuring']}"
    )
    lines.append(f"  live payments alone: {lv['alone']}")
    if not lv["valid"]:
        lines.append("  INVALID: not every live payment was '200 captured' (see the gateway log)")
    return "\n".join(lines)


def main() -> int:
    args = parse()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if args.run == "slow":
        ensure_wrk()
    cleanup = Cleanup()

    def abort(signum: int, _frame: Any) -> None:
        raise Aborted(f"stopped by {signal.Signals(signum).name}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, abort)
    signal.alarm(int(args.time_limit * 60))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"kessai-gateway-{os.getpid()}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not args.keep and not args.workdir:
        cleanup.push("remove work directory", lambda: shutil.rmtree(workdir, ignore_errors=True))
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "workdir", "keep")}
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "kessai": {**git_commit(), "src_digest": src_digest()},
        "settings": {**settings, "kessai_env": {
            k: v for k, v in os.environ.items() if k.startswith("KESSAI_")}},
    }  # fmt: skip
    print(f"gateway {args.run}: {meta['machine']['nproc']} CPUs, load "
          f"{os.getloadavg()[0]:.2f}; work dir {workdir}", flush=True)  # fmt: skip
    results: dict[str, Any] = {}
    status = 0
    try:
        for backend in backends:
            workers = args.workers or (1 if backend == "sqlite" else os.cpu_count() or 2)
            print(f"{backend} (servers with --workers {workers}):", flush=True)
            res: dict[str, Any] = {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "commit": meta["kessai"],
                "workers": workers,
            }
            try:
                pair = make_pair(backend, backend[:2], workdir, args.database_url, cleanup,
                                 timeout=args.timeout, workers=workers,
                                 log_level=args.log_level)  # fmt: skip
                if args.run == "faults":
                    res.update(run_faults(pair, args))
                    print(summary_faults(res), flush=True)
                else:
                    res.update(run_slow(pair, workdir, args))
                    print(summary_slow(res), flush=True)
                pair.gateway.stop()
                pair.upstream.stop()
            except Exception as exc:
                status = 1
                res["error"] = f"{type(exc).__name__}: {exc}"[:3000]
                print(f"{backend} failed: {res['error']}", file=sys.stderr, flush=True)
            res["loadavg_at_end"] = os.getloadavg()
            results[backend] = res
    except (Aborted, KeyboardInterrupt) as exc:
        print(f"aborted: {exc or 'Ctrl-C'}; cleaning up (no results written)", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cleanup.run()
    key = args.run + ("_no_tax" if getattr(args, "no_tax", False) else "")
    if getattr(args, "client_attempts", 60) != 60:
        key += f"_attempts{args.client_attempts}"
    if args.run == "faults" and args.timeout != 8.0:
        key += f"_timeout{args.timeout:g}"
    saved = json.loads(args.out.read_text()) if args.out.exists() else {}
    saved[key] = {**meta, "backends": {**saved.get(key, {}).get("backends", {}), **results}}
    args.out.write_text(json.dumps(saved, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"wrote {args.out} ({key})", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
