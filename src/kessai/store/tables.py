"""The schema, in SQLAlchemy Core. Alembic migrations create exactly this.

Invariants the database itself enforces:
* `api_keys.key_digest` is unique: a key belongs to one merchant.
* `payments.completes_session` is unique: a session is completed by at most one payment
  (a second one an acquirer took anyway is recorded, but completes nothing).
* `(merchant_id, livemode, external_order_num)` is unique among sessions.
* `(merchant_id, livemode, key)` is unique among idempotency keys.
* `payments.operation_id` / `sessions.operation_id`: at most one processor operation that
  changes the payment's (or pays the session's) state is open at a time; set and cleared
  with conditional updates.
* `payments.refund_reserved`: refunds being asked of the processor, counted with
  `amount_refunded` (and `amount_disputed`) against what was captured, so concurrent
  refunds never exceed it.
* `balance_transactions (source_id, type)` is unique: each money move is booked once.
* `settlements (merchant_id, livemode, currency, cutoff_time)` is unique: one settlement
  per cycle.
"""

from __future__ import annotations

import sqlalchemy as sa

from kessai.store.coltypes import JSON, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = sa.String(25)

server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

merchants = sa.Table(
    "merchants",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(12), nullable=False),  # secret | publishable
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("key_digest", sa.String(64), nullable=False, unique=True),
    sa.Column("key_hint", sa.String(20), nullable=False),  # e.g. "sk_test_…ab12"
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    # The last dashboard sign-out: sessions of this key issued until then are over.
    sa.Column("signed_out_at", UTCDateTime(), nullable=True),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("mode", sa.String(20), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("return_url", sa.Text(), nullable=True),
    sa.Column("email", sa.String(255), nullable=True),
    sa.Column("default_locale", sa.String(2), nullable=False),
    sa.Column("external_customer_id", sa.String(255), nullable=True),
    sa.Column("external_order_num", sa.String(255), nullable=True),
    sa.Column("customer_id", ID, nullable=True),
    sa.Column("payment_types", JSON, nullable=False),
    sa.Column("line_items", JSON, nullable=True),
    sa.Column("metadata", JSON, nullable=False),
    sa.Column("payment_data", JSON, nullable=True),
    sa.Column("scenario", sa.String(40), nullable=True),
    sa.Column("payment_id", ID, nullable=True),
    # The processor operation paying this session right now, if any (see the docstring).
    sa.Column("operation_id", ID, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Column("cancelled_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("merchant_id", "livemode", "external_order_num"),
    sa.Index(None, "merchant_id", "livemode", "created_at"),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("session_id", ID, sa.ForeignKey("sessions.id"), nullable=True, index=True),
    # Set to session_id once this payment completes its session; unique, so a session can
    # never have two successful payments, whatever the concurrency.
    sa.Column("completes_session", ID, nullable=True, unique=True),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("payment_type", sa.String(30), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("tax", sa.BigInteger(), nullable=False),
    sa.Column("payment_method_fee", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    # amount is what was authorized; amount_captured what was captured (a partial capture
    # may take less); amount_refunded never exceeds amount_captured.
    sa.Column("amount_captured", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("amount_refunded", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("capture_requested", sa.Boolean(), nullable=False),
    # Non-sensitive details only: brand, last four, expiry, name, email, verification result.
    sa.Column("payment_details", JSON, nullable=False),
    # HMAC of the card number with the server's secret: matches cards without storing them.
    sa.Column("card_fingerprint", sa.String(64), nullable=True),
    # A vaulted card to save on the customer once this payment succeeds (customer_payment).
    sa.Column("card_reference", sa.String(200), nullable=True),
    sa.Column("processor", sa.String(30), nullable=False),
    sa.Column("processor_state", sa.String(60), nullable=True),
    # The processor's own id of this payment (e.g. KOMOJU's payment id upstream).
    sa.Column("processor_reference", sa.String(200), nullable=True),
    # The open processor operation changing this payment's state, if any.
    sa.Column("operation_id", ID, nullable=True),
    # Refunds asked of the processor and not yet answered.
    sa.Column("refund_reserved", sa.BigInteger(), nullable=False, server_default="0"),
    # What an open (or lost) chargeback disputes: counted with refunds against the capture.
    sa.Column("amount_disputed", sa.BigInteger(), nullable=False, server_default="0"),
    # The merchant's fee for this payment, booked in the ledger at capture.
    sa.Column("processing_fee", sa.BigInteger(), nullable=False, server_default="0"),
    # Test mode: a chargeback planned at capture, and what a defense gets (won | lost).
    sa.Column("dispute", sa.String(8), nullable=True),
    sa.Column("failure_code", sa.String(40), nullable=True),
    sa.Column("customer_id", ID, nullable=True),
    # The subscription this payment is a charge of, if any.
    sa.Column("subscription_id", ID, nullable=True, index=True),
    # One-click: the payment's card is kept for this external customer once it succeeds.
    sa.Column("keep_card_for", sa.String(255), nullable=True),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("external_order_num", sa.String(255), nullable=True),
    sa.Column("metadata", JSON, nullable=False),
    sa.Column("return_url", sa.Text(), nullable=True),
    sa.Column("locale", sa.String(2), nullable=False),
    sa.Column("mcc", sa.String(4), nullable=True),
    sa.Column("statement_descriptor", JSON, nullable=True),
    sa.Column("customer_family_name", sa.String(255), nullable=True),
    sa.Column("customer_given_name", sa.String(255), nullable=True),
    sa.Column("payment_deadline", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("captured_at", UTCDateTime(), nullable=True),
    sa.Index(None, "merchant_id", "livemode", "created_at"),
    sa.Index(None, "merchant_id", "livemode", "external_order_num"),
    # The dashboard's filters, newest first (`store.keyset`).
    sa.Index(None, "merchant_id", "livemode", "status", "created_at"),
    sa.Index(None, "merchant_id", "livemode", "payment_type", "created_at"),
    sa.Index(None, "customer_id"),
    sa.Index(None, "status", "payment_deadline"),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("email", sa.String(255), nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("locale", sa.String(2), nullable=True),
    sa.Column("metadata", JSON, nullable=False),
    # The saved card: its non-sensitive summary and the processor's opaque vault reference.
    sa.Column("source", JSON, nullable=True),
    sa.Column("card_reference", sa.String(200), nullable=True),
    sa.Column("card_fingerprint", sa.String(64), nullable=True),
    sa.Column("scenario", sa.String(40), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
    sa.Index(None, "merchant_id", "livemode", "created_at"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("payment_type", sa.String(30), nullable=False),
    sa.Column("payment_details", JSON, nullable=False),
    sa.Column("card_reference", sa.String(200), nullable=True),
    sa.Column("card_fingerprint", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime(), nullable=True),
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("payment_id", ID, sa.ForeignKey("payments.id"), nullable=False, index=True),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

refund_requests = sa.Table(
    "refund_requests",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("payment_id", ID, sa.ForeignKey("payments.id"), nullable=False, index=True),
    sa.Column("customer_name", sa.String(255), nullable=False),
    sa.Column("bank_name", sa.String(255), nullable=False),
    sa.Column("bank_code", sa.String(4), nullable=True),
    sa.Column("branch_name", sa.String(255), nullable=True),
    sa.Column("branch_number", sa.String(3), nullable=False),
    sa.Column("account_type", sa.String(20), nullable=False),
    sa.Column("account_number", sa.String(7), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("include_payment_method_fee", sa.Boolean(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("reason", sa.String(255), nullable=True),
    sa.Column("data", JSON, nullable=False),
    # The exact JSON sent to webhooks: the same bytes on every attempt.
    sa.Column("body", sa.Text(), nullable=False),
    # The id of the object the event is about (`data.id`): a payment's timeline finds its
    # events by it.
    sa.Column("object_id", sa.String(40), nullable=True, index=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(None, "merchant_id", "livemode", "created_at"),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("secret", sa.String(100), nullable=False),
    # The event types wanted; null means every type.
    sa.Column("event_types", JSON, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
    sa.Index(None, "merchant_id", "livemode"),
)

# One row per (event, endpoint): written with the event, claimed by workers.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("event_id", ID, sa.ForeignKey("events.id"), nullable=False),
    sa.Column("endpoint_id", ID, sa.ForeignKey("webhook_endpoints.id"), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("event_id", "endpoint_id"),
    sa.Index(None, "status", "next_attempt_at"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column(
        "delivery_id",
        sa.BigInteger(),
        sa.ForeignKey("webhook_deliveries.id"),
        nullable=False,
        index=True,
    ),  # fmt: skip
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("worker", sa.String(100), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("latency_ms", sa.Integer(), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("response_snippet", sa.String(500), nullable=True),
    sa.UniqueConstraint("delivery_id", "attempt"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    # Filled in the same transaction as the work; a row is only ever seen complete.
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("body", sa.LargeBinary(), nullable=True),
    # The recovery point: the processor operation this request started, if any. A retry
    # of an unfinished request resumes it instead of starting another.
    sa.Column("operation_id", ID, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
    sa.UniqueConstraint("merchant_id", "livemode", "key"),
)

# Which processor each merchant's mode uses (no row: test mode simulated, live mode none).
processor_configs = sa.Table(
    "processor_configs",
    metadata,
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), primary_key=True),
    sa.Column("livemode", sa.Boolean(), primary_key=True),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("config", JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# Every call kessai makes to a processor, written before the call (status open) and
# closed with its outcome after it. Open operations past their lease are reconciled.
processor_operations = sa.Table(
    "processor_operations",
    metadata,
    sa.Column("id", ID, primary_key=True),  # also the processor's idempotency key
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("processor", sa.String(40), nullable=False),
    # authorize | complete | capture | refund | cancel
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("payment_id", ID, sa.ForeignKey("payments.id"), nullable=True, index=True),
    sa.Column("session_id", ID, nullable=True),
    sa.Column("amount", sa.BigInteger(), nullable=True),
    # What the operation needs to be applied or resumed; never a card number or CVV.
    sa.Column("request", JSON, nullable=False),
    sa.Column("resume", JSON, nullable=True),
    sa.Column("status", sa.String(8), nullable=False),  # open | done
    sa.Column("outcome", JSON, nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    # Nobody else calls the processor for this operation before this time.
    sa.Column("lease_until", UTCDateTime(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(None, "status", "next_attempt_at"),
)

# Each merchant's test-mode clock: its offset from the real time (never negative, only
# ever increased). No row: the real time. Live mode always runs on the real time.
clocks = sa.Table(
    "clocks",
    metadata,
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), primary_key=True),
    sa.Column("offset_ms", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# A saved customer charged `amount` every `period`; each charge is an ordinary payment
# (payments.subscription_id). `cycle` counts the charges made (it names each charge's
# idempotency key, so a charge is made once however many workers find it due).
subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("customer_id", ID, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("period", sa.String(10), nullable=False),
    sa.Column("day", sa.Integer(), nullable=False),
    sa.Column("payment_details", JSON, nullable=False),
    sa.Column("metadata", JSON, nullable=False),
    sa.Column("cycle", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("retry_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("retry_at", UTCDateTime(), nullable=True),
    sa.Column("next_capture_at", UTCDateTime(), nullable=False),
    # When the next charge or retry is due (null once ended or suspended): what workers scan.
    sa.Column("due_at", UTCDateTime(), nullable=True),
    # A charge under way holds the subscription until then (the real time, not the clock's).
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Index(None, "merchant_id", "livemode", "created_at"),
    sa.Index(None, "due_at"),
    sa.Index(None, "customer_id"),  # a customer's subscriptions (the dashboard's customer page)
)

# 3-D Secure done before a direct payment: the token id is then `payment_details`, once.
secure_tokens = sa.Table(
    "secure_tokens",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("return_url", sa.Text(), nullable=False),
    sa.Column("customer_id", ID, nullable=True),
    # Non-sensitive card summary, the vault reference and the keyed fingerprint only.
    sa.Column("payment_details", JSON, nullable=False),
    sa.Column("card_reference", sa.String(200), nullable=True),
    sa.Column("card_fingerprint", sa.String(64), nullable=True),
    sa.Column("verification_status", sa.String(12), nullable=False),
    sa.Column("three_ds_auth_result", JSON, nullable=True),
    # The card's simulated 3-D Secure behaviour while NEEDS_VERIFY (a `core.cards.CardRule`
    # value): the challenge page needs it, and the number is not kept.
    sa.Column("challenge", sa.String(24), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("used_at", UTCDateTime(), nullable=True),
)

# One-click: cards a customer chose to keep on the hosted page, per merchant, mode and
# the merchant's `external_customer_id`; forgotten by DELETE /external_customers/{id}.
saved_cards = sa.Table(
    "saved_cards",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("external_customer_id", sa.String(255), nullable=False),
    sa.Column("source", JSON, nullable=False),
    sa.Column("card_reference", sa.String(200), nullable=False),
    sa.Column("card_fingerprint", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("merchant_id", "livemode", "external_customer_id", "card_fingerprint"),
)


# The ledger's tables live in their own module, on this metadata.
from kessai.store.ledger_tables import (  # noqa: E402, F401
    balance_transactions,
    balances,
    chargeback_documents,
    chargebacks,
    disbursements,
    ledger_settings,
    settlements,
)
