"""`kessai trigger EVENT`: make, in a merchant's test mode, the objects that produce one
event type, through the same services the API uses.

Nothing is faked: each recipe below makes payments, customers, subscriptions, chargebacks
or disbursements as a request with the merchant's test secret key would (the simulated
processor answers), so each event is recorded with its webhook deliveries in the same
transaction as its move, and a running worker (`kessai serve`'s, or `kessai worker`)
delivers it like any other.

An event that needs time to pass (`payment.expired`, `subscription.suspended`,
`settlement.created`, `chargeback.cancelled|lost|expired`, `disbursement.paid|failed`) is
made by moving the merchant's test clock forward to the moment its object falls due, as
`kessai clock advance` does: everything else of the merchant's test mode that falls due on
the way happens too, in time order. Clocks only go forward; `Made.moved` says how far.
Recipes that need no time (`subscription.failed`: a card that declines its first charge)
never move the clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from kessai.core.times import iso
from kessai.errors import Conflict, Forbidden, InvalidParameter
from kessai.schemas.requests import (
    CustomerParams,
    RefundPayment,
    UpdatePayment,
)
from kessai.services import (
    clocks,
    customers,
    disbursements,
    execute,
    ledger_settings,
    payments,
    phases,
    subscriptions,
    webhooks,
)
from kessai.services.runtime import Runtime
from kessai.services.trigger_shop import AMOUNT, DECLINING_CARD, ROUNDS, Made, Shop
from kessai.store import triggers as store
from kessai.store import webhooks as endpoint_store

# --- the recipes, one per event type ---------------------------------------------------

Recipe = Callable[[Shop], Awaitable[None]]


async def _authorized(s: Shop) -> None:
    await s.card_payment(capture=False)


async def _captured(s: Shop) -> None:
    await s.card_payment()


async def _updated(s: Shop) -> None:
    payment_id = await s.card_payment()
    params = UpdatePayment(description="Updated by kessai trigger")
    await s.write(lambda c: payments.update(c, s.rt, s.caller, payment_id, params))


async def _expired(s: Shop) -> None:
    payment = await s.konbini_payment()  # authorized: paid at the store within a day
    await s.advance_to(payment["payment_deadline"])


async def _cancelled(s: Shop) -> None:
    payment_id = await s.card_payment(capture=False)
    await s.payment_move(payments.cancel(s.rt, s.caller, payment_id))


async def _refund_created(s: Shop) -> None:
    payment_id = await s.card_payment()
    params = RefundPayment(amount=AMOUNT // 10)  # a partial refund: no payment.refunded
    await s.payment_move(payments.refund(s.rt, s.caller, payment_id, params, None))


async def _refunded(s: Shop) -> None:
    payment_id = await s.card_payment()
    await s.payment_move(payments.refund(s.rt, s.caller, payment_id, RefundPayment(), None))


async def _failed(s: Shop) -> None:
    await s.card_payment(number=DECLINING_CARD)


async def _customer_created(s: Shop) -> None:
    await s.customer()


async def _customer_updated(s: Shop) -> None:
    customer_id = await s.customer()
    params = CustomerParams(email="trigger-updated@example.com")
    await phases.perform(s.rt, customers.update(s.rt, s.caller, customer_id, params))


async def _customer_deleted(s: Shop) -> None:
    customer_id = await s.customer()
    await s.write(lambda c: customers.delete(c, s.rt, s.caller, customer_id))


async def _subscribed(s: Shop) -> None:  # subscription.created and .captured
    await s.subscription(await s.customer())


async def _subscription_failed(s: Shop) -> None:  # its first charge declines: retrying
    await s.subscription(await s.customer(declining=True))


async def _suspended(s: Shop) -> None:
    """Every retry of a declining card fails (1, 3 and 5 days apart): suspended."""
    row = await s.subscription(await s.customer(declining=True))
    subscription_id = row["id"]
    for _ in range(ROUNDS):
        if row["status"] != "retrying" or row["due_at"] is None:
            return
        await s.advance_to(row["due_at"])
        found = await execute.read(s.rt, lambda c: subscriptions.get(c, s.caller, subscription_id))
        row = found.row


async def _subscription_deleted(s: Shop) -> None:
    row = await s.subscription(await s.customer())
    await phases.perform(s.rt, subscriptions.delete(s.rt, s.caller, row["id"]))


async def _settled(s: Shop) -> None:
    """A captured payment, then the clock to the schedule's next cut-off."""
    payment_id = await s.card_payment()
    merchant_id = s.caller.merchant_id
    for _ in range(ROUNDS):
        settlement = await execute.read(s.rt, lambda c: store.settlement_of(c, payment_id))
        if settlement is not None:
            s.keep("settlement", settlement)
            return
        shown = await execute.read(s.rt, lambda c: ledger_settings.view(c, merchant_id, False))
        cutoff = datetime.fromisoformat(shown["next_cutoff_at"].replace("Z", "+00:00"))
        await s.advance_to(cutoff)


async def _chargeback_created(s: Shop) -> None:
    await s.chargeback()


async def _chargeback_accepted(s: Shop) -> None:
    await s.chargeback(then=s.accept)


async def _chargeback_defended(s: Shop) -> None:
    await s.chargeback(then=s.defend)


async def _chargeback_decided(s: Shop, outcome: str) -> None:
    """Defended, then decided when the decision falls due (won: cancelled)."""
    defended = await s.chargeback(outcome, then=s.defend)
    await s.advance_to(defended["due_at"])


async def _chargeback_cancelled(s: Shop) -> None:
    await _chargeback_decided(s, "won")


async def _chargeback_lost(s: Shop) -> None:
    await _chargeback_decided(s, "lost")


async def _chargeback_expired(s: Shop) -> None:
    """Neither accepted nor defended by its due date."""
    await s.advance_to((await s.chargeback())["due_at"])


async def _disbursement_created(s: Shop) -> None:
    await s.disbursement()


async def _disbursement_paid(s: Shop) -> None:
    await s.advance_to((await s.disbursement())["due_at"])


async def _disbursement_failed(s: Shop) -> None:
    made = await s.disbursement(disbursements.FAILING_ACCOUNT)
    await s.advance_to(made["due_at"])


async def _disbursement_cancelled(s: Shop) -> None:
    await s.disbursement(cancel=True)


async def _ping(s: Shop) -> None:
    """A ping to every endpoint of the test mode, as when each was added."""
    merchant_id = s.caller.merchant_id

    async def ping_all(conn: Any) -> list[str]:
        found = await endpoint_store.endpoints(conn, merchant_id, False)
        return [
            await webhooks.ping_endpoint(conn, e["id"], merchant_id, False, s.rt.now())
            for e in found
        ]

    s.pings = await s.write(ping_all)
    if not s.pings:
        raise Conflict(
            f"merchant {merchant_id} has no webhook endpoint in test mode to ping: add one "
            f"with `kessai webhook add --merchant {merchant_id} --url URL`"
        )


RECIPES: dict[str, Recipe] = {
    "payment.authorized": _authorized,
    "payment.captured": _captured,
    "payment.updated": _updated,
    "payment.expired": _expired,
    "payment.cancelled": _cancelled,
    "payment.refund.created": _refund_created,
    "payment.refunded": _refunded,
    "payment.failed": _failed,
    "customer.created": _customer_created,
    "customer.updated": _customer_updated,
    "customer.deleted": _customer_deleted,
    "subscription.created": _subscribed,
    "subscription.captured": _subscribed,
    "subscription.failed": _subscription_failed,
    "subscription.suspended": _suspended,
    "subscription.deleted": _subscription_deleted,
    "settlement.created": _settled,
    "chargeback.created": _chargeback_created,
    "chargeback.accepted": _chargeback_accepted,
    "chargeback.defended": _chargeback_defended,
    "chargeback.cancelled": _chargeback_cancelled,
    "chargeback.lost": _chargeback_lost,
    "chargeback.expired": _chargeback_expired,
    "disbursement.created": _disbursement_created,
    "disbursement.paid": _disbursement_paid,
    "disbursement.failed": _disbursement_failed,
    "disbursement.cancelled": _disbursement_cancelled,
    "ping": _ping,
}


def check_type(event_type: str) -> str:
    if event_type not in RECIPES:
        raise InvalidParameter(
            f"unknown event type {event_type!r}: one of {', '.join(webhooks.EVENT_TYPES)}",
            param="event",
        )
    return event_type


async def trigger(rt: Runtime, merchant_id: str, event_type: str) -> Made:
    """Make the objects behind `event_type` in the merchant's test mode (see the module's
    docstring); what was made, with every event about it."""
    recipe = RECIPES[check_type(event_type)]
    processor = await rt.processor(merchant_id, False)
    if processor.name != "simulated":
        raise Forbidden(
            f"trigger makes test objects with the simulated processor, but merchant "
            f"{merchant_id}'s test mode uses {processor.name}: `kessai processor set "
            f"--merchant {merchant_id} --mode test simulated` switches back"
        )
    await clocks.enter(rt, merchant_id, False)
    made = Made(event_type, merchant_id)
    shop = Shop(rt, merchant_id, made)
    await recipe(shop)
    ids = [object_id for _, object_id in made.objects]

    async def read_back(conn: Any) -> None:
        found = await store.events_about(conn, merchant_id, False, ids)
        ping_ids = set(shop.pings)
        if ping_ids:
            found = [*found, *await store.events_by_id(conn, sorted(ping_ids))]
        made.events = [
            {
                "id": row["id"],
                "type": row["type"],
                "object_id": row["object_id"],
                "created_at": iso(row["created_at"]),
            }
            for row in found
        ]
        made.deliveries = await store.deliveries_queued(conn, [e["id"] for e in made.events])

    await execute.read(rt, read_back)
    made.clock = rt.now()
    if not any(e["type"] == event_type for e in made.events):
        raise Conflict(
            f"the objects made for {event_type} did not produce it ({len(made.events)} other "
            "events were recorded): see `kessai events tail` and the server log"
        )
    return made
