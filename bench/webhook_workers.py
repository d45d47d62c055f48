"""Webhook delivery throughput: N `kessai worker` processes drain a backlog of events.

    .venv/bin/python bench/webhook_workers.py [--events 10000] [--workers 2 4]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

For each worker count: a fresh PostgreSQL database, one merchant with one endpoint pointing
at a local receiver (a minimal asyncio HTTP server answering 200), a backlog of events
written straight into the store (events + deliveries, as the API would), then N workers
started together. Reports events/s, delivery lag (receipt time minus event time) and
duplicates: copies of one event received by more than one worker in the same attempt
round (must be 0) and copies overall.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from kessai.services import webhooks  # noqa: E402
from kessai.store import events, merchants  # noqa: E402
from kessai.store.db import Database  # noqa: E402
from kessai.store.migrate import upgrade  # noqa: E402


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[str, str, float]] = []  # (event id, attempt marker, t)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode().split("\r\n")[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.received.append((headers.get("x-komoju-id", ""), "", time.time()))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def make_backlog(url: str, count: int, receiver_url: str) -> dict[str, float]:
    await upgrade(url)
    db = Database.from_url(url, pool_size=4)
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        merchant_id, _ = await merchants.insert_merchant(conn, "Bench", now)
        await webhooks.add_endpoint(
            conn,
            merchant_id=merchant_id,
            livemode=False,
            url=receiver_url,
            event_types=None,
            now=now,
        )
    created: dict[str, float] = {}
    for start in range(0, count, 500):
        async with db.transaction() as conn:
            for _ in range(min(500, count - start)):
                at = datetime.now(UTC)
                event_id = await events.insert(
                    conn,
                    merchant_id=merchant_id,
                    livemode=False,
                    type="payment.captured",
                    data={"id": secrets.token_hex(8), "amount": 1000},
                    now=at,
                )
                created[event_id] = at.timestamp()
    await db.dispose()
    return created


async def attempt_rounds(url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        total = await conn.fetchval("select count(*) from webhook_attempts")
        dup = await conn.fetchval(
            "select count(*) from (select delivery_id, attempt from webhook_attempts "
            "group by 1, 2 having count(*) > 1) d"
        )
        return int(total), int(dup)
    finally:
        await conn.close()


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else 0.0


async def run(base_url: str, count: int, workers: int) -> dict[str, object]:
    name = f"kessai_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(base_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{base_url.rpartition('/')[0]}/{name}"
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        created = await make_backlog(url, count, f"http://127.0.0.1:{port}/hook")
        env = {
            **os.environ,
            "KESSAI_DATABASE_URL": url,
            "KESSAI_LOG_LEVEL": "warning",
            "KESSAI_SWEEP_INTERVAL": "0",
        }
        start = time.time()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "kessai", "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        try:
            deadline = start + 600
            while len({r[0] for r in receiver.received}) < count and time.time() < deadline:
                await asyncio.sleep(0.05)
            elapsed = time.time() - start
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
        ids = [r[0] for r in receiver.received]
        first: dict[str, float] = {}
        for event_id, _, t in receiver.received:
            first.setdefault(event_id, t)
        lags = [first[e] - start for e in first]
        attempts, same_round = await attempt_rounds(url)
        return {
            "workers": workers,
            "events": count,
            "delivered": len(first),
            "seconds": round(elapsed, 2),
            "events_per_s": round(len(first) / elapsed, 1),
            "lag_p50_s": round(pct(lags, 0.5), 2),
            "lag_p99_s": round(pct(lags, 0.99), 2),
            "copies_received": len(ids),
            "attempts_recorded": attempts,
            "same_round_duplicates": same_round,
            "backlog_age_s": round(start - min(created.values()), 1),
        }
    finally:
        server.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results-webhooks.json")
    args = parser.parse_args()
    results = [await run(args.database_url, args.events, n) for n in args.workers]
    print(
        f"{'workers':>7} {'events/s':>9} {'seconds':>8} {'lag p50':>8} {'lag p99':>8} "
        f"{'copies':>7} {'same-round dup':>14}"
    )
    for r in results:
        print(
            f"{r['workers']:>7} {r['events_per_s']:>9} {r['seconds']:>8} {r['lag_p50_s']:>8} "
            f"{r['lag_p99_s']:>8} {r['copies_received']:>7} {r['same_round_duplicates']:>14}"
        )
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
