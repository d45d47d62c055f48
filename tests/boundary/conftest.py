"""An in-process kessai whose processor and clock the test holds: for the phases around
every processor call (`kessai.services.phases`). A real store (a SQLite file, or a fresh
PostgreSQL database), the real app and its lifespan; only the processor is scripted."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kessai.app import create_app
from kessai.edge.settings import EdgeSettings
from kessai.processors.directory import FixedDirectory
from kessai.processors.scripted import ScriptedProcessor
from kessai.services.runtime import Runtime
from kessai.settings import Settings
from kessai.store import merchants
from kessai.store.migrate import upgrade
from tests.conftest import fresh_database


class Clock:
    """The test's clock: it moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Gateway:
    rt: Runtime
    client: httpx.AsyncClient
    processor: ScriptedProcessor
    clock: Clock
    merchant_id: str
    keys: dict[str, str] = field(default_factory=dict)

    async def post(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return await self.client.post(f"/api/v1{path}", json=body, headers=headers)

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(f"/api/v1{path}")

    async def payment(self, payment_id: str) -> dict[str, Any]:
        resp = await self.get(f"/payments/{payment_id}")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        resp = await self.client.get("/api/v1/events", params={"per_page": 100})
        return [e for e in resp.json()["data"] if e["type"] == event_type]


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
async def gw(store_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    await upgrade(store_url)
    settings = Settings(
        database_url=store_url,
        base_url="http://kessai.test",
        embedded_worker=False,
        edge=EdgeSettings(rate_limits=False),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        rt: Runtime = app.state.runtime
        clock = Clock()
        processor = ScriptedProcessor()
        rt.clock = clock
        rt.processors = FixedDirectory(processor, processor)
        async with rt.db.transaction() as conn:
            merchant_id, keys = await merchants.insert_merchant(conn, "Boundary", clock())
        auth = base64.b64encode(f"{keys['secret']}:".encode()).decode()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://kessai.test",
            headers={"Authorization": f"Basic {auth}"},
            timeout=30,
        ) as client:
            yield Gateway(rt, client, processor, clock, merchant_id, keys)
