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
    """The hints of the merchant's working keys in the caller's mode (never the other's)."""
    return await execute.read(
        rt, lambda conn: keys.working(conn, caller.merchant_id, caller.livemode)
    )


async def roll(rt: Runtime, caller: Caller) -> Rolled:
    """Revoke the caller's mode's keys and issue new ones (shown once, never stored)."""
    now = utcnow()

    async def rolling(conn: AsyncConnection) -> merchants.RolledKeys:
        rolled = await merchants.roll_keys(conn, caller.merchant_id, now, only=caller.livemode)
        if rolled is None:
            raise NotFound("This merchant no longer exists.")
        return rolled

    rolled = await execute.write(rt, rolling)
    rt.keys.forget(rolled.revoked)  # the digests the roll's UPDATE ... RETURNING gave
    issued = rolled[caller.livemode]
    return Rolled(secret=issued["secret"], publishable=issued["publishable"])


async def sign_out(rt: Runtime, key_id: str) -> None:
    """End the dashboard sessions the secret key `key_id` opened so far (their cookies are
    refused from now on: `dashboard.auth.viewer`); a sign-in after this one works."""
    now = utcnow()
    await execute.write(rt, lambda conn: keys.sign_out(conn, key_id, now))
