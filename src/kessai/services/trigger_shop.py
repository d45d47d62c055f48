"""The objects `kessai trigger` makes in a merchant's test mode (`kessai.services.triggers`
holds the recipes): payments, customers, subscriptions, chargebacks and disbursements made
through the services the API uses, as a request with the merchant's test secret key
would; and moving the merchant's test clock to when something falls due."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kessai.core.times import iso
from kessai.errors import Conflict
from kessai.processors.base import Declined
from kessai.schemas.chargebacks import DefendChargeback, OpenChargeback
from kessai.schemas.disbursements import CancelDisbursement, CreateDisbursement
from kessai.schemas.requests import (
    CreatePayment,
    CreateSubscription,
    CreateToken,
    CustomerParams,
)
from kessai.services import (
    chargebacks,
    clocks,
    customers,
    disbursements,
    execute,
    payments,
    phases,
    subscriptions,
    tokens,
)
from kessai.services.due import Scope
from kessai.services.runtime import Caller, Runtime
from kessai.store import ledger

CURRENCY = "JPY"
AMOUNT = 1000
GOOD_CARD = "4111111111111111"
DECLINING_CARD = "4123111111111059"  # the test card that declines (card_declined)
DEFENSE = b"%PDF-1.4\n% kessai trigger: a chargeback defense\n%%EOF\n"
TAG = {"made_by": "kessai trigger"}
ROUNDS = 8  # clock moves one recipe may make (subscription.suspended needs 4)
Answer = Callable[[Any, str], Awaitable[None]]  # a merchant's answer to a chargeback


@dataclass
class Made:
    """What a trigger made: its objects (kind, id), every event about them, how many
    webhook deliveries those queued, and how far it moved the test clock."""

    event_type: str
    merchant_id: str
    objects: list[tuple[str, str]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: int = 0
    moved: timedelta = timedelta(0)
    clock: datetime | None = None

    def view(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "merchant": self.merchant_id,
            "livemode": False,
            "objects": [{"kind": kind, "id": id_} for kind, id_ in self.objects],
            "events": self.events,
            "triggered": [e["id"] for e in self.events if e["type"] == self.event_type],
            "deliveries_queued": self.deliveries,
            "clock_moved_seconds": round(self.moved.total_seconds(), 3),
            "clock": iso(self.clock),
        }


class Shop:
    """The merchant's test mode as a client of the services, keeping what it made."""

    def __init__(self, rt: Runtime, merchant_id: str, made: Made) -> None:
        self.rt = rt
        self.caller = Caller(merchant_id, "", False, "secret")
        self.made = made
        self.pings: list[str] = []

    def keep(self, kind: str, object_id: str) -> str:
        self.made.objects.append((kind, object_id))
        return object_id

    async def write(self, operation: Callable[[Any], Awaitable[Any]]) -> Any:
        return await execute.write(self.rt, operation)

    # --- payments

    async def card_payment(
        self, *, capture: bool = True, number: str = GOOD_CARD, amount: int = AMOUNT
    ) -> str:
        details = {"type": "credit_card", "number": number, "month": 12, "year": _card_year()}
        return await self._payment(amount, details, capture=capture)

    async def konbini_payment(self) -> Mapping[Any, Any]:
        details = {
            "type": "konbini",
            "store": "lawson",
            "email": "trigger@example.com",
            "expiry_days": 1,
        }
        payment_id = await self._payment(AMOUNT, details)
        return (await execute.read(self.rt, lambda c: payments.get(c, self.caller, payment_id))).row

    async def _payment(self, amount: int, details: dict[str, Any], *, capture: bool = True) -> str:
        params = CreatePayment.model_validate(
            {
                "amount": amount,
                "currency": CURRENCY,
                "capture": capture,
                "payment_details": details,
                "description": "Made by kessai trigger",
                "metadata": TAG,
            }
        )
        made = await phases.perform(self.rt, payments.create(self.rt, self.caller, params, None))
        return self.keep("payment", made.row["id"])

    async def payment_move(self, plan: phases.Plan[payments.PaymentView]) -> None:
        await phases.perform(self.rt, plan)

    # --- customers and subscriptions

    async def customer(self, *, declining: bool = False) -> str:
        """A customer with a saved card; one whose card declines every charge is saved
        through a token (saving a declining card itself is refused, as in the API)."""
        card = {"type": "credit_card", "number": GOOD_CARD, "month": 12, "year": _card_year()}
        details: dict[str, Any] | str = card
        if declining:
            token = await phases.perform(
                self.rt,
                tokens.create(
                    self.rt,
                    self.caller,
                    CreateToken(payment_details={**card, "number": DECLINING_CARD}),
                ),
            )
            details = str(_accepted(token)["id"])
        params = CustomerParams(email="trigger@example.com", metadata=TAG, payment_details=details)
        row = await phases.perform(self.rt, customers.create(self.rt, self.caller, params, None))
        return self.keep("customer", str(_accepted(row)["id"]))

    async def subscription(self, customer_id: str) -> Mapping[Any, Any]:
        params = CreateSubscription(
            customer=customer_id, amount=AMOUNT, currency=CURRENCY, period="monthly", metadata=TAG
        )
        made = await phases.perform(self.rt, subscriptions.create(self.rt, self.caller, params))
        self.keep("subscription", made.row["id"])
        return made.row

    # --- chargebacks and disbursements

    async def chargeback(
        self, outcome: str = "won", then: Answer | None = None
    ) -> Mapping[Any, Any]:
        """A chargeback opened now on a new captured card payment (as the test tool
        `POST /kessai/v1/chargebacks` does), and the merchant's answer `then`, if any, in
        the same transaction (so no clock moved meanwhile can pass its due date)."""
        payment_id = await self.card_payment()
        params = OpenChargeback(payment_id=payment_id, outcome=outcome)

        async def open_now(conn: Any) -> Mapping[Any, Any]:
            opened = await chargebacks.open_now(conn, self.rt, self.caller, params)
            chargeback_id = self.keep("chargeback", opened.row["id"])
            if then is not None:
                await then(conn, chargeback_id)
            return (await chargebacks.get(conn, self.caller, chargeback_id)).row

        return await self.write(open_now)

    async def accept(self, conn: Any, chargeback_id: str) -> None:
        await chargebacks.accept(conn, self.rt, self.caller, chargeback_id)

    async def defend(self, conn: Any, chargeback_id: str) -> None:
        document = {"document_base64": base64.b64encode(DEFENSE).decode()}
        params = DefendChargeback.model_validate(
            {"description": "Defended by kessai trigger", "document": document}
        )
        await chargebacks.defend(conn, self.rt, self.caller, chargeback_id, params)

    async def disbursement(
        self, account_number: str = "1234567", *, cancel: bool = False
    ) -> Mapping[Any, Any]:
        """A disbursement of AMOUNT, after a captured payment that covers it; cancelled in
        the same transaction when asked (so no clock moved meanwhile pays it out)."""
        balance = await execute.read(
            self.rt, lambda c: ledger.balance(c, self.caller.merchant_id, False, CURRENCY)
        )
        await self.card_payment(amount=max(10 * AMOUNT, 2 * (AMOUNT - balance)))
        params = CreateDisbursement.model_validate(
            {
                "amount": AMOUNT,
                "currency": CURRENCY,
                "account_number": account_number,
                "account_type": "ordinary",
                "account_name_kana": "ｹｯｻｲ ﾄﾘｶﾞｰ",
                "bank_code": "0001",
                "branch_code": "001",
                "external_id": "kessai-trigger",
            }
        )
        reason = CancelDisbursement(cancel_reason="Cancelled by kessai trigger")

        async def create(conn: Any) -> Mapping[Any, Any]:
            row = await disbursements.create(conn, self.rt, self.caller, params)
            self.keep("disbursement", row["id"])
            if cancel:
                return await disbursements.cancel(conn, self.rt, self.caller, row["id"], reason)
            return row

        return await self.write(create)

    # --- time

    async def advance_to(self, when: datetime) -> None:
        """Move the test clock to `when`, doing everything due on the way; if the clock is
        there already (moved by someone else), just do what is due now."""
        self.rt.clock_offsets.pop(self.caller.merchant_id, None)  # read it afresh
        await clocks.enter(self.rt, self.caller.merchant_id, False)
        before = self.rt.now()
        if when > before:
            await clocks.advance(self.rt, self.caller, when)
            self.made.moved += self.rt.now() - before
            return
        for source in clocks.SOURCES:
            await source.run_due(self.rt, Scope(merchant_id=self.caller.merchant_id))


def _card_year() -> int:
    return datetime.now(UTC).year + 5


def _accepted(result: Any) -> Mapping[Any, Any]:
    if isinstance(result, Declined):
        raise Conflict(f"the simulated processor declined the test card ({result.code})")
    return dict(result)
