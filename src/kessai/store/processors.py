"""Which processor each merchant's mode uses: the `processor_configs` rows.

One row per (merchant, mode) at most; no row is the default (test mode: the simulated
processor; live mode: none). `config` is the processor's own settings, validated by
`kessai.processors.registry` before it is written. It is stored as given, the upstream
secret key included: kessai must be able to send it (see docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.tables import processor_configs

_COLUMNS = (
    processor_configs.c.livemode,
    processor_configs.c.name,
    processor_configs.c.config,
    processor_configs.c.updated_at,
)


@dataclass(frozen=True)
class ProcessorConfig:
    livemode: bool
    name: str
    config: Mapping[str, Any]
    updated_at: datetime


def _row(row: Any) -> ProcessorConfig:
    livemode, name, config, updated_at = row
    return ProcessorConfig(bool(livemode), name, dict(config or {}), updated_at)


async def get_config(
    conn: AsyncConnection, merchant_id: str, livemode: bool
) -> ProcessorConfig | None:
    """The row of this merchant's mode, or None (the mode's default)."""
    query = sa.select(*_COLUMNS).where(
        processor_configs.c.merchant_id == merchant_id,
        processor_configs.c.livemode == livemode,
    )
    row = (await conn.execute(query)).first()
    return _row(row) if row is not None else None


async def get_configs(conn: AsyncConnection, merchant_id: str) -> dict[bool, ProcessorConfig]:
    """The merchant's rows, by livemode (a missing mode has its default)."""
    query = sa.select(*_COLUMNS).where(processor_configs.c.merchant_id == merchant_id)
    return {c.livemode: c for c in map(_row, await conn.execute(query))}


async def set_config(
    conn: AsyncConnection,
    merchant_id: str,
    livemode: bool,
    name: str,
    config: Mapping[str, Any],
    now: datetime,
) -> None:
    """Insert or replace the row of this merchant's mode."""
    values = {
        "merchant_id": merchant_id,
        "livemode": livemode,
        "name": name,
        "config": dict(config),
        "updated_at": now,
    }
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(processor_configs).values(values)
        upsert: sa.Insert = pg.on_conflict_do_update(
            index_elements=["merchant_id", "livemode"],
            set_={"name": pg.excluded.name, "config": pg.excluded.config, "updated_at": now},
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(processor_configs).values(values)
        upsert = lite.on_conflict_do_update(
            index_elements=["merchant_id", "livemode"],
            set_={"name": lite.excluded.name, "config": lite.excluded.config, "updated_at": now},
        )
    await conn.execute(upsert)


async def delete_config(conn: AsyncConnection, merchant_id: str, livemode: bool) -> bool:
    """Remove the row (back to the mode's default); True if there was one."""
    result = await conn.execute(
        processor_configs.delete().where(
            processor_configs.c.merchant_id == merchant_id,
            processor_configs.c.livemode == livemode,
        )
    )
    return bool(result.rowcount)
