"""Create or migrate the schema with Alembic, safely from several processes at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.db import create_engine, is_sqlite

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 7_474_115  # PostgreSQL advisory lock held while migrating


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


async def upgrade(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            if not is_sqlite(url):
                await conn.execute(sa.text(f"SELECT pg_advisory_lock({_LOCK_ID})"))
                await conn.commit()
            try:
                await conn.run_sync(_upgrade)
                await conn.commit()
            finally:
                if not is_sqlite(url):
                    await conn.execute(sa.text(f"SELECT pg_advisory_unlock({_LOCK_ID})"))
                    await conn.commit()
    finally:
        await engine.dispose()


def _upgrade(sync_conn: sa.Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, "head")


def upgrade_sync(url: str) -> None:
    asyncio.run(upgrade(url))


__all__ = ["AsyncConnection", "upgrade", "upgrade_sync", "alembic_config"]
