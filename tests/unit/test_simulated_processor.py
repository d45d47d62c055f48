"""kessai.processors.simulated: test-mode outcomes for the contract's test cards."""

from __future__ import annotations

import pytest

from kessai.core.cards import DECLINE_MESSAGES
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.processors.base import Approved, Call, Card, Charge, Declined, NeedsAction, Transaction
from kessai.processors.simulated import SimulatedProcessor

from .test_cards import APPROVED, DECLINES

CALL = Call("op_1", 10.0)


def tx_of(c: Charge) -> Transaction:
    return Transaction(c.payment_id, c.payment_type, c.amount, c.currency, capture=c.capture)


FRICTIONLESS = ["4100000000000100", "5100000000000107", "3528000000000106"]
CHALLENGE = ["4100000000005000", "5100000000005007", "3528000000005006"]
CHALLENGE_FAILS = ["4100000000300005", "5100000000300002", "3528000000300001"]
FAILS_ON_RETURN = ["4100000000500000", "5100000000500007", "3528000000500006"]
CONTRACT_DECLINE_CODES = {
    "card_declined",
    "insufficient_funds",
    "exceeds_limit",
    "bad_verification_value",
    "card_expired",
    "invalid_number",
}


def charge(
    number: str | None = "4111111111111111",
    *,
    capture: bool = True,
    scenario: str | None = None,
    ptype: str = "credit_card",
) -> Charge:
    card = Card(number, 12, 2099, "123", "Taro Yamada", None) if number else None
    return Charge("pay_1", 1000, "JPY", ptype, capture, card, scenario=scenario)


@pytest.fixture
def processor() -> SimulatedProcessor:
    return SimulatedProcessor()


def test_supports_every_payment_type_of_the_contract(processor: SimulatedProcessor) -> None:
    assert processor.supported_types == frozenset(PAYMENT_TYPES)
    assert processor.name == "simulated"


@pytest.mark.parametrize("number", [*APPROVED, "4242424242424242", "6011111111111117"])
@pytest.mark.parametrize("capture", [True, False])
async def test_approved_cards(processor: SimulatedProcessor, number: str, capture: bool) -> None:
    assert await processor.authorize(CALL, charge(number, capture=capture)) == Approved(
        captured=capture
    )


@pytest.mark.parametrize(("number", "code"), sorted(DECLINES.items()))
async def test_declined_cards(processor: SimulatedProcessor, number: str, code: str) -> None:
    outcome = await processor.authorize(CALL, charge(number))
    assert isinstance(outcome, Declined)
    assert outcome.code == code
    assert outcome.code in CONTRACT_DECLINE_CODES
    assert outcome.message == DECLINE_MESSAGES[code]
    assert number not in outcome.message


@pytest.mark.parametrize("number", FRICTIONLESS)
@pytest.mark.parametrize("capture", [True, False])
async def test_frictionless_three_d_secure_is_approved_straight_away(
    processor: SimulatedProcessor, number: str, capture: bool
) -> None:
    assert await processor.authorize(CALL, charge(number, capture=capture)) == Approved(
        captured=capture
    )


@pytest.mark.parametrize("number", CHALLENGE + CHALLENGE_FAILS + FAILS_ON_RETURN)
async def test_challenge_cards_need_action(processor: SimulatedProcessor, number: str) -> None:
    outcome = await processor.authorize(CALL, charge(number))
    assert isinstance(outcome, NeedsAction)
    assert outcome.state
    assert number not in outcome.state
    assert outcome.redirect_url is None  # kessai's own simulated challenge page


@pytest.mark.parametrize("number", CHALLENGE)
@pytest.mark.parametrize("capture", [True, False])
async def test_challenge_password_123456_approves(
    processor: SimulatedProcessor, number: str, capture: bool
) -> None:
    c = charge(number, capture=capture)
    action = await processor.authorize(CALL, c)
    assert isinstance(action, NeedsAction)
    assert await processor.complete(CALL, tx_of(c), action.state, "123456") == Approved(
        captured=capture
    )


@pytest.mark.parametrize("number", CHALLENGE)
@pytest.mark.parametrize("answer", ["000000", "12345", "1234567", " 123456", "", None])
async def test_challenge_wrong_password_fails(
    processor: SimulatedProcessor, number: str, answer: str | None
) -> None:
    c = charge(number)
    action = await processor.authorize(CALL, c)
    assert isinstance(action, NeedsAction)
    outcome = await processor.complete(CALL, tx_of(c), action.state, answer)
    assert isinstance(outcome, Declined)
    assert outcome.message


@pytest.mark.parametrize("number", CHALLENGE_FAILS + FAILS_ON_RETURN)
@pytest.mark.parametrize("answer", ["123456", "000000", None])
async def test_failing_challenges_fail_even_with_the_right_password(
    processor: SimulatedProcessor, number: str, answer: str | None
) -> None:
    c = charge(number)
    action = await processor.authorize(CALL, c)
    assert isinstance(action, NeedsAction)
    assert isinstance(await processor.complete(CALL, tx_of(c), action.state, answer), Declined)


async def test_the_three_challenge_behaviours_are_distinguishable(
    processor: SimulatedProcessor,
) -> None:
    states = set()
    for group in (CHALLENGE, CHALLENGE_FAILS, FAILS_ON_RETURN):
        outcomes = {await processor.authorize(CALL, charge(n)) for n in group}
        assert len(outcomes) == 1  # the same behaviour for Visa, Mastercard and JCB
        (outcome,) = outcomes
        assert isinstance(outcome, NeedsAction)
        states.add(outcome.state)
    assert len(states) == 3


async def test_unknown_state_never_approves(processor: SimulatedProcessor) -> None:
    outcome = await processor.complete(CALL, tx_of(charge(CHALLENGE[0])), "made-up", "123456")
    assert isinstance(outcome, Declined)


@pytest.mark.parametrize("code", sorted(CONTRACT_DECLINE_CODES))
@pytest.mark.parametrize("number", ["4111111111111111", FRICTIONLESS[0], CHALLENGE[0]])
async def test_scenario_forces_the_decline(
    processor: SimulatedProcessor, code: str, number: str
) -> None:
    outcome = await processor.authorize(CALL, charge(number, scenario=code))
    assert outcome == Declined(code, DECLINE_MESSAGES[code])


async def test_scenario_overrides_a_different_table_decline(processor: SimulatedProcessor) -> None:
    outcome = await processor.authorize(CALL, charge("4123111111111000", scenario="card_expired"))
    assert isinstance(outcome, Declined) and outcome.code == "card_expired"


async def test_without_a_card_the_request_fails(processor: SimulatedProcessor) -> None:
    outcome = await processor.authorize(CALL, charge(None, ptype="credit_card"))
    assert isinstance(outcome, Declined)
    assert outcome.code == "request_failed"


def test_card_repr_hides_the_number() -> None:
    card = Card("4111111111111111", 12, 2099, "123", None, None)
    assert "4111111111111111" not in repr(card)
    assert "123'" not in repr(card)
    assert "1111" in repr(card)
