"""Charging subscriptions, each charge exactly once, whoever finds it due.

Each charge has an identity: the subscription, its `cycle` (successful charges so far) and
its `retry_count` (retries of this cycle). A runner (the worker, or a test clock's step):

1. claims the charge: a conditional update that holds the subscription (`lease_until`,
   on the real time) only if the charge is still the current one and due;
2. makes it through the payment machinery (`payments.create` by customer, run in phases
   by `phases.run`) as a synthetic secret-key caller, with an idempotency key derived from
   the identity: a crash, a lost answer or a second runner replays or resumes that
   charge, never makes another;
3. records the subscription's move and its event in phase 3's transaction, the one that
   applies the payment's outcome, conditional on the identity still being current
   (`settle`). A charge that made no payment (the customer has no card any more) is
   recorded the same way in a transaction of its own.

The payment names the identity it was made for (on its authorization, `store.CHARGE`):
before making a charge, a runner looks for that payment (`store.charge_of`), so a charge
is made once however long its outcome takes, not only while its idempotency key lasts.
A payment whose outcome is not final yet (unknown, pending, authorized) moves nothing: the
charge is let go (its lease released) and settled from its payment once that payment is
final (the reconciler, or the acquirer's notice, finishes it). A test clock's step never
waits for such a charge; it waits (bounded) only for charges another runner is making.

DELETE ends a subscription at once, even while a charge holds it: a charge not yet at
the processor then makes no payment (phase 1 reads the status under the row's lock); one
already sent completes as a payment of the subscription, but never moves it again.

A subscription's first charge is made by the request that creates it (`subscriptions.create`,
under the merchant's idempotency key); if that request never finished it, the worker
settles it from its payment once the payment's outcome is known (`_settle_first`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import payments as payment_states
from kessai.core import periods
from kessai.errors import KessaiError
from kessai.processors.base import Processor
from kessai.schemas import resources
from kessai.schemas.requests import CreatePayment
from kessai.services import execute, payments, phases
from kessai.services.due import Scope
from kessai.services.execute import IdempotencyKey, Rendered
from kessai.services.payments import PaymentView
from kessai.services.phases import Done, Plan
from kessai.services.runtime import Caller, Runtime
from kessai.store import events
from kessai.store import subscriptions as store
from kessai.store.tables import customers
from kessai.store.tables import subscriptions as table

# How long (real time) a runner holds a charge before another may take it over: at least
# this, and longer than the processor call it makes (`lease`).
LEASE = timedelta(seconds=60)
LEASE_MARGIN = timedelta(seconds=30)
BATCH = 100
CONCURRENCY = 8  # charges made at once by one runner
# How long a test clock's step waits for charges another runner holds.
WAIT_SECONDS = 30.0
Identity = tuple[int, int]
DONE, HELD, SKIPPED = "done", "held", "skipped"
SUCCEEDED = (payment_states.CAPTURED, payment_states.REFUNDED)
ENDED = (*SUCCEEDED, payment_states.FAILED, payment_states.CANCELLED, payment_states.EXPIRED)


def lease(processor: Processor) -> timedelta:
    """How long a charge made with `processor` holds its subscription."""
    return max(LEASE, phases.lease_for(processor) + LEASE_MARGIN)


def final(payment: Mapping[Any, Any]) -> bool:
    """Whether the payment's outcome is known for good (pending or authorized: not yet)."""
    return payment["status"] in ENDED


class Waiting(Exception):
    """The charge's payment exists and its outcome is not final: nothing to do now."""


@dataclass(frozen=True)
class SubscriptionView:
    row: Mapping[Any, Any]
    customer: Mapping[Any, Any]
    payments: list[str]


def body(found: SubscriptionView) -> resources.Subscription:
    return resources.subscription(found.row, found.customer, found.payments)


async def views(
    conn: AsyncConnection, found: Sequence[Mapping[Any, Any]]
) -> list[SubscriptionView]:
    """Subscriptions with their customers and payment ids (two queries for any number)."""
    ids = [row["id"] for row in found]
    charges = await store.payment_ids(conn, ids)
    wanted = sorted({row["customer_id"] for row in found})
    owners: dict[str, RowMapping] = {}
    if wanted:
        result = await conn.execute(customers.select().where(customers.c.id.in_(wanted)))
        owners = {row["id"]: row for row in result.mappings()}
    return [SubscriptionView(row, owners[row["customer_id"]], charges[row["id"]]) for row in found]


async def view(conn: AsyncConnection, row: Mapping[Any, Any]) -> SubscriptionView:
    return (await views(conn, [row]))[0]


async def record_event(
    conn: AsyncConnection, row: Mapping[Any, Any], event_type: str, reason: str | None = None
) -> None:
    await events.insert(
        conn,
        merchant_id=row["merchant_id"],
        livemode=row["livemode"],
        type=event_type,
        data=body(await view(conn, row)),
        now=row["updated_at"],
        reason=reason,
    )


async def settle(
    conn: AsyncConnection,
    rt: Runtime,
    subscription_id: str,
    identity: Identity,
    payment: Mapping[Any, Any] | None,
    *,
    first: bool = False,
) -> bool:
    """Record the outcome of charge `identity` (its payment, or None if none could be
    made) with its events; False if that charge is not the current one any more, or its
    payment's outcome is not final yet (then the charge is let go, and settled later)."""
    row = await store.get(conn, subscription_id)
    statuses = (store.PENDING,) if first else store.CHARGEABLE
    if row is None or row["status"] not in statuses:
        return False
    if (row["cycle"], row["retry_count"]) != identity:
        return False
    if payment is not None and not final(payment):
        await store.release(conn, subscription_id, identity)
        return False
    now = rt.now()
    kinds = ["subscription.created"] if first else []
    reason = None
    values: dict[str, Any] = {"updated_at": now}
    if payment is not None and payment["status"] in SUCCEEDED:
        following = periods.following(row["created_at"], row["period"], now)
        values |= {
            "status": store.ACTIVE,
            "cycle": identity[0] + 1,
            "retry_count": 0,
            "retry_at": None,
            "next_capture_at": following,
            "due_at": following,
        }
        kinds.append("subscription.captured")
    else:
        reason = payment["failure_code"] if payment is not None else "customer_without_card"
        retry = periods.retry_at(now, identity[1])
        if retry is None:
            values |= {"status": store.SUSPENDED, "retry_at": None, "due_at": None}
            kinds.append("subscription.suspended")
        else:
            values |= {
                "status": store.RETRYING,
                "retry_count": identity[1] + 1,
                "retry_at": retry,
                "due_at": retry,
            }
            kinds.append("subscription.failed")
    if not await store.move(conn, subscription_id, identity, statuses, values):
        return False
    moved = {**row, **values, "lease_until": None}
    for kind in kinds:
        await record_event(conn, moved, kind, None if kind.endswith("created") else reason)
    return True


def _key(row: Mapping[Any, Any], identity: Identity) -> IdempotencyKey:
    """The charge's own idempotency key: the same for every runner of the same charge."""
    name = f"kessai-subscription-{row['id']}-{identity[0]}-{identity[1]}"
    return IdempotencyKey.of(name, "POST", f"/kessai/subscriptions/{row['id']}/charge", b"")


def _render(value: PaymentView | None) -> Rendered:
    """What the charge's key keeps (read only by runners of the same charge): 200 or 402
    when its payment settled it, 202 while that payment's outcome is not final, `null`
    when the charge is not the current one (it never is again)."""
    if value is None:
        return 200, b"null"
    status = value.row["status"]
    code = 200 if status in SUCCEEDED else 402 if final(value.row) else 202
    return code, execute.dumps({"payment": value.row["id"]})


def charge_plan(
    rt: Runtime, caller: Caller, row: Mapping[Any, Any], identity: Identity
) -> Plan[PaymentView | None]:
    """Phase 1 makes the payment only if the charge is still current and made none yet
    (one it made and whose outcome is final settles it instead; one not final yet, or an
    earlier charge still open, is `Waiting`); phase 3 moves the subscription with it."""
    subscription_id = row["id"]
    params = CreatePayment.model_validate(
        {"amount": row["amount"], "currency": row["currency"], "customer": row["customer_id"]}
    )
    payment = payments.create(rt, caller, params, None, subscription_id=subscription_id)

    async def prepare(conn: AsyncConnection) -> phases.Intent | Done[PaymentView | None]:
        current = await store.get(conn, subscription_id, lock=True)
        if current is None or current["status"] not in store.CHARGEABLE:
            return Done(None)
        if (current["cycle"], current["retry_count"]) != identity:
            return Done(None)
        earlier = await store.charge_of(conn, subscription_id, identity)
        if earlier is not None and final(earlier):
            await settle(conn, rt, subscription_id, identity, earlier)
            return Done(await payments.view(conn, earlier))
        if earlier is not None or await store.charge_open(conn, subscription_id):
            raise Waiting()  # not stored under the key: the charge is looked at again later
        made = await payment.prepare(conn)
        assert isinstance(made, phases.Intent)  # a payment is always a processor call
        return tagged(made, identity)

    async def present(
        conn: AsyncConnection, operation: RowMapping, seen: Any
    ) -> PaymentView | None:
        found = await payments.present(conn, operation, seen)
        await settle(conn, rt, subscription_id, identity, found.row)
        return found

    return Plan(prepare, present, (row["merchant_id"], row["livemode"]))


def tagged(made: phases.Intent, identity: Identity) -> phases.Intent:
    """The payment's authorization, naming the charge it is for (`store.charge_of`)."""
    request = {**made.operation["request"], store.CHARGE: list(identity)}
    return dataclasses.replace(made, operation={**made.operation, "request": request})


async def _charge(rt: Runtime, row: Mapping[Any, Any], identity: Identity) -> str:
    caller = Caller(row["merchant_id"], "", row["livemode"], "secret")
    plan = charge_plan(rt, caller, row, identity)
    try:
        status, _ = await phases.run(rt, caller, _key(row, identity), plan, _render)
    except Waiting:
        status = 202
    if status in (200, 402):  # settled (by this runner or an earlier one)
        return DONE
    if status in (202, 409) or status >= 500:  # outcome not final, or unknown (it stays
        # for the reconciler), or under way elsewhere: let go. Its payment, once final,
        # settles it; the key and `store.charge_of` keep a second payment from being made.
        await execute.write(rt, lambda conn: store.release(conn, row["id"], identity))
        return SKIPPED
    # No payment could be made (the customer's card is gone): a failed charge.
    await execute.write(rt, lambda conn: settle(conn, rt, row["id"], identity, None))
    return DONE


async def _settle_first(rt: Runtime, row: Mapping[Any, Any]) -> str:
    """A subscription whose creating request did not record its first charge's outcome."""

    async def work(conn: AsyncConnection) -> str:
        found = await store.payments_of(conn, row["id"])
        if found and not final(found[0]):  # not known yet: look again later
            await store.move(
                conn, row["id"], (0, 0), (store.PENDING,), {"due_at": rt.now() + LEASE}
            )
            return SKIPPED
        await settle(conn, rt, row["id"], (0, 0), found[0] if found else None, first=True)
        return DONE

    return await execute.write(rt, work)


async def _one(rt: Runtime, row: Mapping[Any, Any]) -> str:
    identity = (row["cycle"], row["retry_count"])
    try:
        held = lease(await rt.processor(row["merchant_id"], row["livemode"]))
    except KessaiError:  # no processor for it now: its charge will say so (503), let go
        held = LEASE

    async def take(conn: AsyncConnection) -> str:
        """Claim the charge, unless its payment exists: then settle it from that payment
        if final, else leave it (its outcome is awaited, never asked for here)."""
        clock = rt.clock()
        if not await store.claim(
            conn, row["id"], identity, now=rt.now(), clock=clock, lease_until=clock + held
        ):
            return HELD
        if row["status"] == store.PENDING:
            return "first"
        earlier = await store.charge_of(conn, row["id"], identity)
        if earlier is None:
            return "charge"
        if final(earlier):
            await settle(conn, rt, row["id"], identity, earlier)
            return DONE
        await store.release(conn, row["id"], identity)
        return SKIPPED

    taken = await execute.write(rt, take)
    try:
        if taken == "first":
            return await _settle_first(rt, row)
        if taken == "charge":
            return await _charge(rt, row, identity)
    except Exception:  # a bug or a store failure: let go at once (nothing is charged twice)
        with contextlib.suppress(Exception):
            await execute.write(rt, lambda conn: store.release(conn, row["id"], identity))
        raise
    return taken


async def run_due(rt: Runtime, scope: Scope) -> int:
    """Make every charge in `scope` due at `rt.now()`, `CONCURRENCY` at a time; how many
    were settled.

    Each charge is tried once: one whose outcome is not known yet is let go (the
    reconciler finds it). For one merchant's clock (a test clock's step) it also waits, up
    to `WAIT_SECONDS`, for the charges other runners are making (those hold a lease), so
    the step ends with every due charge made whose outcome can be known."""
    done = 0
    tried: list[str] = []
    give_up = time.monotonic() + WAIT_SECONDS
    pause = 0.005
    gate = asyncio.Semaphore(CONCURRENCY)

    async def due_now(conn: AsyncConnection) -> list[RowMapping]:
        return await store.due(conn, scope.where(table), rt.now(), BATCH, skip=tried)

    async def one(row: RowMapping) -> str:
        async with gate:
            return await _one(rt, row)

    while True:
        found = await execute.read(rt, due_now)
        if not found:
            return done
        clock = rt.clock()
        free = [r for r in found if r["lease_until"] is None or r["lease_until"] <= clock]
        results = await asyncio.gather(*(one(row) for row in free), return_exceptions=True)
        for row, result in zip(free, results, strict=True):
            if isinstance(result, BaseException):
                raise result  # after every other charge of the batch has finished
            if result != HELD:
                tried.append(row["id"])
            done += result == DONE
        if free:
            continue
        if scope.merchant_id is None or time.monotonic() > give_up:
            return done
        await asyncio.sleep(pause)  # held by another runner: wait for it to finish
        pause = min(pause * 2, 0.2)


async def next_due(conn: AsyncConnection, merchant_id: str, after: datetime) -> datetime | None:
    """The earliest charge or retry of the merchant's test mode after `after`."""
    return await store.next_due(conn, merchant_id, after)
