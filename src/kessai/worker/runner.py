"""Running the background work: in-process beside the server, or as `kessai worker`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from kessai.services.clocks import run_forever as sweep_forever
from kessai.services.runtime import Runtime
from kessai.worker.delivery import Deliverer, client
from kessai.worker.reconcile import run_forever as reconcile_forever


@contextlib.asynccontextmanager
async def background(rt: Runtime) -> AsyncIterator[None]:
    """Deliver webhooks, run what falls due (deadlines, subscription charges) on every
    merchant's clock and reconcile lost processor answers while the
    block runs."""
    tasks: list[asyncio.Task[None]] = []
    async with client(rt.settings.webhook_timeout) as http:
        if rt.settings.sweep_interval > 0:
            tasks.append(asyncio.create_task(sweep_forever(rt, rt.settings.sweep_interval)))
        tasks.append(asyncio.create_task(Deliverer(rt, http).run_forever()))
        if rt.settings.reconcile_interval > 0:
            tasks.append(asyncio.create_task(reconcile_forever(rt, rt.settings.reconcile_interval)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def run_until_signalled(rt: Runtime) -> None:
    """`kessai worker`: run until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with background(rt):
        await stop.wait()
