"""The reconciler: every open processor operation whose answer was lost is resolved.

An operation stays open when the processor's answer never came (or the process making the
call stopped). Once its lease has run out and its next attempt is due, the reconciler
takes it (a conditional update, so one worker at a time), asks the processor's
`reconcile` for the outcome with the same operation id, and applies it; an outcome still
unknown is tried again with backoff (`kessai.services.phases.backoff`), for as long as it
takes. Any number of workers and server processes may run it together.
"""

from __future__ import annotations

import asyncio
import logging

from kessai.errors import KessaiError
from kessai.services import execute, reconciling
from kessai.services.runtime import Runtime
from kessai.store import operations

log = logging.getLogger("kessai.reconcile")


async def reconcile_once(rt: Runtime, *, batch: int = 50, concurrency: int = 8) -> int:
    """One round over the operations due now, `concurrency` at a time (a slow acquirer
    does not hold up every other); how many it closed."""
    due = await execute.read(rt, lambda conn: operations.due(conn, rt.clock(), batch))
    gate = asyncio.Semaphore(concurrency)

    async def one(operation_id: str) -> bool:
        async with gate:
            return await _one(rt, operation_id)

    return sum(await asyncio.gather(*(one(operation_id) for operation_id in due)))


async def _one(rt: Runtime, operation_id: str) -> bool:
    try:
        return await reconciling.reconcile_and_apply(rt, operation_id)
    except KessaiError as exc:  # e.g. the merchant's processor is gone: try later
        log.warning("operation %s not reconciled: %s", operation_id, exc.message)
        await reconciling.set_aside(rt, operation_id, exc.message)
    except Exception:  # a bug in applying it: log it, back off, go on with the rest
        log.exception("operation %s not reconciled", operation_id)
        await reconciling.set_aside(rt, operation_id, "error while reconciling")
    return False


async def run_forever(rt: Runtime, interval: float) -> None:
    while True:
        try:
            closed = await reconcile_once(rt)
            if closed:
                log.info("reconciled %d processor operations", closed)
        except Exception:  # keep going: one bad round must not stop reconciliation
            log.exception("reconciliation round failed")
        await asyncio.sleep(interval)
