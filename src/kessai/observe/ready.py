"""Readiness: the store answers and its schema is at the newest migration.

`/health` is liveness only (the process answers; it touches nothing), so an orchestrator
does not restart every server while the database is away; `/ready` is what a load
balancer should route by.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from kessai.store.db import Database
from kessai.store.migrate import alembic_config

TIMEOUT = 5.0  # seconds: a store that does not answer by then is not ready


@functools.cache
def head_revisions() -> frozenset[str]:
    """The revisions the code expects (read from the migration scripts once)."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def check(db: Database) -> tuple[bool, dict[str, Any]]:
    """(ready, the JSON body saying why)."""
    expected = head_revisions()
    try:
        async with asyncio.timeout(TIMEOUT), db.transaction(write=False) as conn:
            await conn.execute(sa.text("SELECT 1"))
            try:
                found = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                current = frozenset(str(row[0]) for row in found)
            except sa.exc.DBAPIError:  # no (default-named) version table: never migrated
                current = frozenset()
    except Exception as exc:  # noqa: BLE001 - any failure means the store is not usable
        return False, {
            "status": "unavailable",
            "reason": "store_unreachable",
            "message": f"The store did not answer: {type(exc).__name__}.",
        }
    if current != expected:
        return False, {
            "status": "unavailable",
            "reason": "schema_not_current",
            "message": "The store's schema is not the one this kessai expects: run "
            "`kessai db upgrade` (or restart `kessai serve`, which migrates first).",
            "schema": sorted(current),
            "expected": sorted(expected),
        }
    return True, {"status": "ready", "schema": sorted(current)}
