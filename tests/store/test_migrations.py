"""The Alembic migrations build exactly the schema `store/tables.py` declares, on the
store the run uses (SQLite file or PostgreSQL): a column, index or constraint added to one
and not the other fails here, not on a user's upgraded database."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kessai.store.db import create_engine
from kessai.store.migrate import upgrade_sync
from kessai.store.tables import metadata
from tests.conftest import fresh_database, run_async


async def _differences(url: str) -> list[object]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: list(compare_metadata(MigrationContext.configure(sync), metadata))
            )
    finally:
        await engine.dispose()


def test_migrations_create_the_declared_schema(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        upgrade_sync(url)
        assert run_async(_differences(url)) == []
