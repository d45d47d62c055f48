"""Chargebacks: a cardholder disputes a captured card payment.

In test mode a chargeback test card or `Komoju-Scenario: chargeback` (`chargeback_lost`)
plans one at capture (`plan`, in the capture's transaction): a `scheduled` row, never
shown, that the clock opens a day later; the merchant's test tool opens one at once
(`open_now`). Opening takes what is left of the payment (its total less its refunds) in one
transaction: the payment's `amount_disputed` (refused while a refund is in flight: then it
is tried an hour later), the chargeback `pending` with a due date 7 days on, its
`chargeback` ledger line (-) and its `chargeback.created` event.

While pending, the merchant accepts it (`accepted`: the money stays taken) or defends it
once, with a document (`defended`); past its due date it `expired` (the money stays
taken). In test mode a defense is decided 5 days later by the outcome planned with it:
won ends `cancelled` (the cardholder's claim withdrawn; a `chargeback_reversal` line (+)
gives the money back and the payment may be refunded again), lost ends `lost`.

Every move is a conditional update on the status it expects, with its event (data: the
ChargebackRequestDetail) and ledger line in its transaction: each move is done once.
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.errors import (
    Forbidden,
    InvalidParameter,
    KessaiError,
    NotAcceptable,
    NotDefendable,
    NotDisputable,
    NotFound,
)
from kessai.ids import new_id
from kessai.observe import audit
from kessai.schemas import chargebacks as wire
from kessai.services import execute
from kessai.services.due import DueWork, Scope
from kessai.services.runtime import Caller, Runtime
from kessai.store import chargebacks as store
from kessai.store import events, ledger
from kessai.store import payments as payment_store
from kessai.store.ledger import Line
from kessai.store.tables import chargebacks as table

OPEN_AFTER = timedelta(days=1)  # a planned chargeback opens a day after the capture
RESPONSE_WINDOW = timedelta(days=7)  # pending: accept or defend before this is over
DECIDED_AFTER = timedelta(days=5)  # test mode: a defense is won or lost 5 days later
REFUND_WAIT = timedelta(hours=1)  # opening waits this long for a refund in flight
BATCH = 100
OPENED, WAITING, DROPPED, TAKEN = "opened", "waiting", "dropped", "taken"


@dataclass(frozen=True)
class ChargebackView:
    row: Mapping[Any, Any]
    payment: Mapping[Any, Any]


@dataclass(frozen=True)
class Document:
    content: bytes
    content_type: str
    file_name: str


def detail(rt: Runtime, found: ChargebackView) -> wire.ChargebackRequestDetail:
    return wire.detail(found.row, found.payment, rt.settings.base_url)


def disputable(payment: Mapping[Any, Any]) -> int:
    """What a chargeback of the payment takes: what the customer paid, less its refunds."""
    paid = payment["amount_captured"] + payment["tax"] + payment["payment_method_fee"]
    return int(paid - payment["amount_refunded"])


async def _view(conn: AsyncConnection, row: Mapping[Any, Any]) -> ChargebackView:
    payment = await payment_store.get(conn, row["payment_id"])
    assert payment is not None  # a chargeback's payment is never deleted
    return ChargebackView(row, payment)


async def _event(
    conn: AsyncConnection, rt: Runtime, row: Mapping[Any, Any], kind: str
) -> ChargebackView:
    found = await _view(conn, row)
    await events.insert(
        conn,
        merchant_id=row["merchant_id"],
        livemode=row["livemode"],
        type=f"chargeback.{kind}",
        data=detail(rt, found),
        now=row["updated_at"],
    )
    return found


def _moved(row: Mapping[Any, Any], status: str, entry: str, now: datetime) -> dict[str, Any]:
    """The values of a move to `status`, its timeline entry recorded."""
    timeline = [*row["timeline"], wire.timeline_entry(entry, now)]
    return {"status": status, "timeline": timeline, "due_at": None, "updated_at": now}


async def _book(conn: AsyncConnection, row: Mapping[Any, Any], kind: str, now: datetime) -> None:
    await ledger.post(
        conn,
        merchant_id=row["merchant_id"],
        livemode=row["livemode"],
        currency=row["currency"],
        lines=[Line(kind, row["amount"], row["id"], row["payment_id"])],
        happened_at=now,
    )


# --- planning and opening -------------------------------------------------------------


async def plan(conn: AsyncConnection, payment: Mapping[Any, Any], now: datetime) -> None:
    """Test mode: schedule the chargeback the payment's card or scenario asked for, to open
    a day after `now` (its capture). Only card payments are charged back."""
    if payment["payment_type"] != "credit_card" or payment["dispute"] not in wire.OUTCOMES:
        return
    await store.insert(
        conn, _scheduled(payment, payment["dispute"], wire.DEFAULT_REASON, now + OPEN_AFTER, now)
    )


def _scheduled(
    payment: Mapping[Any, Any], outcome: str, reason_code: str, due_at: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "merchant_id": payment["merchant_id"],
        "livemode": payment["livemode"],
        "payment_id": payment["id"],
        "status": store.SCHEDULED,
        "outcome": outcome,
        "amount": 0,
        "currency": payment["currency"],
        "reason_code": reason_code,
        "reason": wire.REASONS[reason_code],
        "due_date": None,
        "due_at": due_at,
        "timeline": [],
        "defense": None,
        "created_at": now,
        "updated_at": now,
    }


async def _open(
    conn: AsyncConnection, rt: Runtime, row: Mapping[Any, Any], now: datetime
) -> tuple[str, ChargebackView | None]:
    """Open a scheduled chargeback: OPENED (with its view), WAITING (a refund is in flight:
    tried again after `REFUND_WAIT`), DROPPED (nothing left to dispute) or TAKEN. Its row
    is locked before its payment's, as in every move that touches both (no deadlock)."""
    if not await store.move(conn, row["id"], store.SCHEDULED, {"updated_at": now}):
        return TAKEN, None
    payment = await payment_store.get(conn, row["payment_id"])
    assert payment is not None
    amount = disputable(payment)
    if payment["status"] != "captured" or amount <= 0 or payment["amount_disputed"]:
        await store.drop(conn, row["id"])
        return DROPPED, None
    refunded = payment["amount_refunded"]
    if not await store.dispute(conn, payment["id"], amount, refunded, now):
        wait = {"due_at": now + REFUND_WAIT, "updated_at": now}
        await store.move(conn, row["id"], store.SCHEDULED, wait)
        return WAITING, None
    due_date = now + RESPONSE_WINDOW
    values = {
        "status": store.PENDING,
        "amount": amount,
        "due_date": due_date,
        "due_at": due_date,
        "timeline": [wire.timeline_entry("created", now)],
        "created_at": now,
        "updated_at": now,
    }
    if not await store.move(conn, row["id"], store.SCHEDULED, values):
        raise RuntimeError(f"chargeback {row['id']} moved while locked")  # unreachable
    opened = {**row, **values}
    await _book(conn, opened, "chargeback", now)
    audit.moved("chargeback", payment, amount, outcome="charged_back")
    return OPENED, await _event(conn, rt, opened, "created")


async def open_now(
    conn: AsyncConnection, rt: Runtime, caller: Caller, params: wire.OpenChargeback
) -> ChargebackView:
    """The test tool: open a chargeback on a captured card payment at once (one planned
    for it is opened now, with this outcome and reason)."""
    if caller.livemode:
        raise Forbidden(
            "Chargebacks are opened by the test tools in test mode only. Use your test secret key."
        )
    payment_id = params.payment_id
    payment = await payment_store.get(
        conn, payment_id, merchant_id=caller.merchant_id, livemode=False
    )
    if payment is None:
        raise InvalidParameter(
            f"payment_id {payment_id!r} is not a payment of this merchant in test mode",
            param="payment_id",
        )

    def refused(message: str) -> NotDisputable:
        return NotDisputable(message, param="payment_id")

    if payment["payment_type"] != "credit_card":
        raise refused(
            f"Only card payments are charged back; this one is {payment['payment_type']}."
        )
    if payment["status"] == "refunded" or (
        payment["status"] == "captured" and disputable(payment) <= 0
    ):
        raise refused("Nothing is left to dispute: the payment was refunded in full.")
    if payment["status"] != "captured":
        raise refused(f"Only a captured payment is charged back; this one is {payment['status']}.")
    if payment["refund_reserved"]:
        raise refused("A refund of this payment is under way; try again once it has finished.")
    existing = await store.of_payment(conn, payment_id)
    if existing is not None and existing["status"] != store.SCHEDULED:
        raise refused(f"The payment is already disputed (chargeback {existing['id']}).")
    now = rt.now()
    reason_code = params.reason_code or wire.DEFAULT_REASON
    row = _scheduled(payment, params.outcome, reason_code, now, now)
    if existing is None:
        if not await store.insert(conn, row):
            raise refused("The payment is already disputed.")
    else:
        changes = {k: row[k] for k in ("outcome", "reason_code", "reason", "due_at")}
        if not await store.move(conn, existing["id"], store.SCHEDULED, changes):
            raise refused("The payment is already disputed.")
        row = {**existing, **changes}
    _, opened = await _open(conn, rt, row, now)
    if opened is None:
        raise refused("The payment changed meanwhile (a refund started); try again.")
    return opened


# --- the merchant's answers -------------------------------------------------------------


async def _shown(conn: AsyncConnection, caller: Caller, chargeback_id: str) -> Mapping[Any, Any]:
    row = await store.get(
        conn, chargeback_id, merchant_id=caller.merchant_id, livemode=caller.livemode, shown=True
    )
    if row is None:
        raise NotFound(f"No chargeback {chargeback_id!r} exists for this merchant and mode.")
    return row


async def get(conn: AsyncConnection, caller: Caller, chargeback_id: str) -> ChargebackView:
    return await _view(conn, await _shown(conn, caller, chargeback_id))


async def listing(
    conn: AsyncConnection, caller: Caller, params: wire.ChargebackListParams
) -> tuple[int, list[ChargebackView]]:
    total, found = await store.page(
        conn,
        merchant_id=caller.merchant_id,
        livemode=caller.livemode,
        page=params.page,
        per_page=params.per_page,
        start=params.start_time,
        end=params.end_time,
        status=params.status,
        payment_id=params.payment_id,
        due_start=params.due_date_start,
        due_end=params.due_date_end,
    )
    owners = await payment_store.get_many(conn, sorted({row["payment_id"] for row in found}))
    return total, [ChargebackView(row, owners[row["payment_id"]]) for row in found]


async def _pending(
    conn: AsyncConnection,
    rt: Runtime,
    caller: Caller,
    chargeback_id: str,
    status: str,
    error: type[KessaiError],
) -> tuple[Mapping[Any, Any] | None, datetime]:
    """The chargeback a merchant moves to `status` (accepted or defended): pending and
    before its due date. None if it is `status` already: the request is answered as done."""
    row = await _shown(conn, caller, chargeback_id)
    now = rt.now()
    if row["status"] == status:
        return None, now
    if row["status"] != store.PENDING:
        raise error(f"Only a pending chargeback can be {status}; this one is {row['status']}.")
    if now >= row["due_date"]:
        raise error(f"The chargeback's due date has passed: it can no longer be {status}.")
    return row, now


async def accept(conn: AsyncConnection, rt: Runtime, caller: Caller, chargeback_id: str) -> None:
    """Agree to the dispute: the money stays with the cardholder."""
    row, now = await _pending(conn, rt, caller, chargeback_id, "accepted", NotAcceptable)
    if row is None:
        return
    values = _moved(row, "accepted", "accepted", now)
    if await store.move(conn, chargeback_id, store.PENDING, values):
        await _event(conn, rt, {**row, **values}, "accepted")
    else:  # another request moved it first: done if it accepted it too
        await _pending(conn, rt, caller, chargeback_id, "accepted", NotAcceptable)


async def defend(
    conn: AsyncConnection,
    rt: Runtime,
    caller: Caller,
    chargeback_id: str,
    params: wire.DefendChargeback,
) -> None:
    """Submit the one defense, with its document; decided `DECIDED_AFTER` later (test mode)."""
    row, now = await _pending(conn, rt, caller, chargeback_id, store.DEFENDED, NotDefendable)
    if row is None:
        return
    values = {**_moved(row, store.DEFENDED, "defended", now), "due_at": now + DECIDED_AFTER}
    shown = wire.stored_defense(params, chargeback_id, now)
    content = b64decode(params.document.document_base64.base64)
    if await store.defend(conn, chargeback_id, values, shown, content):
        await _event(conn, rt, {**row, **values, "defense": shown}, "defended")
    else:  # another request moved it first: done if it defended it too
        await _pending(conn, rt, caller, chargeback_id, store.DEFENDED, NotDefendable)


async def document(conn: AsyncConnection, caller: Caller, chargeback_id: str) -> Document:
    """The defense's document, as it was uploaded."""
    row = await _shown(conn, caller, chargeback_id)
    content = await store.document(conn, chargeback_id)
    if row["defense"] is None or content is None:
        raise NotFound(f"Chargeback {chargeback_id!r} has no defense document.")
    meta = row["defense"]["documents"][0]
    return Document(content, meta["content_type"], meta["file_name"])


# --- what falls due ---------------------------------------------------------------------


async def _due_move(conn: AsyncConnection, rt: Runtime, row: Mapping[Any, Any]) -> bool:
    """Do what is due of one chargeback (read before this transaction); False if another
    runner did it first, or it was put off."""
    now = rt.now()
    if row["status"] == store.SCHEDULED:
        return (await _open(conn, rt, row, now))[0] == OPENED
    if row["status"] == store.PENDING:
        values = _moved(row, "expired", "expired", now)
        if not await store.move(conn, row["id"], store.PENDING, values):
            return False
        await _event(conn, rt, {**row, **values}, "expired")
        return True
    won = row["outcome"] == "won"
    status = "cancelled" if won else "lost"
    values = _moved(row, status, "won" if won else "lost", now)
    if not await store.move(conn, row["id"], store.DEFENDED, values):
        return False
    moved = {**row, **values}
    if won:  # the money comes back, and the payment may be refunded again
        await store.undispute(conn, row["payment_id"], row["amount"], now)
        await _book(conn, moved, "chargeback_reversal", now)
        payment = await payment_store.get(conn, row["payment_id"])
        assert payment is not None
        audit.moved("chargeback_reversal", payment, row["amount"], outcome="chargeback_won")
    await _event(conn, rt, moved, status)
    return True


async def run_due(rt: Runtime, scope: Scope) -> int:
    """Open, expire and decide the chargebacks in `scope` due at `rt.now()`, each in a
    transaction of its own; how many moved."""
    done = 0
    tried: list[str] = []
    while True:
        found = await execute.read(
            rt, lambda conn: store.due(conn, scope.where(table), rt.now(), BATCH, skip=tried)
        )
        if not found:
            return done
        for row in found:
            tried.append(row["id"])
            done += await execute.write(rt, partial(_due_move, rt=rt, row=row))


async def next_due(conn: AsyncConnection, merchant_id: str, after: datetime) -> datetime | None:
    """When the merchant's next test-mode chargeback opens, expires or is decided."""
    return await store.next_due(conn, merchant_id, after)


DUE = DueWork("chargebacks", next_due, run_due)
