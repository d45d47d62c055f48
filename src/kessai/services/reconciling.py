"""Resuming an operation whose answer was lost: for a retry of its request, and for the
reconciler (`kessai.worker.reconcile`).

Resuming leases the open operation (a conditional update: one resumer at a time) and asks
the processor that was called, with the same operation id, what became of it
(`Processor.reconcile`), unless phase 3 already had the answer and only failed to apply
it (then that answer is used). The outcome is applied as phase 3 would have
(`kessai.services.phases`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.errors import Conflict, ProcessorUnavailable
from kessai.processors.base import Call, OutcomeUnknown
from kessai.services import calls, clocks, execute, outcomes, phases
from kessai.services.execute import Rendered, Resume
from kessai.services.runtime import Runtime
from kessai.store import idempotency
from kessai.store import operations as store

T = TypeVar("T")
BUSY = object()


async def resume_request(
    rt: Runtime, plan: phases.Plan[T], resume: Resume, render: Callable[[T], Rendered] | None
) -> T:
    """A retry of a request whose operation is still open (or was closed meanwhile)."""
    outcome = await reconcile(rt, resume.operation_id)
    if outcome is BUSY:
        raise Conflict(
            "A request with this X-KOMOJU-IDEMPOTENCY key is still being processed; "
            "retry in a moment."
        )
    if outcome is not None:
        return await phases.apply_answer(
            rt, plan, resume.operation_id, outcome, resume.key_id, render
        )
    async with rt.db.transaction() as conn:  # closed meanwhile: by the first request, say
        operation = await store.get(conn, resume.operation_id)
        assert operation is not None
        value = await plan.present(conn, operation, {})
        if render is not None:
            # The request that closed it stored its answer: that one, byte for byte.
            stored = await idempotency.finish_once(conn, resume.key_id, *render(value))
            if stored is not None:
                raise phases.Replayed(stored)
        return value


async def reconcile(rt: Runtime, operation_id: str) -> Any:
    """Lease an open operation whose lease ran out and find its outcome.

    Returns the outcome (an `OutcomeUnknown` too) for the caller to apply, None when the
    operation is closed already, `BUSY` when someone else holds its lease.
    """
    found = await execute.read(rt, lambda conn: store.get(conn, operation_id))
    if found is None or found["status"] != store.OPEN:
        return None
    await clocks.enter(rt, found["merchant_id"], found["livemode"])  # its events' time
    processor = await rt.processor(found["merchant_id"], found["livemode"])
    if processor.name != found["processor"]:
        # The merchant moved to another processor: only the one that was called can say
        # what happened. The operation waits (and says so) until it is back.
        raise ProcessorUnavailable(
            f"operation {operation_id} was made with the {found['processor']} processor, "
            f"and this mode now uses {processor.name}"
        )

    async def take(conn: AsyncConnection) -> tuple[RowMapping | None, Any]:
        taken = await store.take(conn, operation_id, rt.clock(), phases.lease_for(processor))
        if taken is None:
            operation = await store.get(conn, operation_id)
            closed = operation is None or operation["status"] != store.OPEN
            return None, None if closed else BUSY
        return taken, await outcomes.open_operation(conn, taken)

    operation, open_op = await execute.write(rt, take)
    if operation is None:
        return open_op
    resume = operation["resume"] or {}
    if "known" in resume:  # phase 3 had the answer and failed to apply it
        return outcomes.decode(resume["known"])
    call = Call(operation_id, processor.timeout, resume or None)
    return await calls.call_processor(
        processor, call, operation["kind"], lambda p, c: p.reconcile(c, open_op)
    )


async def set_aside(rt: Runtime, operation_id: str, reason: str) -> None:
    """The reconciler could not resolve the operation this time: try again after the
    backoff instead of at every round."""
    await phases.defer(rt, operation_id, OutcomeUnknown(reason))


async def reconcile_and_apply(rt: Runtime, operation_id: str) -> bool:
    """The reconciler's step for one operation: True when it is closed now."""
    outcome = await reconcile(rt, operation_id)
    if outcome is None or outcome is BUSY:
        return outcome is None
    if isinstance(outcome, OutcomeUnknown):
        await phases.defer(rt, operation_id, outcome)
        return False
    await execute.write(rt, lambda conn: phases.close(rt, conn, operation_id, outcome))
    return True
