"""The processor interface: how kessai asks an acquirer to move money.

A processor stands between kessai and the card networks, convenience stores, banks and
wallets (or, in test mode, a simulation of them). The API and the hosted page never talk to
one directly; the services do, only through this interface, so a real acquirer is added by
writing one more class and nothing else changes.

The contract
------------
* `name` is stored on every payment the processor handled.
* `supported_types` names the payment types (`kessai.core.payment_types`) it can charge.
  Sessions offer only those, and `GET /payment_methods` lists only those.
* `authorize(charge)` is called once per payment attempt. The card, when there is one,
  is in memory only (`charge.card`), or is a reference from `vault` (`charge.card_reference`).
  It returns an `Outcome` and never raises for an expected result:
    - `Approved(captured)`: money is authorized, and captured when `charge.capture`;
    - `Declined(code, message)`: the issuer or network said no. `code` is a contract decline
      code (`card_declined`, `insufficient_funds`, ...). The customer may try again;
    - `NeedsAction(state, redirect_url)`: the customer must act elsewhere first (3-D Secure,
      an offsite wallet). `state` is an opaque string kessai stores and hands back to
      `complete`; `redirect_url` is where the browser goes, or None for kessai's simulated
      page (test mode);
    - `AwaitingCustomer(details)`: a cash-type payment (konbini, bank transfer, Pay-easy) is
      authorized and waits for the customer to pay; `details` are the instructions the
      customer needs (receipt numbers, bank account), all safe to show and store.
* `complete(charge, state, answer)` finishes a `NeedsAction`: `answer` is what came back
  from the customer's side (a 3-D Secure password, "capture" or "fail" from a wallet).
  It returns `Approved` or `Declined`.
* `vault(card, verify=..., scenario=...)` stores a card at the acquirer and returns a
  `Vaulted(reference)` to charge later. With `verify` (saving a card on a customer) it first
  checks the card the way a payment would, without charging it, and may return `Declined`.
  The reference is opaque, kept by kessai, and must not contain the card number or CVV.
* `capture(tx, amount)`, `refund(tx, amount)` and `cancel(tx)` move money on an existing
  payment and return `Approved` or `Declined`. kessai has already checked the state machine
  and the amounts; the processor answers only for the money.
* A processor never persists, logs or returns a full card number or a CVV.
* Methods are coroutines, safe to call concurrently. kessai calls them inside the
  transaction that records their result, so they should answer promptly; they may raise
  `kessai.errors.ProcessorUnavailable` when the acquirer cannot be reached.
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


@dataclass(frozen=True)
class Transaction:
    """An existing payment, as the processor needs to see it."""

    payment_id: str
    payment_type: str
    amount: int
    currency: str


@dataclass(frozen=True)
class Approved:
    captured: bool


@dataclass(frozen=True)
class Declined:
    code: str
    message: str


@dataclass(frozen=True)
class NeedsAction:
    state: str
    redirect_url: str | None = None


@dataclass(frozen=True)
class AwaitingCustomer:
    details: Mapping[str, Any]


@dataclass(frozen=True)
class Vaulted:
    reference: str


Outcome = Approved | Declined | NeedsAction | AwaitingCustomer
Result = Approved | Declined


class Processor(Protocol):
    name: str

    @property
    def supported_types(self) -> frozenset[str]: ...

    async def authorize(self, charge: Charge) -> Outcome: ...

    async def complete(self, charge: Charge, state: str, answer: str | None) -> Result: ...

    async def vault(
        self, card: Card, *, verify: bool = True, scenario: str | None = None
    ) -> Vaulted | Declined: ...

    async def capture(self, tx: Transaction, amount: int) -> Result: ...

    async def refund(self, tx: Transaction, amount: int) -> Result: ...

    async def cancel(self, tx: Transaction) -> Result: ...
