"""Rolling a merchant's API keys from the dashboard.

The same store function as `kessai merchant roll-keys` (`store.merchants.roll_keys`), in
one transaction that locks the merchant row, for the signed-in mode only: a test key's
session replaces the test keys and never sees or touches the live ones. The revoked keys
are dropped from this process's key cache at once, so this server refuses them on the next
request; another server process that authenticated one in the last
`KESSAI_AUTH_CACHE_SECONDS` may accept it until its cache entry expires (as after the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.errors import NotFound
from kessai.services import execute
from kessai.services.runtime import Caller, Runtime, utcnow
from kessai.store import keys, merchants


@dataclass(frozen=True)
class Rolled:
    secret: str
    publishable: str


async def working(rt: Runtime, caller: Caller) -> list[RowMapping]:
    """The hints of the merchant's working keys, both modes."""
    return await execute.read(rt, lambda conn: keys.working(conn, caller.merchant_id))


async def roll(rt: Runtime, caller: Caller) -> Rolled:
    """Revoke the caller's mode's keys and issue new ones (shown once, never stored)."""
    now = utcnow()

    async def rolling(conn: AsyncConnection) -> tuple[dict[str, str], list[str]]:
        rolled = await merchants.roll_keys(conn, caller.merchant_id, now, only=caller.livemode)
        if rolled is None:
            raise NotFound("This merchant no longer exists.")
        revoked = await keys.revoked_at(conn, caller.merchant_id, caller.livemode, now)
        return rolled[caller.livemode], revoked

    issued, revoked = await execute.write(rt, rolling)
    rt.keys.forget(revoked)
    return Rolled(secret=issued["secret"], publishable=issued["publishable"])
