"""Running operations: the one place transactions are opened, and idempotency.

`run()` executes a writing operation in one transaction (operations that call a processor
run in phases instead: `kessai.services.phases`, whose retries `claim` and `lookup` hand
an open operation to resume, `Resume`). With an idempotency key, the key
row is claimed in that same transaction and the rendered response stored before commit:
a replay returns the stored status and body; the same key with another request is 422;
the same key still running elsewhere is 409. Expected errors (`KessaiError` below 500)
are stored too, so a replay gets the same error. Bugs and 5xx errors are not stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.errors import Conflict, InvalidParameter, KessaiError
from kessai.services.runtime import Caller, Runtime
from kessai.store import idempotency

T = TypeVar("T")
Operation = Callable[[AsyncConnection], Awaitable[T]]
Rendered = tuple[int, bytes]
KEY_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, method: str, path: str, body: bytes) -> IdempotencyKey:
        digest = hashlib.sha256()
        for part in (method.encode(), path.encode(), body):
            digest.update(len(part).to_bytes(8, "big") + part)
        return cls(key, digest.hexdigest())


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def render_error(exc: KessaiError) -> Rendered:
    return exc.status, dumps(exc.body())


async def read(rt: Runtime, operation: Operation[T]) -> T:
    async with rt.db.transaction(write=False) as conn:
        return await operation(conn)


async def write(rt: Runtime, operation: Operation[T]) -> T:
    async with rt.db.transaction() as conn:
        return await operation(conn)


async def lookup(rt: Runtime, caller: Caller, key: IdempotencyKey) -> Rendered | Resume | None:
    """What a request with `key` finds before it starts: the stored response to replay, the
    open operation to resume (`Resume`), or None (run it). A key of another request is
    `KeyMisuse`. Read on a connection of its own; `claim` decides again under the lock."""
    row = await read(
        rt,
        lambda conn: idempotency.existing(
            conn, merchant_id=caller.merchant_id, livemode=caller.livemode, key=key.key
        ),
    )
    if row is None or rt.clock() - row["created_at"] > KEY_TTL:
        return None
    if row["status_code"] is None and row["operation_id"] is None:
        return None  # being written right now: `claim` waits for it and decides
    if row["fingerprint"] != key.fingerprint:
        raise KeyMisuse(
            "This X-KOMOJU-IDEMPOTENCY key was already used for a different request; "
            "use a new key for a new request.",
            param="X-KOMOJU-IDEMPOTENCY",
        )
    if row["status_code"] is None:
        return Resume(int(row["id"]), row["operation_id"])
    return int(row["status_code"]), bytes(row["body"])


async def stored(rt: Runtime, caller: Caller, key: IdempotencyKey) -> Rendered | None:
    """The response stored under `key` for this same request, if any: what `run` would
    replay. Read on a connection of its own, for work a route does before `run`'s
    transaction that a replay must skip."""
    row = await read(
        rt,
        lambda conn: idempotency.existing(
            conn, merchant_id=caller.merchant_id, livemode=caller.livemode, key=key.key
        ),
    )
    if (
        row is None
        or row["status_code"] is None
        or row["fingerprint"] != key.fingerprint
        or rt.clock() - row["created_at"] > KEY_TTL
    ):
        return None
    return int(row["status_code"]), bytes(row["body"])


async def run(
    rt: Runtime,
    caller: Caller,
    key: IdempotencyKey | None,
    operation: Operation[T],
    render: Callable[[T], Rendered],
    *,
    claim_first: bool = True,
) -> Rendered:
    """Run a write and render it; errors are rendered too (and stored under the key).

    `claim_first=False` is for operations that touch nothing but the store (no processor):
    the key is written once, with the response, at the end of the work's transaction,
    saving a statement. Should the key exist already, that work is rolled back unseen and
    the request runs again the usual way, which replays the stored response.
    """
    try:
        async with rt.db.transaction() as conn:
            key_id = None
            if key is not None and claim_first:
                key_id, replay = await claim(rt, conn, caller, key)
                if replay is not None:
                    return replay
            rendered = render(await operation(conn))
            if key is None:
                return rendered
            if key_id is not None:
                await idempotency.finish(conn, key_id, *rendered)
            elif not await _claim_with(rt, conn, caller, key, rendered):
                raise _KeyTaken()
            return rendered
    except _KeyTaken:
        return await run(rt, caller, key, operation, render)
    except KessaiError as exc:
        rendered = render_error(exc)
        if key is not None and exc.status < 500 and not isinstance(exc, KeyMisuse):
            rendered = await store_error(rt, caller, key, rendered)
        return rendered


class Resume(Exception):
    """The key is an unfinished request's recovery point: its processor operation."""

    def __init__(self, key_id: int, operation_id: str) -> None:
        super().__init__(operation_id)
        self.key_id = key_id
        self.operation_id = operation_id


class _KeyTaken(Exception):
    """The key was written by another request meanwhile: undo this one's work."""


class KeyMisuse(InvalidParameter):
    """A problem with the idempotency key itself: never stored under it."""


class _KeyConflict(Conflict):
    pass


async def _claim_with(
    rt: Runtime, conn: AsyncConnection, caller: Caller, key: IdempotencyKey, rendered: Rendered
) -> bool:
    """Write the key with its response; False if the key exists already."""
    key_id = await idempotency.claim(
        conn,
        merchant_id=caller.merchant_id,
        livemode=caller.livemode,
        key=key.key,
        fingerprint=key.fingerprint,
        now=rt.clock(),
        status_code=rendered[0],
        body=rendered[1],
    )
    return key_id is not None


async def claim(
    rt: Runtime, conn: AsyncConnection, caller: Caller, key: IdempotencyKey
) -> tuple[int | None, Rendered | None]:
    now = rt.clock()
    key_id = await idempotency.claim(
        conn,
        merchant_id=caller.merchant_id,
        livemode=caller.livemode,
        key=key.key,
        fingerprint=key.fingerprint,
        now=now,
    )
    if key_id is not None:
        return key_id, None
    row = await idempotency.existing(
        conn, merchant_id=caller.merchant_id, livemode=caller.livemode, key=key.key
    )
    if row is not None and row["status_code"] is None and row["operation_id"] is not None:
        if row["fingerprint"] != key.fingerprint:
            raise KeyMisuse(
                "This X-KOMOJU-IDEMPOTENCY key was already used for a different request; "
                "use a new key for a new request.",
                param="X-KOMOJU-IDEMPOTENCY",
            )
        # The first request stopped after its processor call began: carry that on.
        raise Resume(int(row["id"]), row["operation_id"])
    if row is None or row["status_code"] is None:
        raise _KeyConflict(
            "A request with this X-KOMOJU-IDEMPOTENCY key is still being processed; "
            "retry in a moment."
        )
    if now - row["created_at"] > KEY_TTL:
        # An expired key is forgotten: take it over for this request.
        await idempotency.forget(conn, row["id"])
        return await claim(rt, conn, caller, key)
    if row["fingerprint"] != key.fingerprint:
        raise KeyMisuse(
            "This X-KOMOJU-IDEMPOTENCY key was already used for a different request; "
            "use a new key for a new request.",
            param="X-KOMOJU-IDEMPOTENCY",
        )
    return None, (int(row["status_code"]), bytes(row["body"]))


async def store_error(
    rt: Runtime, caller: Caller, key: IdempotencyKey, rendered: Rendered
) -> Rendered:
    try:
        async with rt.db.transaction() as conn:
            key_id, replay = await claim(rt, conn, caller, key)
            if replay is not None:
                return replay
            if key_id is not None:
                await idempotency.finish(conn, key_id, *rendered)
    except KessaiError as exc:
        return render_error(exc)
    except Resume:  # the key is another request's recovery point: store nothing under it
        return rendered
    return rendered
