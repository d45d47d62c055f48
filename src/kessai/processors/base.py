"""The processor interface: how kessai asks an acquirer to move money.

A processor is what stands between kessai and the card networks (or, in test mode, the
simulation of them). The API and the hosted page never talk to one directly; the services
do, and only through this interface, so a real acquirer is added by writing one more class.

The contract
------------
* `supported_types` names the payment types (`kessai.core.payment_types`) it can charge.
  Sessions offer only those types.
* `authorize(charge)` is called once per payment attempt with the card details in memory.
  It returns an `Outcome`, never raises for an expected result:
    - `Approved(captured=...)`: money is authorized (and captured when `charge.capture`);
    - `Declined(code, message)`: the issuer said no; `code` is one of the contract's decline
      codes (`card_declined`, `insufficient_funds`, ...). The customer may try again;
    - `NeedsAction(state, redirect_url)`: the customer must authenticate (3-D Secure).
      `state` is an opaque string kessai stores on the payment and hands back to
      `authenticate`; `redirect_url` is where the customer's browser goes, or None to use
      kessai's simulated challenge page.
  It may raise only for a broken connection to the acquirer (`ProcessorUnavailable`).
* `authenticate(state, answer)` finishes a `NeedsAction`: `answer` is what the customer
  entered on the challenge page (None when the acquirer needs none). It returns
  `Approved` or `Declined`.
* A processor must never persist, log or return a full card number or a CVV. What kessai
  stores about a card is `CardSummary`, which it builds itself.
* Methods are coroutines and must be safe to call concurrently; kessai calls them inside the
  transaction that records their result, so they should answer promptly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
    # A decline code forced by the `Komoju-Scenario` header (test mode only), or None.
    scenario: str | None = None


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


Outcome = Approved | Declined | NeedsAction


class Processor(Protocol):
    name: str

    @property
    def supported_types(self) -> frozenset[str]: ...

    async def authorize(self, charge: Charge) -> Outcome: ...

    async def authenticate(self, charge: Charge, state: str, answer: str | None) -> Outcome: ...
