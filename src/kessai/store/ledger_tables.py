"""The ledger's tables: balance transactions, running balances, fee and settlement
settings, settlements, chargebacks and disbursements (on `kessai.store.tables.metadata`)."""

from __future__ import annotations

import sqlalchemy as sa

from kessai.store.coltypes import JSON, UTCDateTime
from kessai.store.tables import ID, metadata

# The ledger (issue 12): every money move of a merchant's mode in one currency, signed
# (credits positive), append-only, written in the transaction that moves the money.
# `(source_id, type)` is unique: a capture, fee, refund, chargeback or disbursement is
# booked once whatever retries, races or workers do. `settlement_id` is set once (only
# where it is null), so no transaction is ever in two settlements.
balance_transactions = sa.Table(
    "balance_transactions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("type", sa.String(24), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("source_type", sa.String(16), nullable=False),
    sa.Column("source_id", ID, nullable=False),
    sa.Column("payment_id", ID, nullable=True, index=True),
    sa.Column("happened_at", UTCDateTime(), nullable=False),
    sa.Column("settlement_id", ID, nullable=True, index=True),
    sa.UniqueConstraint("source_id", "type"),
    sa.Index(None, "merchant_id", "livemode", "currency", "happened_at"),
    sa.Index(None, "merchant_id", "livemode", "currency", "settlement_id", "happened_at"),
)

# Running totals of the ledger, per type, spread over a few slots so concurrent captures
# of one merchant do not queue on one row; the balance is their sum, and `kessai ledger
# check` proves it equals the sum of the transactions.
balances = sa.Table(
    "balances",
    metadata,
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), primary_key=True),
    sa.Column("livemode", sa.Boolean(), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("type", sa.String(24), primary_key=True),
    sa.Column("slot", sa.Integer(), primary_key=True),
    sa.Column("amount", sa.BigInteger(), nullable=False),
)

# Each merchant mode's fees and settlement schedule. `next_cutoff_at` only moves forward,
# with a conditional update: the settlement run that moves it is the only one that settles
# that cycle.
ledger_settings = sa.Table(
    "ledger_settings",
    metadata,
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), primary_key=True),
    sa.Column("livemode", sa.Boolean(), primary_key=True),
    sa.Column("settlement_schedule", sa.String(10), nullable=False),
    sa.Column("next_cutoff_at", UTCDateTime(), nullable=False),
    # {payment_type: {"percent": "3.6", "fixed": 0}} overriding `core.fees.DEFAULT_FEES`.
    sa.Column("fees", JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(None, "next_cutoff_at"),
)

settlements = sa.Table(
    "settlements",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reference", sa.String(40), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("cycle", sa.String(40), nullable=False),
    sa.Column("period_start", UTCDateTime(), nullable=True),
    sa.Column("cutoff_time", UTCDateTime(), nullable=False),
    # The signed sum of its transactions per ledger type ({"payment": 1000, "fee": -36}).
    sa.Column("totals", JSON, nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("transaction_count", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("merchant_id", "livemode", "currency", "cutoff_time"),
    sa.Index(None, "merchant_id", "livemode", "created_at"),
)

# A dispute of a captured card payment. Test mode plans one at capture (a chargeback test
# card or scenario): `scheduled` until it opens (not shown by the API); then the statuses
# of KOMOJU's chargeback types. `due_at` is when the clock next moves it (open, expire,
# or decide a defense); `outcome` is what a defense gets in test mode (won | lost).
chargebacks = sa.Table(
    "chargebacks",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("payment_id", ID, sa.ForeignKey("payments.id"), nullable=False, unique=True),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("outcome", sa.String(8), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reason_code", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("due_date", UTCDateTime(), nullable=True),
    sa.Column("due_at", UTCDateTime(), nullable=True),
    sa.Column("timeline", JSON, nullable=False),
    sa.Column("defense", JSON, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(None, "merchant_id", "livemode", "created_at"),
    sa.Index(None, "due_at"),
)

# A chargeback defense's document, apart from the chargeback (up to 15 MiB: never read
# with it, only when the document itself is asked for).
chargeback_documents = sa.Table(
    "chargeback_documents",
    metadata,
    sa.Column("chargeback_id", ID, sa.ForeignKey("chargebacks.id"), primary_key=True),
    sa.Column("content", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

disbursements = sa.Table(
    "disbursements",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("merchant_id", ID, sa.ForeignKey("merchants.id"), nullable=False),
    sa.Column("livemode", sa.Boolean(), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount", sa.BigInteger(), nullable=False),
    sa.Column("fee", sa.BigInteger(), nullable=False),
    sa.Column("fee_tax", sa.BigInteger(), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("bank_code", sa.String(4), nullable=False),
    sa.Column("branch_code", sa.String(3), nullable=False),
    sa.Column("account_type", sa.String(10), nullable=False),
    sa.Column("account_number", sa.String(8), nullable=False),
    sa.Column("account_name_kana", sa.String(100), nullable=False),
    sa.Column("external_id", sa.String(255), nullable=True),
    sa.Column("error", sa.String(200), nullable=True),
    sa.Column("cancel_reason", sa.String(500), nullable=True),
    # When the clock pays (or fails) it; null once it is no longer pending.
    sa.Column("due_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index(None, "merchant_id", "livemode", "created_at"),
    sa.Index(None, "due_at"),
)
