"""Operations that call a processor, in three phases with a recovery point.

    1. record   one short transaction: claim the idempotency key, check the state machine,
                reserve what the operation needs (the payment's or session's `operation_id`,
                the refund amount) and write the operation `open`, with its id as the key's
                recovery point. Commit.
    2. call     the processor, with the operation id as its idempotency key and a deadline,
                holding no transaction and no lock.
    3. apply    one short transaction: close the operation (a conditional update, so it is
                applied once), move the payment (and session) as the outcome says, write its
                events, store the response under the idempotency key. Commit.

When the answer is lost (`OutcomeUnknown`, the deadline, a processor bug), phase 3 instead
keeps the operation open with a backoff and answers 503: the payment stays as it was (a new
one `pending`). A retry of the request with the same idempotency key resumes the operation
(`Resume`, `kessai.services.reconciling`); the reconciler (`kessai.worker.reconcile`)
resumes every open operation whose lease ran out, until each is closed. Resuming asks
the processor's `reconcile`, never a fresh charge. The state machine, phases included, is
drawn in docs/processors.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.errors import Conflict, KessaiError, ProcessorUnavailable
from kessai.processors.base import (
    Call,
    OutcomeUnknown,
    Processor,
)
from kessai.services import execute, outcomes
from kessai.services.calls import Invoke, call_processor
from kessai.services.execute import IdempotencyKey, Rendered, Resume, render_error
from kessai.services.runtime import Caller, Runtime
from kessai.store import idempotency
from kessai.store import operations as store

log = logging.getLogger("kessai.processors")
T = TypeVar("T")
# What the request answers, from its closed operation and the rows its outcome left
# (`outcomes.Seen`: empty when someone else applied it; then read them).
Present = Callable[[AsyncConnection, RowMapping, "outcomes.Seen"], Awaitable[T]]
# How long a request waits for another operation on the same payment or session to finish.
BUSY_WAIT_SECONDS = 30.0
RETRY_BASE = timedelta(seconds=5)
RETRY_CAP = timedelta(minutes=10)


@dataclass(frozen=True)
class Intent:
    """What phase 1 decided: the operation row it wrote and the call phase 2 makes."""

    processor: Processor
    operation: dict[str, Any]
    invoke: Invoke
    # The payment (and session) rows as phase 1 left them, held by this operation: phase 3
    # moves them with conditional updates and need not read them again.
    rows: outcomes.Seen = field(default_factory=dict)


@dataclass(frozen=True)
class Done(Generic[T]):
    """Phase 1 finished the request without calling a processor."""

    value: T


class Busy(Exception):
    """Another operation holds the payment or session: wait for it, then look again."""


class Prerequisite(Exception):
    """Phase 1 found work to do outside any transaction first (vaulting a card): roll
    back, do `work`, then look again."""

    def __init__(self, work: Callable[[], Awaitable[None]]) -> None:
        super().__init__("work outside the transaction first")
        self.work = work


@dataclass(frozen=True)
class Plan(Generic[T]):
    """One request's operation: phase 1 (`prepare`) and what the caller gets (`present`)."""

    prepare: Callable[[AsyncConnection], Awaitable[Intent | Done[T]]]
    present: Present[T]
    # The (merchant id, livemode) whose processor `prepare` asks for, when known: it is
    # looked up before the transaction opens, so `prepare` finds it cached.
    scope: tuple[str, bool] | None = None
    # Work before any transaction (vaulting a card), skipped by a replay or a resume.
    before: Callable[[], Awaitable[None]] | None = None


async def never(conn: AsyncConnection, operation: RowMapping, seen: outcomes.Seen) -> Any:
    """The `present` of a plan whose `prepare` always finishes (`Done`)."""
    raise AssertionError("this plan never calls a processor")


class OutcomePending(ProcessorUnavailable):
    """The processor's answer was lost; the operation stays open and will be reconciled."""


def new_operation(
    rt: Runtime,
    processor: Processor,
    kind: str,
    *,
    merchant_id: str,
    livemode: bool,
    operation_id: str,
    payment_id: str | None,
    session_id: str | None = None,
    amount: int | None = None,
    request: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The row phase 1 writes: open, leased for the call's deadline."""
    now = rt.clock()
    lease = now + lease_for(processor)
    return {
        "id": operation_id,
        "merchant_id": merchant_id,
        "livemode": livemode,
        "processor": processor.name,
        "kind": kind,
        "payment_id": payment_id,
        "session_id": session_id,
        "amount": amount,
        "request": request or {},
        "resume": None,
        "status": store.OPEN,
        "outcome": None,
        "attempts": 0,
        "lease_until": lease,
        "next_attempt_at": lease,
        "created_at": now,
        "updated_at": now,
    }


def lease_for(processor: Processor) -> timedelta:
    return timedelta(seconds=processor.timeout + 5)


async def run(
    rt: Runtime,
    caller: Caller,
    key: IdempotencyKey | None,
    plan: Plan[T],
    render: Callable[[T], Rendered],
) -> Rendered:
    """An API request: the three phases, idempotent under `key`; errors rendered.

    The key is looked up first: a stored answer is replayed, an open operation resumed,
    before anything else (the plan's `before` included) runs again."""
    try:
        resume = None
        if key is not None:
            found = await execute.lookup(rt, caller, key)
            if isinstance(found, Resume):
                resume = found
            elif found is not None:
                return found
        return render(await _perform(rt, plan, caller, key, render, resume))
    except Replayed as replayed:
        return replayed.rendered
    except KessaiError as exc:
        rendered = render_error(exc)
        if key is not None and storable(exc):
            rendered = await execute.store_error(rt, caller, key, rendered)
        return rendered


def storable(exc: KessaiError) -> bool:
    """An error a replay must get again: not a 5xx, a busy key or a misused key."""
    return exc.status < 500 and not isinstance(exc, Conflict | execute.KeyMisuse)


async def perform(rt: Runtime, plan: Plan[T]) -> T:
    """A request without an idempotency key (the hosted pages); raises `KessaiError`."""
    return await _perform(rt, plan, None, None, None)


class Replayed(Exception):
    """The answer is already stored under the key: send exactly that."""

    def __init__(self, rendered: Rendered) -> None:
        self.rendered = rendered


async def _perform(
    rt: Runtime,
    plan: Plan[T],
    caller: Caller | None,
    key: IdempotencyKey | None,
    render: Callable[[T], Rendered] | None,
    resume: Resume | None = None,
) -> T:
    from kessai.services import reconciling  # it builds on this module

    if resume is not None:
        return await reconciling.resume_request(rt, plan, resume, render)
    if plan.before is not None:
        await plan.before()
    try:
        started = await _record(rt, plan, caller, key, render)
    except Resume as raced:  # the key became a recovery point meanwhile
        return await reconciling.resume_request(rt, plan, raced, render)
    if isinstance(started, Done):
        return started.value
    intent, key_id = started
    operation_id = intent.operation["id"]
    call = Call(operation_id, intent.processor.timeout)
    kind = intent.operation["kind"]
    outcome = await call_processor(intent.processor, call, kind, intent.invoke)
    return await apply_answer(rt, plan, operation_id, outcome, key_id, render, intent.rows)


async def _record(
    rt: Runtime,
    plan: Plan[T],
    caller: Caller | None,
    key: IdempotencyKey | None,
    render: Callable[[T], Rendered] | None,
) -> Done[T] | tuple[Intent, int | None]:
    """Phase 1, waiting (without holding anything) while another operation is busy."""
    if plan.scope is not None:
        await rt.processor(*plan.scope)
    give_up = time.monotonic() + BUSY_WAIT_SECONDS
    pause = 0.005
    while True:
        try:
            async with rt.db.transaction() as conn:
                key_id = None
                if key is not None and caller is not None:
                    key_id, replay = await execute.claim(rt, conn, caller, key)
                    if replay is not None:
                        raise Replayed(replay)
                prepared = await plan.prepare(conn)
                if isinstance(prepared, Done):
                    if key_id is not None and render is not None:
                        await idempotency.finish(conn, key_id, *render(prepared.value))
                    return prepared
                await store.insert(conn, prepared.operation)
                if key_id is not None:
                    await store.remember(conn, key_id, prepared.operation["id"])
                return prepared, key_id
        except Prerequisite as needed:
            await needed.work()
        except Busy:
            if time.monotonic() > give_up:
                raise Conflict(
                    "Another operation on this payment or session is still waiting for the "
                    "processor; retry in a moment."
                ) from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)


async def apply_answer(
    rt: Runtime,
    plan: Plan[T],
    operation_id: str,
    outcome: Any,
    key_id: int | None,
    render: Callable[[T], Rendered] | None,
    rows: outcomes.Seen | None = None,
) -> T:
    """Phase 3: apply the outcome once, present it, store the response under the key.

    It runs to its end even if the request is cancelled meanwhile (shielded); if it fails,
    the answer is kept on the open operation, so reconciling applies it without asking."""
    if isinstance(outcome, OutcomeUnknown):
        await defer(rt, operation_id, outcome)
        raise OutcomePending(
            "The processor did not answer in time, so the outcome is not known yet. "
            "Retry with the same X-KOMOJU-IDEMPOTENCY key to learn it (without a key, "
            "GET the payment instead of retrying).",
            details={"operation": operation_id},
        )

    async def phase_three() -> T:
        async with rt.db.transaction() as conn:
            operation, seen = await close(rt, conn, operation_id, outcome, rows)
            value = await plan.present(conn, operation, seen)
            if key_id is not None and render is not None:
                stored = await idempotency.finish_once(conn, key_id, *render(value))
                if stored is not None:  # another request for the key answered first
                    raise Replayed(stored)
            return value

    try:
        return await asyncio.shield(phase_three())
    except Replayed:
        raise
    except Exception:
        known = {"known": outcomes.encode(outcome)}
        with contextlib.suppress(Exception):
            await defer(rt, operation_id, OutcomeUnknown("applying the answer failed", known))
        raise


async def close(
    rt: Runtime,
    conn: AsyncConnection,
    operation_id: str,
    outcome: Any,
    rows: outcomes.Seen | None = None,
) -> tuple[RowMapping, outcomes.Seen]:
    """Close the operation with its outcome and apply it (only if it was still open): the
    closed operation and the rows its outcome left (empty if someone else applied it)."""
    closed = await store.close(conn, operation_id, outcomes.encode(outcome), rt.clock())
    if closed is not None:
        return closed, await outcomes.apply(conn, rt, closed, outcome, rows)
    operation = await store.get(conn, operation_id)
    assert operation is not None
    return operation, {}


async def defer(rt: Runtime, operation_id: str, unknown: OutcomeUnknown) -> None:
    """Keep the operation open, free to be resumed at once and reconciled after a backoff."""

    async def keep_open(conn: AsyncConnection) -> None:
        row = await store.get(conn, operation_id)
        attempts = row["attempts"] if row is not None else 0
        now = rt.clock()
        await store.defer(
            conn,
            operation_id,
            resume=dict(unknown.resume) if unknown.resume is not None else None,
            now=now,
            next_attempt_at=now + backoff(attempts),
        )

    log.warning("operation %s: outcome unknown (%s)", operation_id, unknown.reason)
    await execute.write(rt, keep_open)


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s ... up to 10 minutes, with jitter."""
    delay = min(RETRY_BASE * (2**attempts), RETRY_CAP)
    return delay * (0.5 + random.random() / 2)
