"""A merchant's API keys as the dashboard sees them: hints only, never a key (only its
digest is stored); the secret key a dashboard session names, and signing it out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.merchants import KeyOwner
from kessai.store.tables import api_keys, merchants


async def working(conn: AsyncConnection, merchant_id: str, livemode: bool) -> list[RowMapping]:
    """The working keys of the merchant's one mode (kind, key_hint, created_at): secret
    before publishable. The other mode's keys are never listed."""
    rows = await conn.execute(
        sa.select(api_keys.c.kind, api_keys.c.key_hint, api_keys.c.created_at)
        .where(
            api_keys.c.merchant_id == merchant_id,
            api_keys.c.livemode == livemode,
            api_keys.c.revoked_at.is_(None),
        )
        .order_by(sa.desc(api_keys.c.kind), api_keys.c.created_at)
    )
    return list(rows.mappings())


@dataclass(frozen=True)
class SignedInKey:
    owner: KeyOwner
    signed_out_at: datetime | None  # the last sign-out from the dashboard with this key


async def secret_key(conn: AsyncConnection, key_id: str) -> SignedInKey | None:
    """The secret key with this row id while it works (not revoked): its owner, and when
    a dashboard session of it last signed out (cookies issued until then are over)."""
    k = api_keys
    row = (
        await conn.execute(
            sa.select(
                k.c.merchant_id,
                merchants.c.name,
                k.c.kind,
                k.c.livemode,
                k.c.key_digest,
                k.c.signed_out_at,
            )
            .join(merchants, merchants.c.id == k.c.merchant_id)
            .where(k.c.id == key_id, k.c.kind == "secret", k.c.revoked_at.is_(None))
        )
    ).first()
    return None if row is None else SignedInKey(KeyOwner(*row[:5]), row[5])


async def sign_out(conn: AsyncConnection, key_id: str, at: datetime) -> None:
    """End every dashboard session the key opened until `at` (a later sign-in works)."""
    await conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(signed_out_at=at))
