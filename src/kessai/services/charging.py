"""Payment attempts: shared by session pay, POST /payments and the pages.

`resolve_source` turns `payment_details` (a card, cash or wallet details, or a token id) or a
customer id into a `Source`; `pending_payment` builds the payment row phase 1 records and
the `Charge` phase 2 sends; `authorize_changes` and `complete_changes` are what phase 3
writes for the processor's answer (`kessai.services.phases`, `kessai.services.outcomes`).
Nothing here calls a processor or opens a transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import payments as states
from kessai.core.cards import CHARGEBACK_SCENARIOS, DECLINE_MESSAGES, test_card
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.errors import InvalidParameter, InvalidPaymentType
from kessai.ids import new_id
from kessai.observe import audit
from kessai.processors.base import (
    Approved,
    AwaitingCustomer,
    Card,
    Charge,
    Declined,
    NeedsAction,
    Outcome,
    Result,
)
from kessai.schemas import resources
from kessai.schemas.requests import (
    CardDetails,
    CashDetails,
    KonbiniDetails,
    PaymentDetailsType,
    WalletDetails,
    parse,
)
from kessai.services import cards, ledger
from kessai.services.runtime import Runtime
from kessai.store import customers as customer_store
from kessai.store import events
from kessai.store import tokens as token_store

SCENARIOS = (
    *(
        code
        for code in DECLINE_MESSAGES
        if code not in ("three_d_secure_failed", "processor_unavailable")
    ),
    *CHARGEBACK_SCENARIOS,
)


@dataclass(frozen=True)
class Scope:
    merchant_id: str
    livemode: bool

    def kw(self) -> dict[str, Any]:
        return {"merchant_id": self.merchant_id, "livemode": self.livemode}


@dataclass(frozen=True)
class Source:
    """Where the money comes from, as far as kessai may know it."""

    payment_type: str
    summary: dict[str, Any]  # payment_details as stored and returned (no type)
    card: Card | None = None
    card_reference: str | None = None
    fingerprint: str | None = None
    details: Mapping[Any, Any] = field(default_factory=dict)
    customer_id: str | None = None
    scenario: str | None = None
    expiry_days: int | None = None
    customer_present: bool = True
    # A secure token's (amount, currency): what its 3-D Secure authenticated, so the only
    # payment it may make (`pending_payment` checks).
    secured: tuple[int, str] | None = None


def check_scenario(scenario: str | None, livemode: bool) -> str | None:
    if scenario is not None and (livemode or scenario not in SCENARIOS):
        raise InvalidParameter(
            f"Komoju-Scenario must be one of {', '.join(SCENARIOS)}, and only in test mode",
            param="Komoju-Scenario",
        )
    return scenario


async def resolve_source(
    conn: AsyncConnection,
    rt: Runtime,
    scope: Scope,
    *,
    payment_details: dict[str, Any] | str | None,
    customer_id: str | None = None,
    allowed_types: list[str] | None = None,
    email: str | None = None,
) -> Source:
    now = rt.now()
    if customer_id is not None:
        return await _saved_card(conn, scope, customer_id)
    if isinstance(payment_details, str):
        return await _token(conn, scope, payment_details, now, allowed_types)
    assert payment_details is not None
    ptype = parse(PaymentDetailsType, payment_details, prefix="payment_details").type
    if allowed_types is not None and ptype not in allowed_types:
        raise InvalidPaymentType(
            f"payment_details[type]: {ptype} is not offered here "
            f"(offered: {', '.join(allowed_types)})",
            param="payment_details[type]",
        )
    kind = PAYMENT_TYPES[ptype].kind
    if kind == "card":
        card = cards.card_from(parse(CardDetails, payment_details, prefix="payment_details"), now)
        return Source(
            ptype,
            cards.summary(card, email),
            card=card,
            fingerprint=cards.fingerprint(rt.secret, card),
        )
    if ptype == "konbini":
        konbini = parse(KonbiniDetails, payment_details, prefix="payment_details")
        fields = konbini.model_dump(exclude={"type", "expiry_days"}, exclude_none=True)
        return Source(ptype, fields, details=fields, expiry_days=konbini.expiry_days)
    if kind == "cash":
        cash = parse(CashDetails, payment_details, prefix="payment_details")
        fields = cash.model_dump(exclude={"type", "expiry_days"}, exclude_none=True)
        return Source(ptype, fields, details=fields, expiry_days=cash.expiry_days)
    wallet = parse(WalletDetails, payment_details, prefix="payment_details")
    fields = {"email": wallet.email or email or ""}
    return Source(ptype, fields, details=fields)


async def customer_with_card(conn: AsyncConnection, scope: Scope, customer_id: str) -> Any:
    """The customer `customer_id` of this merchant and mode, which must have a saved card
    (422 naming `customer` otherwise)."""
    customer = await customer_store.get(conn, customer_id, **scope.kw())
    if customer is None:
        raise InvalidParameter(f"customer {customer_id!r} does not exist", param="customer")
    if customer["card_reference"] is None:
        raise InvalidParameter(
            "customer has no saved card; save one with payment_details first", param="customer"
        )
    return customer


async def _saved_card(conn: AsyncConnection, scope: Scope, customer_id: str) -> Source:
    customer = await customer_with_card(conn, scope, customer_id)
    return Source(
        "credit_card",
        {**customer["source"], "email": customer["email"] or ""},
        card_reference=customer["card_reference"],
        fingerprint=customer["card_fingerprint"],
        customer_id=customer_id,
        scenario=customer["scenario"],
        customer_present=False,
    )


async def _token(
    conn: AsyncConnection,
    scope: Scope,
    token_id: str,
    now: datetime,
    allowed_types: list[str] | None,
) -> Source:
    token = await token_store.consume(conn, token_id, now, **scope.kw())
    if token is None:
        from kessai.services import secure_tokens  # it builds on this module

        secured = await secure_tokens.redeem(conn, scope, token_id, now)
        if secured is not None:
            if allowed_types is not None and secured.payment_type not in allowed_types:
                raise InvalidPaymentType(
                    "payment_details: a credit_card secure token is not offered here",
                    param="payment_details",
                )
            return secured
        raise InvalidParameter(
            "payment_details: no such token, or it was already used or is over 24 hours old",
            param="payment_details",
        )
    if allowed_types is not None and token["payment_type"] not in allowed_types:
        raise InvalidPaymentType(
            f"payment_details: a {token['payment_type']} token is not offered here",
            param="payment_details",
        )
    return Source(
        token["payment_type"],
        dict(token["payment_details"]),
        card_reference=token["card_reference"],
        fingerprint=token["card_fingerprint"],
    )


def pending_payment(
    rt: Runtime,
    scope: Scope,
    source: Source,
    processor_name: str,
    *,
    operation_id: str,
    amount: int,
    currency: str,
    capture: bool,
    locale: str,
    session: Mapping[Any, Any] | None = None,
    description: str | None = None,
    external_order_num: str | None = None,
    metadata: dict[str, str] | None = None,
    tax: int = 0,
    mcc: str | None = None,
    scenario: str | None = None,
    card_reference: str | None = None,
    customer_id: str | None = None,
    return_url: str | None = None,
) -> tuple[dict[str, Any], Charge]:
    """Phase 1 of an attempt: the payment row, `pending` and held by `operation_id`, and
    the charge to ask the processor for. Nothing here calls the processor."""
    if source.secured is not None and source.secured != (amount + tax, currency):
        token_amount, token_currency = source.secured
        raise InvalidParameter(
            f"payment_details: the secure token authenticated {token_amount} {token_currency}, "
            f"but this payment is {amount + tax} {currency} (amount + tax); create a secure "
            "token for this payment's total",
            param="payment_details",
        )
    now = rt.now()
    payment_id = new_id()
    scenario = scenario or source.scenario
    dispute = CHARGEBACK_SCENARIOS.get(scenario or "")
    if dispute is not None:
        scenario = None  # approved; disputed after capture
    elif source.card is not None and not scope.livemode:
        dispute = test_card(source.card.number).dispute
    charge = Charge(
        payment_id,
        amount + tax,
        currency,
        source.payment_type,
        capture,
        card=source.card,
        card_reference=source.card_reference,
        details=source.details,
        scenario=scenario,
        customer_present=source.customer_present,
        return_url=f"{rt.settings.base_url}/payments/{payment_id}/return",
        expiry_days=source.expiry_days,
        locale=locale,
    )
    payment: dict[str, Any] = {
        "id": payment_id,
        **scope.kw(),
        "session_id": session["id"] if session is not None else None,
        "completes_session": None,
        "status": states.PENDING,
        "payment_type": source.payment_type,
        "amount": amount,
        "tax": tax,
        "payment_method_fee": 0,
        "currency": currency,
        "amount_captured": 0,
        "amount_refunded": 0,
        "refund_reserved": 0,
        "amount_disputed": 0,
        "processing_fee": 0,
        "dispute": dispute,
        "capture_requested": capture,
        "payment_details": dict(source.summary),
        "card_fingerprint": source.fingerprint,
        "card_reference": card_reference,
        "processor": processor_name,
        "processor_state": None,
        "processor_reference": None,
        "operation_id": operation_id,
        "failure_code": None,
        "customer_id": customer_id or source.customer_id,
        "description": description,
        "external_order_num": external_order_num,
        "metadata": metadata or {},
        "return_url": return_url,
        "locale": locale,
        "mcc": mcc,
        "statement_descriptor": None,
        "customer_family_name": source.details.get("family_name"),
        "customer_given_name": source.details.get("given_name"),
        "payment_deadline": None,
        "created_at": now,
        "updated_at": now,
        "captured_at": None,
    }
    return payment, charge


def authorize_changes(
    rt: Runtime, payment: Mapping[Any, Any], outcome: Outcome, expiry_days: int | None
) -> tuple[dict[str, Any], str | None]:
    """Phase 3 of an attempt: what the processor's answer changes on the payment, and the
    event it makes (None while the customer still has to act)."""
    now = rt.now()
    base = rt.settings.base_url
    payment_id = payment["id"]
    session_id = payment["session_id"]
    reference = getattr(outcome, "reference", None) or payment["processor_reference"]
    common = {"operation_id": None, "processor_reference": reference, "updated_at": now}
    if isinstance(outcome, NeedsAction):
        page = "offsite" if PAYMENT_TYPES[payment["payment_type"]].offsite else "three_d_secure"
        redirect = outcome.redirect_url or f"{base}/{page}/{payment_id}"
        details = {**payment["payment_details"], "redirect_url": redirect}
        return {**common, "processor_state": outcome.state, "payment_details": details}, None
    if isinstance(outcome, AwaitingCustomer):
        deadline = now + timedelta(days=expiry_days or 3)
        details = {
            **payment["payment_details"],
            **outcome.details,
            "instructions_url": f"{base}/instructions/{payment_id}",
            # kessai draws barcodes of its own receipts (an acquirer's pass through)
            **(
                {"barcode_url": f"{base}/api/v1/barcodes/{payment_id}"}
                if payment["payment_type"] == "konbini" and payment["processor"] == "simulated"
                else {}
            ),
            **(
                {"payment_deadline": resources.timestamp(deadline)}
                if payment["payment_type"] == "bank_transfer"
                else {}
            ),
        }
        changes = {
            **common,
            "status": states.AUTHORIZED,
            "payment_deadline": deadline,
            "completes_session": session_id,
            "payment_details": details,
        }
        return changes, "payment.authorized"
    return {**common, **_settled(outcome, payment["amount"], now, session_id)}, _event_type(outcome)


def redirect_of(payment: Mapping[Any, Any]) -> str | None:
    """Where the customer's browser goes next for a payment not settled at once."""
    details = payment["payment_details"]
    if payment["status"] == states.PENDING:
        return details.get("redirect_url")
    if PAYMENT_TYPES[payment["payment_type"]].kind == "cash" and payment["status"] == (
        states.AUTHORIZED
    ):
        return details.get("instructions_url")
    return None


def _settled(outcome: Result, amount: int, now: datetime, session_id: str | None) -> dict[str, Any]:
    if isinstance(outcome, Approved):
        return {
            "status": states.CAPTURED if outcome.captured else states.AUTHORIZED,
            "amount_captured": amount if outcome.captured else 0,
            "captured_at": now if outcome.captured else None,
            "completes_session": session_id,
            "processor_state": None,
            "updated_at": now,
        }
    return {
        "status": states.FAILED,
        "failure_code": outcome.code,
        "processor_state": None,
        "updated_at": now,
    }


def _event_type(outcome: Result) -> str:
    if isinstance(outcome, Approved):
        return "payment.captured" if outcome.captured else "payment.authorized"
    return "payment.failed"


async def record_event(
    conn: AsyncConnection,
    payment: Mapping[Any, Any],
    event_type: str,
    now: datetime,
    outcome: Outcome | None = None,
    *,
    refunds: list[Any] | None = None,
    refund_requests: list[Any] | None = None,
) -> Mapping[Any, Any]:
    """Record the payment's event; a capture is booked in the ledger first
    (`kessai.services.ledger`). The payment as recorded."""
    if event_type == "payment.captured":
        payment = await ledger.captured(conn, payment, now)
    reason = outcome.code if isinstance(outcome, Declined) else None
    await events.insert(
        conn,
        merchant_id=payment["merchant_id"],
        livemode=payment["livemode"],
        type=event_type,
        data=resources.payment(payment, refunds or [], refund_requests or []),
        now=now,
        reason=reason,
    )
    audit.payment_event(payment, event_type, reason)
    return payment


def complete_changes(rt: Runtime, payment: Mapping[Any, Any], outcome: Result) -> dict[str, Any]:
    """What finishing a 3-D Secure or wallet payment changes (phase 3 of `complete`)."""
    changes = _settled(outcome, payment["amount"], rt.now(), payment["session_id"])
    details = {k: v for k, v in payment["payment_details"].items() if k != "redirect_url"}
    reference = getattr(outcome, "reference", None) or payment["processor_reference"]
    return {
        **changes,
        "payment_details": details,
        "operation_id": None,
        "processor_reference": reference,
    }


def event_of(outcome: Result) -> str:
    return _event_type(outcome)
