"""kessai.core.sessions and kessai.core.payments: lifecycle rules and offered payment types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kessai.core import payments
from kessai.core import sessions as core
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.errors import InvalidPaymentType, NotCancellable, SessionNotPayable

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
EARLIER = NOW - timedelta(seconds=1)
ALL = frozenset(PAYMENT_TYPES)
CARD_ONLY = frozenset({"credit_card"})
JPY_WALLETS_AND_CASH = [
    "konbini",
    "bank_transfer",
    "pay_easy",
    "paypay",
    "linepay",
    "merpay",
    "rakutenpay",
    "aupay",
    "alipay",
    "wechatpay",
    "paidy",
]


# --- is_expired -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [core.PENDING, core.CANCELLED])
def test_not_completed_session_expires_once_expires_at_passes(status: str) -> None:
    assert core.is_expired(status, LATER, NOW) is False
    assert core.is_expired(status, EARLIER, NOW) is True


def test_completed_session_is_never_expired() -> None:
    assert core.is_expired(core.COMPLETED, EARLIER, NOW) is False
    assert core.is_expired(core.COMPLETED, NOW - timedelta(days=365), NOW) is False


# --- check_payable ----------------------------------------------------------------------


def test_pending_unexpired_session_is_payable() -> None:
    assert core.check_payable(core.PENDING, LATER, NOW) is None


@pytest.mark.parametrize(
    ("status", "expires_at", "word"),
    [
        (core.COMPLETED, LATER, "completed"),
        (core.COMPLETED, EARLIER, "completed"),
        (core.CANCELLED, LATER, "cancelled"),
        (core.PENDING, EARLIER, "expired"),
    ],
)
def test_not_payable(status: str, expires_at: datetime, word: str) -> None:
    with pytest.raises(SessionNotPayable, match=word) as exc:
        core.check_payable(status, expires_at, NOW)
    assert exc.value.code == "session_not_payable"
    assert exc.value.status == 422


# --- check_cancellable ------------------------------------------------------------------


def test_pending_session_cancel_changes_it() -> None:
    assert core.check_cancellable(core.PENDING) is True


def test_cancelled_session_cancel_is_a_no_op() -> None:
    assert core.check_cancellable(core.CANCELLED) is False


def test_completed_session_is_not_cancellable() -> None:
    with pytest.raises(NotCancellable) as exc:
        core.check_cancellable(core.COMPLETED)
    assert exc.value.code == "not_cancellable"
    assert exc.value.status == 422


# --- offered_types ----------------------------------------------------------------------


def test_default_jpy_payment_offers_every_supported_type_in_catalogue_order() -> None:
    assert core.offered_types(None, "JPY", "payment", ALL) == ["credit_card", *JPY_WALLETS_AND_CASH]


@pytest.mark.parametrize("currency", ["USD", "EUR", "KRW", "VND", "IDR"])
def test_default_for_non_jpy_is_card_only(currency: str) -> None:
    assert core.offered_types(None, currency, "payment", ALL) == ["credit_card"]


def test_default_cny_adds_chinese_wallets() -> None:
    assert core.offered_types(None, "CNY", "payment", ALL) == ["credit_card", "alipay", "wechatpay"]


@pytest.mark.parametrize("mode", ["customer", "customer_payment"])
def test_default_in_customer_modes_is_card_only(mode: str) -> None:
    # kessai cannot save a PayPay account on a customer (docs/decisions.md).
    assert core.offered_types(None, "JPY", mode, ALL) == ["credit_card"]
    assert core.offered_types(None, "USD", mode, ALL) == ["credit_card"]


def test_default_is_limited_to_the_processors_supported_types() -> None:
    assert core.offered_types(None, "JPY", "payment", CARD_ONLY) == ["credit_card"]
    assert core.offered_types(None, "JPY", "payment", frozenset({"konbini", "paidy"})) == [
        "konbini",
        "paidy",
    ]


def test_requested_types_are_kept_in_request_order() -> None:
    assert core.offered_types(["paypay", "credit_card"], "JPY", "payment", ALL) == [
        "paypay",
        "credit_card",
    ]


def test_requested_duplicates_are_removed() -> None:
    requested = ["credit_card", "konbini", "credit_card", "konbini"]
    assert core.offered_types(requested, "JPY", "payment", ALL) == ["credit_card", "konbini"]


def test_empty_requested_list_is_refused() -> None:
    with pytest.raises(InvalidPaymentType) as exc:
        core.offered_types([], "JPY", "payment", ALL)
    assert exc.value.param == "payment_types"
    assert exc.value.code == "invalid_payment_type"


@pytest.mark.parametrize(
    ("slug", "currency"),
    [("konbini", "USD"), ("paypay", "EUR"), ("alipay", "USD"), ("bank_transfer", "CNY")],
)
def test_type_that_cannot_serve_the_currency_is_refused(slug: str, currency: str) -> None:
    with pytest.raises(InvalidPaymentType) as exc:
        core.offered_types(["credit_card", slug], currency, "payment", ALL)
    assert exc.value.param == "payment_types"
    assert slug in exc.value.message


@pytest.mark.parametrize("mode", ["customer", "customer_payment"])
@pytest.mark.parametrize("slug", JPY_WALLETS_AND_CASH)
def test_customer_modes_allow_only_cards(mode: str, slug: str) -> None:
    with pytest.raises(InvalidPaymentType) as exc:
        core.offered_types([slug], "JPY", mode, ALL)
    assert exc.value.param == "payment_types"


def test_type_the_processor_does_not_support_is_refused() -> None:
    with pytest.raises(InvalidPaymentType) as exc:
        core.offered_types(["konbini"], "JPY", "payment", CARD_ONLY)
    assert exc.value.param == "payment_types"


# --- payment state machine (contract section 3) -----------------------------------------

P = payments
# Moves the contract requires: the diagram, plus cancel of a pending payment (section 3,
# "pending or authorized only") and pending → captured (an auto-captured card, or an
# offsite wallet's "Capture" button in section 6).
REQUIRED = {
    (P.PENDING, P.AUTHORIZED),
    (P.PENDING, P.FAILED),
    (P.PENDING, P.CAPTURED),
    (P.PENDING, P.CANCELLED),
    (P.AUTHORIZED, P.CAPTURED),
    (P.AUTHORIZED, P.CANCELLED),
    (P.AUTHORIZED, P.EXPIRED),
    (P.CAPTURED, P.REFUNDED),
}
TERMINAL = (P.REFUNDED, P.CANCELLED, P.EXPIRED, P.FAILED)


def test_statuses_are_the_contracts() -> None:
    assert set(P.STATUSES) == {
        "pending",
        "authorized",
        "captured",
        "refunded",
        "cancelled",
        "expired",
        "failed",
    }
    assert set(P.MOVES) == set(P.STATUSES)


@pytest.mark.parametrize(("current", "new"), sorted(REQUIRED))
def test_required_moves_are_allowed(current: str, new: str) -> None:
    assert P.can_move(current, new)


@pytest.mark.parametrize("current", TERMINAL)
def test_terminal_states_have_no_moves(current: str) -> None:
    assert P.MOVES[current] == frozenset()
    for new in P.STATUSES:
        assert not P.can_move(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (P.AUTHORIZED, P.PENDING),
        (P.AUTHORIZED, P.FAILED),
        (P.AUTHORIZED, P.REFUNDED),
        (P.AUTHORIZED, P.AUTHORIZED),
        (P.CAPTURED, P.PENDING),
        (P.CAPTURED, P.AUTHORIZED),
        (P.CAPTURED, P.CANCELLED),
        (P.CAPTURED, P.EXPIRED),
        (P.CAPTURED, P.FAILED),
        (P.CAPTURED, P.CAPTURED),
        (P.PENDING, P.REFUNDED),
        (P.PENDING, P.PENDING),
    ],
)
def test_moves_off_the_diagram_are_refused(current: str, new: str) -> None:
    assert not P.can_move(current, new)


def test_no_move_leads_back_to_pending() -> None:
    assert all(P.PENDING not in targets for targets in P.MOVES.values())


def test_successful_statuses_exclude_pending_and_failed() -> None:
    assert P.PENDING not in P.SUCCESSFUL
    assert P.FAILED not in P.SUCCESSFUL
    assert {P.AUTHORIZED, P.CAPTURED, P.REFUNDED} <= P.SUCCESSFUL
