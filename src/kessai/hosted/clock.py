"""The hosted pages run on the clock of the merchant whose object they show.

A page knows its object only by the id in its path; which merchant and mode that object
belongs to never changes, so each process remembers it (`OWNERS`, bounded). The clock's
offset itself is `services.clocks`'s (remembered for a second).
"""

from __future__ import annotations

from collections import OrderedDict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from kessai.hosted.pages import runtime
from kessai.services import clocks, execute
from kessai.services.runtime import Runtime
from kessai.store.tables import payments, secure_tokens, sessions

# Which table each kind of path id names.
TABLES: dict[str, sa.Table] = {
    "session_id": sessions,
    "payment_id": payments,
    "secure_token_id": secure_tokens,
}
OWNERS: OrderedDict[str, tuple[str, bool]] = OrderedDict()
MAX_OWNERS = 50_000


async def merchant_clock(request: Request) -> None:
    """Set the request's clock to that of the merchant (and mode) owning the path's object;
    an unknown id leaves the real time (the page answers 404 anyway)."""
    for name, table in TABLES.items():
        object_id = request.path_params.get(name)
        if object_id is None:
            continue
        rt = runtime(request)
        owner = OWNERS.get(object_id) or await _owner(rt, table, object_id)
        if owner is not None:
            await clocks.enter(rt, *owner)
        return


async def _owner(rt: Runtime, table: sa.Table, object_id: str) -> tuple[str, bool] | None:
    async def load(conn: AsyncConnection) -> tuple[str, bool] | None:
        query = sa.select(table.c.merchant_id, table.c.livemode).where(table.c.id == object_id)
        row = (await conn.execute(query)).first()
        return None if row is None else (str(row.merchant_id), bool(row.livemode))

    owner = await execute.read(rt, load)
    if owner is not None:
        OWNERS[object_id] = owner
        if len(OWNERS) > MAX_OWNERS:
            OWNERS.popitem(last=False)
    return owner
