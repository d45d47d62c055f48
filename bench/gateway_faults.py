"""bench/gateway.py's fault run: payments through a gateway whose upstream injects faults,
then the upstream restarted without them, and the time until both sides agree.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from typing import Any

import httpx
from gateway_check import check, operations_of
from gateway_client import run_client
from gateway_procs import Pair

FAULTS = "error_before=0.1,error_after=0.1,drop_after=0.05,stall_after=0.05"
METRIC = re.compile(r'^kessai_faults_injected_total\{kind="(\w+)"\} ([0-9.e+]+)$', re.M)


def faults_injected(base: str) -> dict[str, float]:
    """The upstream's kessai_faults_injected_total, by kind (one scrape of /metrics)."""
    try:
        text = httpx.get(base + "/metrics", timeout=10).text
    except httpx.HTTPError as exc:
        return {"error": type(exc).__name__}  # type: ignore[dict-item]
    out: dict[str, float] = {}
    for kind, value in METRIC.findall(text):
        out[kind] = out.get(kind, 0) + float(value)
    return out


def _brief(c: dict[str, Any], t: float) -> dict[str, Any]:
    return {
        "t_s": round(t, 1),
        "ok": c["ok"],
        "mismatches": len(c["mismatches"]),
        "kinds": c["mismatch_kinds"],
        "orphans": len(c["orphan_upstream_payments"]),
        "open_operations": c["gateway_open_operations"],
    }


def run_faults(pair: Pair, args: Any) -> dict[str, Any]:
    res: dict[str, Any] = {"faults": args.faults, "processor_timeout_s": pair.timeout}
    pair.upstream.start(args.faults)
    pair.gateway.start()
    run = f"gw{secrets.token_hex(3)}"
    print(f"  client: {args.payments} payments, concurrency {args.concurrency}", flush=True)
    client = asyncio.run(
        run_client(pair.gateway.base, pair.live_key, args.payments, args.concurrency,
                   args.client_timeout, run, not args.no_tax, args.client_attempts)
    )  # fmt: skip
    payments_log = client.pop("payments")
    res["client"] = client
    res["upstream_faults_injected"] = faults_injected(pair.upstream.base)
    gw = pair.gateway.store
    res["after_client"] = {
        "gateway_open_operations": gw.query(
            "SELECT kind, count(*) FROM processor_operations WHERE status = ? GROUP BY kind",
            "open",
        ),
        "gateway_payment_statuses": gw.query(
            "SELECT status, count(*) FROM payments WHERE livemode = ? GROUP BY status", True
        ),
    }
    print(
        f"  client done in {client['seconds']} s: {client['attempts']} requests, "
        f"{client['faults_own_5xx']} x 503 processor_unavailable, "
        f"{client['other_5xx']} other 5xx; restarting the upstream without faults",
        flush=True,
    )

    t0 = time.monotonic()
    pair.upstream.stop()
    res["upstream_stop_s"] = round(time.monotonic() - t0, 1)
    pair.upstream.start(None)
    res["upstream_restart_s"] = round(time.monotonic() - t0, 1)
    progress: list[dict[str, Any]] = []
    passed_at = None
    last: dict[str, Any] = {}
    with (
        httpx.Client(base_url=pair.gateway.base, timeout=30) as gw_http,
        httpx.Client(base_url=pair.upstream.base, timeout=30) as up_http,
    ):
        while True:
            t = time.monotonic() - t0
            try:
                last = check(gw_http, pair.live_key, up_http, pair.upstream_key, gw)
            except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
                progress.append({"t_s": round(t, 1), "error": f"{type(exc).__name__}: {exc}"})
                if t > args.settle_limit:
                    raise
                time.sleep(1)
                continue
            progress.append(_brief(last, t))
            if last["ok"]:
                passed_at = t
                break
            if t > args.settle_limit:
                break
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0 - t)))
    res["settle"] = {
        "limit_s": args.settle_limit,
        "passed": passed_at is not None,
        "seconds_from_restart": round(passed_at, 1) if passed_at is not None else None,
        "polls": len(progress),
        "first_poll": progress[0],
        "progress": _changes(progress),
    }
    bad = [m["payment"] for m in last["mismatches"]] + [
        o["kessai_payment"] for o in last["orphan_upstream_payments"]
    ]
    by_payment = {e.get("payment"): e for e in payments_log.values() if e.get("payment")}
    last["client_answers"] = {pid: by_payment.get(pid) for pid in bad}
    last["gateway_operations"] = operations_of(gw, bad)
    res["final_check"] = last
    res["gateway_log"] = {
        "tracebacks": pair.gateway.count_log("Traceback"),
        "outcome_unknown_warnings": pair.gateway.count_log("outcome unknown"),
    }
    res["judgement"] = {
        "consistent_within_limit": passed_at is not None,
        "no_5xx_but_faults_own": client["other_5xx"] == 0,
        "no_client_gave_up": not client["gave_up"],
        "no_traceback_in_gateway_log": res["gateway_log"]["tracebacks"] == 0,
    }
    return res


def _changes(progress: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The polls whose figures differ from the one before (and the last)."""
    out = []
    for i, p in enumerate(progress):
        key = {k: v for k, v in p.items() if k != "t_s"}
        if (
            i == 0
            or i == len(progress) - 1
            or key != {k: v for k, v in progress[i - 1].items() if k != "t_s"}
        ):
            out.append(p)
    return out
