"""A merchant's API keys as the dashboard shows them: hints only, never a key (only its
digest is stored), and the digests a roll just revoked (to drop from the key cache)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.tables import api_keys


async def working(conn: AsyncConnection, merchant_id: str) -> list[RowMapping]:
    """The merchant's working keys (kind, livemode, key_hint, created_at): test mode
    first, secret before publishable."""
    rows = await conn.execute(
        sa.select(api_keys.c.kind, api_keys.c.livemode, api_keys.c.key_hint, api_keys.c.created_at)
        .where(api_keys.c.merchant_id == merchant_id, api_keys.c.revoked_at.is_(None))
        .order_by(api_keys.c.livemode, sa.desc(api_keys.c.kind), api_keys.c.created_at)
    )
    return list(rows.mappings())


async def revoked_at(
    conn: AsyncConnection, merchant_id: str, livemode: bool, at: datetime
) -> list[str]:
    """The digests of the mode's keys revoked at `at` (by the roll that used that time)."""
    rows = await conn.execute(
        sa.select(api_keys.c.key_digest).where(
            api_keys.c.merchant_id == merchant_id,
            api_keys.c.livemode == livemode,
            api_keys.c.revoked_at == at,
        )
    )
    return [str(digest) for (digest,) in rows]
