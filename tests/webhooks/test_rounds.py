"""One delivery round, in-process, on a real store (a SQLite file or a PostgreSQL
database), with a resolver and an HTTP transport the test controls: the transport records
where each request was asked to go and never connects anywhere.

- one endpoint's trouble (a URL nothing should parse, a host that resolves to a metadata
  address, a resolver or transport that raises, an answer full of NUL bytes) is that
  delivery's failed attempt, and every other merchant's delivery in the round is recorded
  once and never sent again (the cross-tenant defect of issue 9);
- the request goes to the address that was checked, with the name in `Host` and SNI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from kessai.processors.directory import FixedDirectory
from kessai.processors.simulated import SimulatedProcessor
from kessai.services import execute
from kessai.services.runtime import Runtime
from kessai.settings import Settings
from kessai.store import events, merchants, webhooks
from kessai.store.db import Database
from kessai.store.migrate import upgrade
from kessai.store.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from kessai.worker.delivery import Deliverer
from tests.conftest import fresh_database

PUBLIC = {
    "shop-a.example": ["93.184.216.34"],
    "raises.example": ["93.184.216.35"],
    "nul.example": ["93.184.216.36"],
    "shop-z.example": ["93.184.216.37"],
    "metadata.example": ["169.254.169.254"],
    "rebind.example": ["93.184.216.38", "169.254.169.254"],
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Net:
    """The resolver and the transport: what was looked up, and where requests went."""

    lookups: list[str] = field(default_factory=list)
    sent: list[httpx.Request] = field(default_factory=list)

    async def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host == "resolver-bug.example":
            raise RuntimeError("a resolver that breaks in a way nobody expected")
        if host not in PUBLIC:
            raise OSError(f"{host}: name or service not known")
        return PUBLIC[host]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        host = request.headers["host"]
        if host == "raises.example":
            raise ValueError("a transport that breaks in a way nobody expected")
        if host == "nul.example":
            return answer(b"ok\x00\x00 and \xff\xfe bytes")
        return answer(b"ok")

    def to(self, host: str) -> list[httpx.Request]:
        return [r for r in self.sent if r.headers["host"] == host]


def answer(body: bytes) -> httpx.Response:
    """A 200 whose body is streamed, as from a real connection."""
    return httpx.Response(200, stream=httpx.ByteStream(body))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[Runtime, Clock]]:
    with fresh_database(tmp_path) as url:
        await upgrade(url)
        db = Database.from_url(url, pool_size=2)
        clock = Clock()
        settings = Settings(database_url=url, webhook_retry_base=1, webhook_allow_private="test")
        rt = Runtime(settings, db, b"k" * 32, FixedDirectory(SimulatedProcessor()), clock=clock)
        try:
            yield rt, clock
        finally:
            await db.dispose()


async def merchant_with_endpoint(rt: Runtime, name: str, url: str) -> tuple[str, str]:
    """A merchant, an endpoint stored as given (as one added before this fix could be),
    and one event queued to it."""

    async def run(conn: Any) -> tuple[str, str]:
        merchant_id, _ = await merchants.insert_merchant(conn, name, rt.clock())
        endpoint_id = f"{name:z<25}"[:25]
        await webhooks.insert_endpoint(
            conn,
            {
                "id": endpoint_id,
                "merchant_id": merchant_id,
                "livemode": False,
                "url": url,
                "secret": "s" * 64,
                "event_types": None,
                "created_at": rt.clock(),
                "deleted_at": None,
            },
        )
        await events.insert(
            conn, merchant_id=merchant_id, livemode=False, type="ping", data={}, now=rt.clock()
        )
        return merchant_id, endpoint_id

    result: tuple[str, str] = await execute.write(rt, run)
    return result


async def state(rt: Runtime, endpoint_id: str) -> tuple[str, list[dict[str, Any]]]:
    """The endpoint's one delivery: its status and its recorded attempts."""

    async def run(conn: Any) -> tuple[str, list[dict[str, Any]]]:
        d = webhook_deliveries
        [row] = (await conn.execute(sa.select(d).where(d.c.endpoint_id == endpoint_id))).all()
        attempts = await conn.execute(
            sa.select(webhook_attempts)
            .where(webhook_attempts.c.delivery_id == row.id)
            .order_by(webhook_attempts.c.attempt)
        )
        return row.status, [dict(a) for a in attempts.mappings()]

    result: tuple[str, list[dict[str, Any]]] = await execute.read(rt, run)
    return result


def deliverer(rt: Runtime, net: Net) -> Deliverer:
    http = httpx.AsyncClient(transport=httpx.MockTransport(net.handle), follow_redirects=False)
    return Deliverer(rt, http, name="test-worker", resolve=net.resolve)


BAD = {
    "octal": "http://0177.0.0.1:8080/x",
    "padded": "http://127.000.000.001:8080/x",
    "metadata": "http://metadata.example/latest/meta-data/",
    "rebinding": "http://rebind.example/x",
    "resolver": "http://resolver-bug.example/x",
    "transport": "http://raises.example/x",
    "literal": "http://169.254.169.254/latest",
}


async def test_one_bad_endpoint_never_touches_the_other_deliveries(
    store: tuple[Runtime, Clock],
) -> None:
    rt, clock = store
    net = Net()
    _, good_a = await merchant_with_endpoint(rt, "gooda", "http://shop-a.example/hook")
    bad = {kind: (await merchant_with_endpoint(rt, kind, url))[1] for kind, url in BAD.items()}
    _, nul = await merchant_with_endpoint(rt, "nul", "http://nul.example/hook")
    _, good_z = await merchant_with_endpoint(rt, "goodz", "http://shop-z.example/hook")

    worker = deliverer(rt, net)
    assert await worker.run_once() == len(BAD) + 3

    for endpoint in (good_a, good_z, nul):
        status, attempts = await state(rt, endpoint)
        assert status == "delivered", (endpoint, attempts)
        assert [a["attempt"] for a in attempts] == [1], attempts
    _, [nul_attempt] = await state(rt, nul)
    assert "\x00" not in nul_attempt["response_snippet"]
    assert nul_attempt["response_snippet"].startswith("ok")
    for kind, endpoint in bad.items():
        status, attempts = await state(rt, endpoint)
        assert status == "pending", (kind, status)  # retried later, like any failure
        [attempt] = attempts
        assert attempt["status_code"] is None and attempt["error"], (kind, attempt)
    # nothing was sent towards a refused address, and never by name
    assert {r.url.host for r in net.sent} == {
        "93.184.216.34",
        "93.184.216.35",
        "93.184.216.36",
        "93.184.216.37",
    }
    for kind in ("octal", "padded", "metadata", "rebinding", "literal"):
        assert "refused" in (await state(rt, bad[kind]))[1][0]["error"], kind

    # Past the lease and the retry delay: the failures are tried again; the good
    # deliveries, recorded once, are never sent again.
    clock.now += timedelta(seconds=rt.settings.webhook_lease + 5)
    sent_before = {h: len(net.to(h)) for h in ("shop-a.example", "shop-z.example")}
    assert await worker.run_once() == len(BAD)
    assert (
        {h: len(net.to(h)) for h in sent_before}
        == sent_before
        == {
            "shop-a.example": 1,
            "shop-z.example": 1,
        }
    )
    for endpoint in (good_a, good_z):
        assert [a["attempt"] for a in (await state(rt, endpoint))[1]] == [1]
    for endpoint in bad.values():
        assert [a["attempt"] for a in (await state(rt, endpoint))[1]] == [1, 2]


async def test_a_failing_record_does_not_unrecord_the_round(
    store: tuple[Runtime, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the round's one recording transaction fails (here: the store refuses one row),
    every other attempt is still recorded, each in a transaction of its own."""
    rt, clock = store
    net = Net()
    _, good_a = await merchant_with_endpoint(rt, "gooda", "http://shop-a.example/hook")
    _, doomed = await merchant_with_endpoint(rt, "doomed", "http://shop-z.example/hook")
    real_record = webhooks.record
    doomed_delivery = await execute.read(
        rt,
        lambda conn: conn.scalar(
            sa.select(webhook_deliveries.c.id).where(webhook_deliveries.c.endpoint_id == doomed)
        ),
    )

    async def record(conn: Any, **values: Any) -> None:
        if values["delivery_id"] == doomed_delivery:
            # a row the store cannot take, found only when it is written
            await conn.execute(sa.text("SELECT * FROM no_such_table"))
        await real_record(conn, **values)

    monkeypatch.setattr(webhooks, "record", record)
    before = {name: counted(*name) for name in ROUND_METRICS}
    assert await deliverer(rt, net).run_once() == 2
    status, attempts = await state(rt, good_a)
    assert status == "delivered" and [a["attempt"] for a in attempts] == [1]
    status, attempts = await state(rt, doomed)
    assert status == "pending" and attempts == []  # its claim lapses; sent again later
    # The metrics count only the recorded attempt: the doomed one is counted when it is
    # sent again and recorded, not now as well.
    moved = {name: counted(*name) - before[name] for name in ROUND_METRICS}
    assert moved == {name: 1 for name in ROUND_METRICS}


ROUND_METRICS = [
    ("kessai_webhook_attempts_total", "2xx"),
    ("kessai_webhook_deliveries_total", "delivered"),
]


def counted(name: str, outcome: str) -> float:
    return REGISTRY.get_sample_value(name, {"outcome": outcome}) or 0.0


async def test_the_request_goes_to_the_checked_address(store: tuple[Runtime, Clock]) -> None:
    rt, _ = store
    net = Net()
    _, plain = await merchant_with_endpoint(rt, "plain", "http://shop-a.example:8080/in?x=1")
    _, tls = await merchant_with_endpoint(rt, "tls", "https://shop-z.example/in")
    await deliverer(rt, net).run_once()
    [first] = net.to("shop-a.example:8080")
    assert str(first.url) == "http://93.184.216.34:8080/in?x=1"
    assert "sni_hostname" not in first.extensions
    [second] = net.to("shop-z.example")
    assert str(second.url) == "https://93.184.216.37/in"
    assert second.extensions["sni_hostname"] == "shop-z.example"
    assert second.headers["connection"] == "close"
    # each attempt looked its name up exactly once
    assert sorted(net.lookups) == ["shop-a.example", "shop-z.example"]
    for endpoint in (plain, tls):
        assert (await state(rt, endpoint))[0] == "delivered"


async def test_endpoint_table_is_untouched_by_delivery(store: tuple[Runtime, Clock]) -> None:
    """Refusing at delivery changes no endpoint: the merchant sees its URL as stored."""
    rt, _ = store
    _, endpoint = await merchant_with_endpoint(rt, "octal", BAD["octal"])
    await deliverer(rt, Net()).run_once()
    url = await execute.read(
        rt,
        lambda conn: conn.scalar(
            sa.select(webhook_endpoints.c.url).where(webhook_endpoints.c.id == endpoint)
        ),
    )
    assert url == BAD["octal"]
