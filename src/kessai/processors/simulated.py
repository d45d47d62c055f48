"""The simulated test-mode processor: KOMOJU's test mode in memory, with no network.

* Cards follow the test-card table in `kessai.core.cards`; any other valid number is
  approved. 3-D Secure cards return `NeedsAction`, finished by `complete` with the password
  typed on kessai's simulated challenge page (123456 approves).
* Vaulted cards (tokens, customers) keep only the card's test behaviour in their reference
  (`sim:<rule>:<decline code>`). A token is charged with the customer present, so its
  3-D Secure behaviour applies; a merchant-initiated charge of a saved card skips it.
* Cash types (konbini, bank transfer, Pay-easy) are `AwaitingCustomer` with made-up but
  well-formed instructions; offsite wallets are `NeedsAction("offsite")`, finished by the
  test page's "capture" or "fail".
* Capture, refund and cancel succeed (the services have checked and reserved the amounts),
  unless the request carried `Komoju-Scenario: <decline code>`: then they decline with it.
* It keeps nothing between calls, so an operation whose outcome was lost never happened:
  `reconcile` of an authorization declines it (`processor_unavailable`); a capture,
  refund or cancel is simply done again, which is what the acquirer's idempotency gives.
"""

from __future__ import annotations

import secrets

from kessai.core.cards import DECLINE_MESSAGES, THREE_DS_PASSWORD, CardRule, test_card
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.processors.base import (
    Approved,
    AwaitingCustomer,
    Call,
    Card,
    Charge,
    Declined,
    NeedsAction,
    OpenOperation,
    Outcome,
    Result,
    Transaction,
    Vaulted,
)

OFFSITE = "offsite"


def decline(code: str) -> Declined:
    return Declined(code, DECLINE_MESSAGES.get(code, DECLINE_MESSAGES["request_failed"]))


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


class SimulatedProcessor:
    name = "simulated"
    timeout = 10.0

    @property
    def supported_types(self) -> frozenset[str]:
        return frozenset(PAYMENT_TYPES)

    async def authorize(self, call: Call, charge: Charge) -> Outcome:
        if charge.scenario:
            return decline(charge.scenario)
        kind = PAYMENT_TYPES[charge.payment_type].kind
        if kind == "cash":
            return AwaitingCustomer(self._instructions(charge))
        if kind == "wallet":
            return NeedsAction(OFFSITE)
        if charge.card_reference is not None:
            rule, code = unpack(charge.card_reference)
        elif charge.card is not None:
            found = test_card(charge.card.number)
            rule, code = found.rule, found.decline_code
        else:
            return decline("request_failed")
        if rule is CardRule.DECLINE:
            return decline(code or "card_declined")
        if rule in (CardRule.APPROVE, CardRule.THREE_DS_FRICTIONLESS):
            return Approved(captured=charge.capture)
        if not charge.customer_present:  # a saved card charged by the merchant: no 3-D Secure
            return Approved(captured=charge.capture)
        return NeedsAction(state=rule.value)

    async def complete(self, call: Call, tx: Transaction, state: str, answer: str | None) -> Result:
        if state == OFFSITE:
            if answer == "capture":
                return Approved(captured=tx.capture)
            return decline("request_failed")
        if state == CardRule.THREE_DS_CHALLENGE.value and answer == THREE_DS_PASSWORD:
            return Approved(captured=tx.capture)
        return decline("three_d_secure_failed")

    async def vault(
        self, call: Call, card: Card, *, verify: bool = True, scenario: str | None = None
    ) -> Vaulted | Declined:
        if verify and scenario:
            return decline(scenario)
        found = test_card(card.number)
        if verify and found.rule is CardRule.DECLINE:
            return decline(found.decline_code or "card_declined")
        return Vaulted(f"sim:{found.rule.value}:{found.decline_code or ''}")

    async def capture(self, call: Call, tx: Transaction, amount: int) -> Result:
        return decline(tx.scenario) if tx.scenario else Approved(captured=True)

    async def refund(self, call: Call, tx: Transaction, amount: int) -> Result:
        return decline(tx.scenario) if tx.scenario else Approved(captured=True)

    async def cancel(self, call: Call, tx: Transaction) -> Result:
        return decline(tx.scenario) if tx.scenario else Approved(captured=False)

    async def reconcile(self, call: Call, op: OpenOperation) -> Outcome:
        if op.kind == "capture":
            return await self.capture(call, op.tx, op.amount or op.tx.amount)
        if op.kind == "refund":
            return await self.refund(call, op.tx, op.amount or op.tx.amount)
        if op.kind == "cancel":
            return await self.cancel(call, op.tx)
        if op.kind == "complete":
            return await self.complete(call, op.tx, op.state or "", op.answer)
        return decline("processor_unavailable")

    @staticmethod
    def _instructions(charge: Charge) -> dict[str, str]:
        if charge.payment_type == "konbini":
            return {"receipt": _digits(11), "confirmation_code": _digits(4)}
        if charge.payment_type == "bank_transfer":
            return {
                "order_id": f"KS{_digits(8)}",
                "bank_name": "Kessai Test Bank",
                "account_branch_name": "Test Branch (101)",
                "account_number": _digits(7),
                "account_type": "futsu",
                "account_name": "KESSAI TEST",
            }
        return {"bank_id": "58191", "customer_id": _digits(11), "confirmation_id": _digits(8)}


def unpack(reference: str) -> tuple[CardRule, str | None]:
    """The test behaviour (and forced decline code) a simulator vault reference carries."""
    _, rule, code = (reference.split(":", 2) + ["", ""])[:3]
    try:
        return CardRule(rule), code or None
    except ValueError:
        return CardRule.APPROVE, None
