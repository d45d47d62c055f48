"""The client of bench/gateway.py's fault run: card payments through the gateway, each
request retried with the SAME idempotency key until it gets an answer below 500.

Every attempt is counted. A 5xx is classified: the gateway's 503 `processor_unavailable`
(an upstream fault made the outcome unknown: the faults' own) or anything else (a bug,
kept with its body). 409 (the same key still being processed) is retried too, and counted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

CARD = {
    "type": "credit_card",
    "number": "4111111111111111",
    "month": 12,
    "year": datetime.now(UTC).year + 3,
    "verification_value": "123",
    "name": "HANAKO YAMADA",
}


@dataclass
class Tally:
    """Everything the client saw, over all requests."""

    attempts: int = 0
    retries: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # "503 processor_unavailable"...
    final: Counter[str] = field(default_factory=Counter)  # "create 200 captured"...
    faults_own_5xx: int = 0
    other_5xx: list[dict[str, Any]] = field(default_factory=list)
    transport_errors: Counter[str] = field(default_factory=Counter)
    gave_up: list[dict[str, Any]] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)  # per operation, whole

    def as_dict(self) -> dict[str, Any]:
        lat = {}
        for op, values in sorted(self.latencies.items()):
            s = sorted(values)
            lat[op] = {
                "n": len(s),
                "p50_ms": round(s[len(s) // 2] * 1000, 1) if s else None,
                "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))] * 1000, 1) if s else None,
                "max_ms": round(s[-1] * 1000, 1) if s else None,
            }
        return {
            "attempts": self.attempts,
            "retries": self.retries,
            "statuses_seen": dict(sorted(self.statuses.items())),
            "final_answers": dict(sorted(self.final.items())),
            "faults_own_5xx": self.faults_own_5xx,
            "other_5xx": len(self.other_5xx),
            "other_5xx_examples": self.other_5xx[:20],
            "transport_errors": dict(self.transport_errors),
            "gave_up": self.gave_up,
            "operation_latency": lat,
        }


class Retrying:
    """POSTs to the gateway, retried with the same key on 5xx, 409, timeouts and
    connection errors, with a capped exponential backoff and jitter."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tally: Tally,
        *,
        max_attempts: int = 60,
        max_seconds: float = 150.0,
    ) -> None:
        self.http = http
        self.tally = tally
        self.max_attempts = max_attempts
        self.max_seconds = max_seconds

    async def post(
        self, op: str, path: str, key: str, body: dict[str, Any]
    ) -> httpx.Response | None:
        t0 = time.monotonic()
        headers = {"X-KOMOJU-IDEMPOTENCY": key}
        for attempt in range(1, self.max_attempts + 1):
            self.tally.attempts += 1
            if attempt > 1:
                self.tally.retries += 1
            try:
                resp = await self.http.post(path, json=body, headers=headers)
            except httpx.TimeoutException as exc:
                self.tally.transport_errors[f"{op} {type(exc).__name__}"] += 1
            except httpx.TransportError as exc:
                self.tally.transport_errors[f"{op} {type(exc).__name__}"] += 1
            else:
                code = _code(resp)
                self.tally.statuses[f"{resp.status_code} {code}"] += 1
                if resp.status_code >= 500:
                    if resp.status_code == 503 and code == "processor_unavailable":
                        self.tally.faults_own_5xx += 1
                    else:
                        self.tally.other_5xx.append(
                            {"op": op, "path": path, "key": key, "status": resp.status_code,
                             "body": resp.text[:1000]}
                        )  # fmt: skip
                elif resp.status_code != 409:
                    status = _field(resp, "status")
                    self.tally.final[f"{op} {resp.status_code} {status or code}"] += 1
                    self.tally.latencies.setdefault(op, []).append(time.monotonic() - t0)
                    return resp
            if time.monotonic() - t0 > self.max_seconds:
                break
            await asyncio.sleep(min(0.2 * 2 ** min(attempt - 1, 4), 3.0) * random.uniform(0.5, 1))
        self.tally.gave_up.append({"op": op, "path": path, "key": key, "attempts": attempt})
        return None


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _code(resp: httpx.Response) -> str:
    body = _json(resp)
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("code"))
    return "" if resp.status_code < 400 else "(no error body)"


def _field(resp: httpx.Response, name: str) -> Any:
    body = _json(resp)
    return body.get(name) if isinstance(body, dict) else None


@dataclass(frozen=True)
class Plan:
    """What the client does with payment i."""

    index: int
    amount: int
    tax: int
    capture_later: bool  # authorize, then capture
    capture_amount: int | None  # None: the whole amount
    refund: int | None  # a partial refund


def plans(n: int, with_tax: bool = True) -> list[Plan]:
    """A third authorize-then-capture (half of those partially), half with tax, two in five
    partially refunded; every combination occurs; amounts varied."""
    out = []
    for i in range(n):
        amount = 1000 + 37 * i
        later = i % 3 == 0
        partial = later and i % 4 in (0, 3)
        captured = amount - 200 if partial else amount
        tax = amount // 10 if with_tax and i % 2 == 1 else 0
        refund = (captured + tax) // 3 if i % 5 in (0, 2) else None
        out.append(Plan(i, amount, tax, later, captured if partial else None, refund))
    return out


async def pay(client: Retrying, plan: Plan, run: str, log: dict[str, Any]) -> None:
    """Create (capture true/false), maybe capture, maybe refund; each retried."""
    body: dict[str, Any] = {
        "amount": plan.amount,
        "currency": "JPY",
        "capture": not plan.capture_later,
        "payment_details": CARD,
        "external_order_num": f"{run}-{plan.index}",
        "metadata": {"bench_order": str(plan.index)},
    }
    if plan.tax:
        body["tax"] = plan.tax
    key = f"{run}-{plan.index}"
    resp = await client.post("create", "/api/v1/payments", f"{key}-create", body)
    entry = log[key] = {"plan": plan.__dict__, "answers": {}}
    if resp is None:
        return
    entry["answers"]["create"] = [resp.status_code, _field(resp, "status"), _code(resp)]
    payment_id, status = _field(resp, "id"), _field(resp, "status")
    if resp.status_code != 200 or not payment_id:
        return
    entry["payment"] = payment_id
    if plan.capture_later and status == "authorized":
        capture = {} if plan.capture_amount is None else {"amount": plan.capture_amount}
        path = f"/api/v1/payments/{payment_id}/capture"
        resp = await client.post("capture", path, f"{key}-capture", capture)
        if resp is None:
            return
        entry["answers"]["capture"] = [resp.status_code, _field(resp, "status"), _code(resp)]
        status = _field(resp, "status") if resp.status_code == 200 else status
    if plan.refund and status == "captured":
        path = f"/api/v1/payments/{payment_id}/refund"
        refund = {"amount": plan.refund, "description": "bench partial refund"}
        resp = await client.post("refund", path, f"{key}-refund", refund)
        if resp is not None:
            entry["answers"]["refund"] = [resp.status_code, _field(resp, "status"), _code(resp)]


async def run_client(
    base: str,
    live_key: str,
    n: int,
    concurrency: int,
    timeout: float,
    run: str,
    with_tax: bool = True,
    max_attempts: int = 60,
) -> dict[str, Any]:
    """n payments, `concurrency` at a time; what the client saw."""
    tally = Tally()
    log: dict[str, Any] = {}
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency * 2)
    t0 = time.monotonic()
    async with httpx.AsyncClient(
        base_url=base, auth=(live_key, ""), timeout=timeout, limits=limits
    ) as http:
        client = Retrying(http, tally, max_attempts=max_attempts)

        async def one(plan: Plan) -> None:
            async with sem:
                await pay(client, plan, run, log)

        await asyncio.gather(*(one(p) for p in plans(n, with_tax)))
    return {"seconds": round(time.monotonic() - t0, 1), **tally.as_dict(), "payments": log}
