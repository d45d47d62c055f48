"""The store of bench/dashboard.py: `kessai db upgrade`, two merchants (`kessai merchant
create`), then N payments for the first and N/10 for the second, interleaved over the past
year as kessai writes them (with their events, processor operations, ledger lines and
refunds), bulk-loaded (SQLite: executemany; PostgreSQL: COPY), then ANALYZE (PostgreSQL:
VACUUM ANALYZE, as autovacuum would; SQLite: unless `analyze` is false, since kessai itself
never runs ANALYZE on SQLite)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from run import Cleanup, Store, kessai_cmd, make_merchant

from kessai.store.ledger_tables import balance_transactions
from kessai.store.tables import events, payments, processor_operations, refunds

CHUNK = 20_000
TYPES = {  # payment type: share of the payments
    "credit_card": 55, "konbini": 14, "paypay": 10, "bank_transfer": 5, "pay_easy": 3,
    "linepay": 2, "merpay": 2, "rakutenpay": 2, "aupay": 2, "alipay": 1.5,
    "wechatpay": 1, "paidy": 2.5,
}  # fmt: skip
CASH = ("konbini", "bank_transfer", "pay_easy")
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
DESCRIPTIONS = (None, "オーガニックコットンTシャツ (M) ほか", "Ceramic mug x2")
CHANNELS = ("web", "app")
TABLES = (payments, events, refunds, balance_transactions, processor_operations)
STALE = re.compile(r"^kessai_bench_(\d+)_dashboard_[0-9a-f]{8}$")  # run.Store's names
COLUMNS = {t.name: [c.name for c in t.columns] for t in TABLES}


def _status(ptype: str, age: timedelta, r: float) -> str:
    """A status as the state machine and the sweeper leave it: pending (offsite wallets)
    only in the last 12 hours, authorized cards for 5 days and cash for 2, before the sweeper
    would expire them; everything older has its final status."""
    if ptype in CASH:
        if age < timedelta(days=2) and r < 0.5:
            return "authorized"
        return "captured" if r < 0.8 else "expired"
    if ptype == "credit_card":
        if age < timedelta(days=5) and r < 0.3:
            return "authorized"
        return "captured" if r < 0.88 else "failed" if r < 0.96 else "cancelled"
    if age < timedelta(hours=12) and r < 0.1:
        return "pending"
    return "captured" if r < 0.9 else "failed" if r < 0.95 else "cancelled"


def _details(ptype: str, pid: str, rnd: random.Random) -> dict[str, Any]:
    if ptype == "credit_card":
        brand = rnd.choice(("visa", "visa", "master", "jcb", "american_express"))
        return {"brand": brand, "last_four_digits": f"{rnd.randrange(10000):04d}",
                "month": rnd.randint(1, 12), "year": rnd.randint(2026, 2031), "email": "",
                "verification_value": "Approved", "name": "HANAKO YAMADA"}  # fmt: skip
    base = f"https://pay.example.com/instructions/{pid}"
    if ptype == "konbini":
        return {"store": rnd.choice(("lawson", "seven-eleven", "family-mart")),
                "email": "taro@example.com", "receipt": f"{rnd.randrange(10**11):011d}",
                "confirmation_code": f"{rnd.randrange(10**4):04d}",
                "instructions_url": base}  # fmt: skip
    if ptype in CASH:
        return {"email": "taro@example.com", "family_name": "山田", "given_name": "太郎",
                "family_name_kana": "ヤマダ", "given_name_kana": "タロウ",
                "phone": "0312345678", "order_id": f"KS{rnd.randrange(10**8):08d}",
                "instructions_url": base}  # fmt: skip
    return {"email": "", "redirect_url": f"https://pay.example.com/offsite/{pid}"}


def generate(
    merchants: list[tuple[str, str, int]], now: datetime, sqlite: bool
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) for each merchant's (id, order prefix, n) payments, interleaved and spread
    evenly (with jitter) over the year before `now`: each with its event, its processor
    operation, its ledger lines once paid (payment, fee, refund) and its refund if any."""
    rnd = random.Random(13)
    total = sum(n for _, _, n in merchants)
    step, start = timedelta(days=365) / total, now - timedelta(days=365)
    made = [0] * len(merchants)
    types, weights = list(TYPES), list(TYPES.values())
    when: Callable[[datetime | None], Any] = (
        (lambda d: d and d.strftime("%Y-%m-%d %H:%M:%S.%f")) if sqlite else (lambda d: d)
    )
    false, true = (0, 1) if sqlite else (False, True)

    def new_id() -> str:
        return "".join(rnd.choices(ALNUM, k=25))

    for j in range(total):
        k = min(range(len(merchants)), key=lambda m: made[m] / merchants[m][2])
        made[k] += 1
        merchant_id, prefix, _ = merchants[k]
        pid, created = new_id(), start + step * (j + rnd.random())
        ptype = rnd.choices(types, weights)[0]
        status = _status(ptype, now - created, rnd.random())
        currency = "USD" if ptype == "credit_card" and rnd.random() < 0.03 else "JPY"
        amount = max(100, int(round(math.exp(rnd.gauss(8.3, 1.0)), -1)))  # JPY, or cents
        paid = status == "captured"
        refund = amount if paid and rnd.random() < 0.02 else 0
        refund = refund or (amount // 2 if paid and rnd.random() < 0.01 else 0)
        status = "refunded" if refund == amount else status
        fee = amount * 36 // 1000 if paid else 0
        at = created + timedelta(seconds=rnd.randint(2, 600))
        later = at + timedelta(days=1)
        mine = {"merchant_id": merchant_id, "livemode": false}
        yield "payments", {
            "id": pid, **mine, "session_id": None, "completes_session": None,
            "status": status, "payment_type": ptype, "amount": amount, "tax": 0,
            "payment_method_fee": 0, "currency": currency,
            "amount_captured": amount if paid else 0, "amount_refunded": refund,
            "capture_requested": true,
            "payment_details": json.dumps(_details(ptype, pid, rnd), ensure_ascii=False),
            "card_fingerprint": f"{rnd.getrandbits(256):064x}" if ptype == "credit_card" else None,
            "card_reference": None, "processor": "simulated", "processor_state": None,
            "processor_reference": None, "operation_id": None, "refund_reserved": 0,
            "amount_disputed": 0, "processing_fee": fee, "dispute": None,
            "failure_code": "card_declined" if status == "failed" else None,
            "customer_id": None, "subscription_id": None, "keep_card_for": None,
            "description": rnd.choice(DESCRIPTIONS),
            "external_order_num": f"{prefix}{made[k]:07d}",
            "metadata": json.dumps({"order_id": str(made[k]), "channel": rnd.choice(CHANNELS)}),
            "return_url": None, "locale": "ja", "mcc": None, "statement_descriptor": None,
            "customer_family_name": "山田" if ptype in CASH[1:] else None,
            "customer_given_name": "太郎" if ptype in CASH[1:] else None,
            "payment_deadline": when(created + timedelta(days=3)) if ptype in CASH else None,
            "created_at": when(created), "updated_at": when(at),
            "captured_at": when(at) if paid else None,
        }  # fmt: skip
        outcome = {"type": "declined" if status == "failed" else "approved", "reference": None}
        yield "processor_operations", {
            "id": new_id(), **mine, "processor": "simulated", "kind": "authorize",
            "payment_id": pid, "session_id": None, "amount": amount,
            "request": json.dumps({"expiry_days": 3 if ptype in CASH else None}),
            "resume": None, "status": "done", "outcome": json.dumps(outcome), "attempts": 0,
            "lease_until": when(created), "next_attempt_at": when(created),
            "created_at": when(created), "updated_at": when(at),
        }  # fmt: skip
        if status != "pending":
            data = {"id": pid, "resource": "payment", "status": status, "amount": amount,
                    "currency": currency, "payment_type": ptype}  # fmt: skip
            eid, kind = new_id(), f"payment.{status}"
            body = json.dumps({"id": eid, "type": kind, "resource": "event", "data": data,
                               "created_at": at.isoformat()})  # fmt: skip
            yield "events", {"id": eid, **mine, "type": kind, "reason": None,
                             "data": json.dumps(data), "body": body, "object_id": pid,
                             "created_at": when(at)}  # fmt: skip
        lines = [("payment", amount, "payment", pid), ("fee", -fee, "payment", pid)] if paid else []
        if refund:
            rid = new_id()
            yield "refunds", {"id": rid, "payment_id": pid, "amount": refund, "currency": currency,
                              "description": None, "created_at": when(later)}  # fmt: skip
            lines.append(("refund", -refund, "refund", rid))
        for kind, value, source_type, source_id in lines:
            yield "balance_transactions", {
                "id": new_id(), **mine, "currency": currency, "type": kind, "amount": value,
                "source_type": source_type, "source_id": source_id, "payment_id": pid,
                "happened_at": when(later if source_type == "refund" else at),
                "settlement_id": None,
            }  # fmt: skip


def load(
    store: Store, merchants: list[tuple[str, str, int]], now: datetime, analyze: bool = True
) -> dict[str, Any]:
    """Bulk-load the rows, then ANALYZE; returns the counts and the seconds taken. The next
    settlement cut-off moves a year on: none settles a year of payments mid-measurement."""
    started, sqlite = time.monotonic(), store.backend == "sqlite"
    cutoff = now + timedelta(days=365)
    counts = dict.fromkeys(COLUMNS, 0)

    def batches() -> Iterator[dict[str, list[tuple[Any, ...]]]]:
        batch: dict[str, list[tuple[Any, ...]]] = {t: [] for t in counts}
        for table, row in generate(merchants, now, sqlite):
            batch[table].append(tuple(row[c] for c in COLUMNS[table]))
            counts[table] += 1
            if len(batch["payments"]) >= CHUNK:
                yield batch
                batch = {t: [] for t in counts}
        yield batch

    if sqlite:
        con = sqlite3.connect(store.path, timeout=60, isolation_level=None)
        try:  # the server's pragmas, less the fsync per commit while loading
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA foreign_keys=ON")
            for batch in batches():
                con.execute("BEGIN IMMEDIATE")
                for table, rows in batch.items():
                    names = ", ".join(f'"{c}"' for c in COLUMNS[table])
                    marks = ", ".join("?" * len(COLUMNS[table]))
                    con.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
                con.execute("COMMIT")
            con.execute(
                "UPDATE ledger_settings SET next_cutoff_at = ?",
                (cutoff.strftime("%Y-%m-%d %H:%M:%S.%f"),),
            )
            loaded = time.monotonic()
            if analyze:
                con.execute("ANALYZE")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
    else:

        async def copy() -> float:
            conn = await asyncpg.connect(store.url, timeout=30)
            try:
                for batch in batches():
                    for name, rows in batch.items():
                        await conn.copy_records_to_table(name, records=rows, columns=COLUMNS[name])
                await conn.execute("UPDATE ledger_settings SET next_cutoff_at = $1", cutoff)
                done = time.monotonic()
                await conn.execute("VACUUM (ANALYZE)")  # what autovacuum would do
                return done
            finally:
                await conn.close()

        loaded = asyncio.run(copy())
    end = time.monotonic()
    return {**counts, "load_s": round(loaded - started, 1), "analyze_s": round(end - loaded, 1)}


def drop_stale(admin_url: str) -> list[str]:
    """Drop the databases of a bench/dashboard.py that was killed (SIGKILL) mid-run."""

    def ours(pid: int) -> bool:
        try:
            return b"bench/dashboard.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False

    async def run() -> list[str]:
        conn = await asyncpg.connect(admin_url, timeout=30)
        try:
            names = [r[0] for r in await conn.fetch("SELECT datname FROM pg_database")]
            stale = [n for n in names if (m := STALE.match(n)) and not ours(int(m.group(1)))]
            for name in stale:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return stale
        finally:
            await conn.close()

    return asyncio.run(run())


def fresh(
    backend: str, rows: int, workdir: Path, admin_url: str, cleanup: Cleanup, analyze: bool
) -> tuple[Store, dict[str, str], dict[str, str], dict[str, Any]]:
    """(the store, the merchant with `rows` payments, the other one, what was loaded)."""
    store = Store(backend, "dashboard", workdir, admin_url, cleanup)
    env = {**os.environ, "KESSAI_DATABASE_URL": store.url, "KESSAI_LOG_LEVEL": "warning"}
    subprocess.run([kessai_cmd(), "db", "upgrade"], env=env, check=True, capture_output=True)
    mine, theirs = make_merchant(store.url), make_merchant(store.url)
    now = datetime.now(UTC).replace(tzinfo=None)
    spread = [(mine["id"], "SO-", rows), (theirs["id"], "WEB-", rows // 10)]
    loaded = load(store, spread, now, analyze)
    return store, mine, theirs, loaded
