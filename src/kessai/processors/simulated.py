"""The simulated test-mode processor: KOMOJU's test mode, in memory, no network.

Card outcomes follow the test-card table in `kessai.core.cards`; any other valid number is
approved. 3-D Secure cards return `NeedsAction` and are finished by `authenticate` with
the password typed on kessai's simulated challenge page (123456 approves).
"""

from __future__ import annotations

from kessai.core.cards import DECLINE_MESSAGES, THREE_DS_PASSWORD, CardRule, test_card
from kessai.processors.base import Approved, Charge, Declined, NeedsAction, Outcome


def _decline(code: str) -> Declined:
    return Declined(code, DECLINE_MESSAGES.get(code, DECLINE_MESSAGES["request_failed"]))


class SimulatedProcessor:
    name = "simulated"

    @property
    def supported_types(self) -> frozenset[str]:
        return frozenset({"credit_card"})

    async def authorize(self, charge: Charge) -> Outcome:
        if charge.scenario:
            return _decline(charge.scenario)
        if charge.card is None:
            return _decline("request_failed")
        rule = test_card(charge.card.number)
        if rule.rule is CardRule.DECLINE:
            return _decline(rule.decline_code or "card_declined")
        if rule.rule in (CardRule.APPROVE, CardRule.THREE_DS_FRICTIONLESS):
            return Approved(captured=charge.capture)
        return NeedsAction(state=rule.rule.value)

    async def authenticate(self, charge: Charge, state: str, answer: str | None) -> Outcome:
        if state == CardRule.THREE_DS_CHALLENGE.value and answer == THREE_DS_PASSWORD:
            return Approved(captured=charge.capture)
        return _decline("three_d_secure_failed")
