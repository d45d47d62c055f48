"""An in-process shop for service tests: a store of its own, a clock the test moves, and
as many runtimes (one per "process", each with a pool of its own) as a test wants."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from kessai.processors.directory import FixedDirectory
from kessai.processors.simulated import SimulatedProcessor
from kessai.services import execute
from kessai.services.runtime import Caller, Runtime
from kessai.settings import Settings
from kessai.store import merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade
from tests.conftest import fresh_database


class Clock:
    """The time the services see; a test moves it by setting `now`."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


Shop = tuple[Runtime, Clock, Caller, Callable[[], Runtime]]


@asynccontextmanager
async def in_process_shop(
    tmp_path: Path, name: str, start: datetime, *, pool_size: int = 4
) -> AsyncIterator[Shop]:
    """(a runtime, its clock, the test-mode caller of a new merchant `name`, a maker of
    more runtimes on the same store and clock)."""
    with fresh_database(tmp_path) as url:
        await upgrade(url)
        clock = Clock(start)
        made: list[Database] = []

        def runtime() -> Runtime:
            db = Database.from_url(url, pool_size=pool_size)
            made.append(db)
            directory = FixedDirectory(SimulatedProcessor())
            return Runtime(Settings(database_url=url), db, b"k" * 32, directory, clock=clock)

        rt = runtime()
        merchant_id, _ = await execute.write(
            rt, lambda conn: merchants.insert_merchant(conn, name, clock())
        )
        try:
            yield rt, clock, Caller(merchant_id, name, False, "secret"), runtime
        finally:
            for db in made:
                await db.dispose()
