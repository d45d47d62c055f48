"""The database floor: the same driver committing one sessions row per transaction.

    .venv/bin/python bench/db_floor.py URL MERCHANT_ID --concurrency 16 --duration 10
        [--start-at UNIX_TIME]

Uses kessai's own engine (`kessai.store.db.Database`: on SQLite WAL, synchronous=FULL,
BEGIN IMMEDIATE and the same group commit the server uses; asyncpg on PostgreSQL) and
SQLAlchemy Core, and inserts a row
like the ones session create writes, one per transaction, from `--concurrency` coroutines
for `--duration` seconds. bench/run.py starts one of these per server worker process (the
concurrency split between them) so that the Python side is no more of a bottleneck than it
is for the server. Prints one JSON object: commits inside the window and their latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from kessai.ids import new_id  # noqa: E402
from kessai.store.db import Database  # noqa: E402
from kessai.store.tables import sessions  # noqa: E402

LINE_ITEMS = [
    {"amount": 3200, "description": "Organic cotton T-shirt (M)", "quantity": 2},
    {"amount": 6400, "description": "Ceramic mug", "quantity": 1},
]


def session_row(merchant_id: str, n: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "id": new_id(),
        "merchant_id": merchant_id,
        "livemode": False,
        "mode": "payment",
        "status": "pending",
        "amount": 12800,
        "currency": "JPY",
        "return_url": "https://shop.example.com/orders/10023/complete",
        "email": "hanako@example.com",
        "default_locale": "ja",
        "external_customer_id": None,
        "external_order_num": None,
        "customer_id": None,
        "payment_types": ["credit_card"],
        "line_items": LINE_ITEMS,
        "metadata": {"order_id": str(n), "customer_ref": "c_8812", "channel": "web"},
        "payment_data": {"capture": "auto"},
        "scenario": None,
        "payment_id": None,
        "created_at": now,
        "expires_at": now + timedelta(days=1),
        "completed_at": None,
        "cancelled_at": None,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="kessai database URL (sqlite:///PATH or postgresql://...)")
    parser.add_argument("merchant_id")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--start-at", type=float, default=0.0, help="unix time to start at")
    args = parser.parse_args()

    db = Database.from_url(args.url, pool_size=args.concurrency)
    # Open the pool's connections before the window starts.
    await asyncio.gather(*(db.ping() for _ in range(args.concurrency)))
    delay = args.start_at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    start = time.perf_counter()
    stop = start + args.duration
    latencies: list[float] = []
    errors: list[str] = []
    insert = sessions.insert()

    async def worker(w: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            n += 1
            t0 = time.perf_counter()
            try:
                async with db.transaction() as conn:
                    await conn.execute(insert.values(**session_row(args.merchant_id, n)))
            except Exception as exc:  # report, keep going
                errors.append(repr(exc)[:200])
                continue
            t1 = time.perf_counter()
            if t1 <= stop:
                latencies.append(t1 - t0)

    await asyncio.gather(*(worker(w) for w in range(args.concurrency)))
    elapsed = min(time.perf_counter(), stop) - start
    await db.dispose()
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    print(
        json.dumps(
            {
                "commits": len(latencies),
                "seconds": round(elapsed, 3),
                "p50_ms": round(pct(0.50), 2),
                "p99_ms": round(pct(0.99), 2),
                "errors": len(errors),
                "first_error": errors[0] if errors else "",
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
