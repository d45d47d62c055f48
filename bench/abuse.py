"""Abuse limits, measured (issue 9): wrong keys against two workers, oversized bodies.

    .venv/bin/python bench/abuse.py [--database-url postgresql://postgres@127.0.0.1:5432/test]
        [--redis redis://127.0.0.1:6379/0] [--requests 1000] [--distinct-keys 100]

Starts `kessai serve --workers 2` (rate-limit store: Redis; default limits otherwise) on a
fresh PostgreSQL database, makes a merchant with `kessai merchant create`, then:

1. wrong keys    REQUESTS GETs of /api/v1/payment_methods from one address, 16 at a time,
                 each on a new connection (so both workers answer), cycling through
                 DISTINCT wrong keys: how many 401 and 429, when the first 429 came,
                 the Retry-After values, and how many key lookups reached the store
                 (kessai_auth_store_lookups_total, summed over both processes, and
                 PostgreSQL's own count of scans of the api_keys table).
2. negative cache the same with the failed-auth limit lifted (second server): lookups per
                 distinct wrong key.
3. 5 MiB body    POST /api/v1/tokens with the publishable key and a declared 5 MiB body
                 sent in full: time to the 413, server RSS (all processes) before/after.
4. 256 MiB       four POST /api/v1/tokens at once, chunked, no Content-Length, 1 MiB
   streamed      chunks until the server answers or 256 MiB are sent: bytes the server
                 took before refusing, time, RSS before/after.

Prints one JSON object. Traffic goes to 127.0.0.1 only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
KESSAI = [sys.executable, "-m", "kessai"]
MIB = 1024 * 1024
BODY_FROM = ("127.0.0.2", 0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def database(admin_url: str) -> Iterator[str]:
    name = f"kessai_abuse_{secrets.token_hex(4)}"
    asyncio.run(_sql(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _sql(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def serve(db_url: str, env: dict[str, str], workdir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    log = (workdir / f"server-{port}.log").open("wb")
    full_env = {**os.environ, "KESSAI_DATABASE_URL": db_url, "KESSAI_LOG_LEVEL": "warning", **env}
    proc = subprocess.Popen(
        [*KESSAI, "serve", "--port", str(port), "--workers", "2"],
        env=full_env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError((workdir / f"server-{port}.log").read_text())
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not start")
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def tree_rss_mib(pid: int) -> float:
    """RSS of `pid` and every descendant, MiB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return round(total / 1024, 1)


def lookups(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.search(r"^kessai_auth_store_lookups_total(?:\{[^}]*\})? (\S+)$", text, re.M)
    return float(found.group(1)) if found else float("nan")


async def key_scans(db_url: str) -> int:
    """PostgreSQL's count of scans of api_keys (flushed by idle backends within ~10 s)."""
    await asyncio.sleep(11)
    rows = await _sql(
        db_url,
        "select coalesce(idx_scan, 0) + coalesce(seq_scan, 0) as n "
        "from pg_stat_user_tables where relname = 'api_keys'",
    )
    return int(rows[0]["n"])


async def wrong_keys(base: str, requests: int, distinct: int) -> dict[str, Any]:
    keys = ["sk_test_" + secrets.token_hex(16) for _ in range(distinct)]
    results: list[tuple[int, float, int, str | None]] = []
    limits = httpx.Limits(max_keepalive_connections=0, max_connections=16)
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        queue = iter(range(requests))

        async def worker() -> None:
            for i in queue:
                resp = await client.get("/api/v1/payment_methods", auth=(keys[i % distinct], ""))
                when = time.perf_counter() - start
                results.append((i, when, resp.status_code, resp.headers.get("retry-after")))

        await asyncio.gather(*(worker() for _ in range(16)))
    elapsed = time.perf_counter() - start
    results.sort(key=lambda r: r[1])
    statuses = [r[2] for r in results]
    first_429 = next((n for n, r in enumerate(results) if r[2] == 429), None)
    retry = sorted({int(r[3]) for r in results if r[2] == 429 and r[3] is not None})
    return {
        "requests": requests,
        "distinct_keys": distinct,
        "seconds": round(elapsed, 2),
        "status_counts": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "first_429_at_response": None if first_429 is None else first_429 + 1,
        "first_429_after_seconds": None if first_429 is None else round(results[first_429][1], 3),
        "retry_after_values": retry[:5] + (["..."] if len(retry) > 5 else []),
        "every_429_has_retry_after": all(r[3] for r in results if r[2] == 429),
    }


def declared_body(base: str, key: str, size: int) -> dict[str, Any]:
    """A JSON body of `size` bytes with its Content-Length, sent in full if the server reads."""
    host, port = base.removeprefix("http://").split(":")
    auth = base64.b64encode(f"{key}:".encode()).decode()
    head = (
        f"POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    return _send(host, int(port), head, size, chunked=False)


def streamed_body(base: str, key: str, size: int) -> dict[str, Any]:
    host, port = base.removeprefix("http://").split(":")
    auth = base64.b64encode(f"{key}:".encode()).decode()
    head = (
        f"POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    return _send(host, int(port), head, size, chunked=True)


def _send(host: str, port: int, head: bytes, size: int, *, chunked: bool) -> dict[str, Any]:
    chunk = b"x" * MIB
    sent = 0
    answer = b""
    start = time.perf_counter()
    # From 127.0.0.2: 127.0.0.1 spent its failed-authentication budget in part 1.
    with socket.create_connection((host, port), timeout=60, source_address=BODY_FROM) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        try:
            while sent < size and not answer:
                with contextlib.suppress(BlockingIOError):
                    answer += sock.recv(65536)
                if answer:
                    break
                piece = chunk[: min(MIB, size - sent)]
                frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece
                sock.setblocking(True)
                sock.sendall(frame)
                sock.setblocking(False)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.setblocking(True)
        with contextlib.suppress(OSError):
            while not answer.endswith(b"}") and (more := sock.recv(65536)):
                answer += more
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else None
    return {
        "status": status,
        "client_bytes_sent_before_answer": sent,
        "seconds": round(time.perf_counter() - start, 3),
        "code": (re.search(rb'"code":"([a-z_]+)"', answer) or [None, b""])[1].decode(),
    }


def merchant(db_url: str, workdir: Path) -> dict[str, str]:
    out = subprocess.run(
        [*KESSAI, "merchant", "create", "--name", "Abuse", "--json"],
        env={**os.environ, "KESSAI_DATABASE_URL": db_url},
        cwd=workdir,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--distinct-keys", type=int, default=100)
    args = parser.parse_args()
    report: dict[str, Any] = {"limits": "defaults (failed auth: 20/minute per address)"}
    workdir = Path(tempfile.mkdtemp(prefix="kessai-abuse-"))
    env = {"KESSAI_RATE_LIMIT_STORAGE": args.redis}
    with database(args.database_url) as db_url, serve(db_url, env, workdir) as (base, pid):
        keys = merchant(db_url, workdir)
        scans = asyncio.run(key_scans(db_url))
        before = lookups(base)
        run = asyncio.run(wrong_keys(base, args.requests, args.distinct_keys))
        run["store_lookups_metric"] = lookups(base) - before
        run["api_keys_table_scans_in_postgresql"] = asyncio.run(key_scans(db_url)) - scans
        report["wrong_keys"] = run

        rss0 = tree_rss_mib(pid)
        body = declared_body(base, keys["publishable_key"], 5 * MIB)
        body.update(rss_before_mib=rss0, rss_after_mib=tree_rss_mib(pid))
        report["body_5mib_declared"] = body

        rss0 = tree_rss_mib(pid)

        async def four() -> list[dict[str, Any]]:
            return list(
                await asyncio.gather(
                    *(
                        asyncio.to_thread(streamed_body, base, keys["publishable_key"], 256 * MIB)
                        for _ in range(4)
                    )
                )
            )

        streams = asyncio.run(four())
        report["body_256mib_streamed_x4"] = {
            "results": streams,
            "rss_before_mib": rss0,
            "rss_after_mib": tree_rss_mib(pid),
        }

    lifted = {**env, "KESSAI_RATE_LIMIT_FAILED_AUTH": "1000000/minute"}
    with database(args.database_url) as db_url, serve(db_url, lifted, workdir) as (base, _):
        before = lookups(base)
        run = asyncio.run(wrong_keys(base, args.requests, 10))
        run["store_lookups_metric"] = lookups(base) - before
        report["negative_cache_failed_auth_limit_lifted"] = run
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
