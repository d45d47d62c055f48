"""The processor interface: how kessai asks an acquirer to move money.

A processor stands between kessai and the card networks, convenience stores, banks and
wallets (or, in test mode, a simulation of them). The API and the hosted page never talk to
one directly; the services do, only through this interface (`kessai.services.phases`), so
a real acquirer is added by writing one more class and registering its name.

The contract
------------
* `name` is stored on every payment and operation the processor handled; `timeout` is
  the budget kessai puts in each `Call`.
* `supported_types` names the payment types (`kessai.core.payment_types`) it can charge.
  Sessions offer only those, and `GET /payment_methods` lists only those.
* Every call gets a `Call`: `operation_id` is kessai's id for this one operation, written
  to the database *before* the call. It is the processor's idempotency key: the same
  operation id sent twice must have the effect of one call (send it to the acquirer as
  its idempotency key). `timeout` is how long the call may take, in seconds; past it the
  processor gives up and raises `OutcomeUnknown`. kessai holds no database transaction
  or lock while a call runs.
* A call never raises for an answer the acquirer gave: it returns it as data.
    - `Approved(captured, reference)`: money is authorized (and captured when
      `captured`); `reference` is the acquirer's id of the payment, kept on the payment
      and handed back in `Transaction.reference`;
    - `Declined(code, message)`: the issuer, network or acquirer said no. `code` is a
      contract decline code (`card_declined`, `insufficient_funds`, `not_capturable`...);
      nothing moved;
    - `NeedsAction(state, redirect_url, reference)`: the customer must act elsewhere first
      (3-D Secure, an offsite wallet). `state` is an opaque string kessai stores and hands
      back to `complete`; `redirect_url` is where the browser goes, or None for kessai's
      own simulated page (test mode);
    - `AwaitingCustomer(details, reference)`: a cash-type payment (konbini, bank transfer,
      Pay-easy) is authorized and waits for the customer to pay; `details` are the
      instructions the customer needs, all safe to show and store.
* `OutcomeUnknown(reason, resume)` is raised when the answer never came (timeout, dropped
  connection, a 5xx): the operation may or may not have happened. kessai leaves the
  payment as it was (a new one `pending`), keeps the operation open, and later calls
  `reconcile` with the same operation id. `resume` is anything non-sensitive the next
  attempt needs (never a card number or CVV); it comes back as `Call.resume`.
* `authorize(call, charge)`: one payment attempt. The card, when there is one, is in
  memory only (`charge.card`) or a reference from `vault` (`charge.card_reference`).
* `complete(call, tx, state, answer)` finishes a `NeedsAction`: `answer` is what came back
  from the customer's side (a 3-D Secure password, "capture" or "fail" from a wallet, or
  None when the acquirer already knows). It returns `Approved` or `Declined`, or
  `NeedsAction` again when the customer has not finished on the acquirer's page yet (the
  payment stays pending, and nothing is held meanwhile).
* `vault(call, card, verify=..., scenario=...)` stores a card at the acquirer and returns
  `Vaulted(reference)`. With `verify` it first checks the card as a payment would, without
  charging it, and may return `Declined`. The reference must not contain the card number.
* `capture(call, tx, amount)`, `refund(call, tx, amount)` and `cancel(call, tx)` move money
  on an existing payment and return `Approved` or `Declined`. kessai has checked the state
  machine and amounts and reserved them; the processor answers only for the money.
* `reconcile(call, op)` finds the outcome of an operation whose answer was lost: by asking
  the acquirer for its status, or by sending the same idempotent request again. It returns
  what the original call would have returned, or raises `OutcomeUnknown` again (kessai
  retries with backoff). An operation the acquirer never saw is `Declined`.
* A processor never persists, logs or returns a full card number or a CVV.
* Methods are coroutines, safe to call concurrently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Card:
    """Card details as entered. Lives in memory only, for one request."""

    number: str
    month: int
    year: int
    verification_value: str | None
    name: str | None
    email: str | None

    def __repr__(self) -> str:  # never let a number reach a log through repr()
        return f"Card(last_four={self.number[-4:]!r}, month={self.month}, year={self.year})"


@dataclass(frozen=True)
class Call:
    """One call to a processor: kessai's operation id (the idempotency key) and a budget."""

    operation_id: str
    timeout: float
    resume: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Charge:
    payment_id: str
    amount: int
    currency: str
    payment_type: str
    capture: bool
    card: Card | None = None
    card_reference: str | None = None
    # Non-card fields of payment_details (konbini store, email, names...).
    details: Mapping[str, Any] = field(default_factory=dict)
    # A decline code forced by the `Komoju-Scenario` header (test mode only), or None.
    scenario: str | None = None
    # False for a merchant-initiated charge of a saved card (no customer to authenticate).
    customer_present: bool = True
    # Where the customer's browser comes back to after the acquirer's own pages.
    return_url: str | None = None
    # Days a cash-type payment (konbini, bank transfer, Pay-easy) waits for the customer.
    expiry_days: int | None = None
    # The customer's language (ja, en, ko), for the acquirer's own pages.
    locale: str | None = None


@dataclass(frozen=True)
class Transaction:
    """An existing payment, as the processor needs to see it."""

    payment_id: str
    payment_type: str
    amount: int
    currency: str
    reference: str | None = None  # the acquirer's id, from an earlier outcome
    capture: bool = True
    # A decline code forced by `Komoju-Scenario` on this request (test mode only), or None.
    scenario: str | None = None


@dataclass(frozen=True)
class OpenOperation:
    """An operation whose outcome was lost, as `reconcile` sees it."""

    kind: str  # authorize | complete | capture | refund | cancel
    tx: Transaction
    amount: int | None
    state: str | None = None  # the NeedsAction state, for complete
    answer: str | None = None  # the customer's answer, for complete


@dataclass(frozen=True)
class Approved:
    captured: bool
    reference: str | None = None


@dataclass(frozen=True)
class Declined:
    code: str
    message: str


@dataclass(frozen=True)
class NeedsAction:
    state: str
    redirect_url: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class AwaitingCustomer:
    details: Mapping[str, Any]
    reference: str | None = None


@dataclass(frozen=True)
class Vaulted:
    reference: str


Outcome = Approved | Declined | NeedsAction | AwaitingCustomer
Result = Approved | Declined


class OutcomeUnknown(Exception):
    """The processor could not learn what happened (timeout, dropped connection, 5xx)."""

    def __init__(self, reason: str, resume: Mapping[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.resume = resume


class Processor(Protocol):
    name: str
    # Seconds kessai gives each call (`Call.timeout`) before it counts the outcome unknown.
    timeout: float

    @property
    def supported_types(self) -> frozenset[str]: ...

    async def authorize(self, call: Call, charge: Charge) -> Outcome: ...

    async def complete(
        self, call: Call, tx: Transaction, state: str, answer: str | None
    ) -> Result | NeedsAction: ...

    async def vault(
        self, call: Call, card: Card, *, verify: bool = True, scenario: str | None = None
    ) -> Vaulted | Declined: ...

    async def capture(self, call: Call, tx: Transaction, amount: int) -> Result: ...

    async def refund(self, call: Call, tx: Transaction, amount: int) -> Result: ...

    async def cancel(self, call: Call, tx: Transaction) -> Result: ...

    async def reconcile(self, call: Call, op: OpenOperation) -> Outcome: ...
