"""issue 11: test clocks, subscriptions, secure tokens, one-click saved cards

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kessai.store.coltypes

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(length=25)


def upgrade() -> None:
    op.create_table(
        "clocks",
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("offset_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_clocks_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_clocks")),
    )
    op.create_table(
        "saved_cards",
        sa.Column("id", ID, nullable=False),
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("external_customer_id", sa.String(length=255), nullable=False),
        sa.Column("source", kessai.store.coltypes.JSON, nullable=False),
        sa.Column("card_reference", sa.String(length=200), nullable=False),
        sa.Column("card_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_saved_cards_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_cards")),
        sa.UniqueConstraint(
            "merchant_id",
            "livemode",
            "external_customer_id",
            "card_fingerprint",
            name=op.f("uq_saved_cards_merchant_id_livemode_external_customer_id_card_fingerprint"),
        ),
    )
    op.create_table(
        "secure_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("return_url", sa.Text(), nullable=False),
        sa.Column("customer_id", ID, nullable=True),
        sa.Column("payment_details", kessai.store.coltypes.JSON, nullable=False),
        sa.Column("card_reference", sa.String(length=200), nullable=True),
        sa.Column("card_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("verification_status", sa.String(length=12), nullable=False),
        sa.Column("three_ds_auth_result", kessai.store.coltypes.JSON, nullable=True),
        sa.Column("challenge", sa.String(length=24), nullable=True),
        sa.Column("created_at", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.Column("used_at", kessai.store.coltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_secure_tokens_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secure_tokens")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", ID, nullable=False),
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("payment_details", kessai.store.coltypes.JSON, nullable=False),
        sa.Column("metadata", kessai.store.coltypes.JSON, nullable=False),
        sa.Column("cycle", sa.Integer(), server_default="0", nullable=False),
        sa.Column("retry_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("retry_at", kessai.store.coltypes.UTCDateTime(), nullable=True),
        sa.Column("next_capture_at", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.Column("due_at", kessai.store.coltypes.UTCDateTime(), nullable=True),
        sa.Column("lease_until", kessai.store.coltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", kessai.store.coltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_subscriptions_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_subscriptions_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(op.f("ix_subscriptions_due_at"), "subscriptions", ["due_at"], unique=False)
    op.create_index(
        op.f("ix_subscriptions_merchant_id_livemode_created_at"),
        "subscriptions",
        ["merchant_id", "livemode", "created_at"],
        unique=False,
    )
    op.add_column("payments", sa.Column("subscription_id", ID, nullable=True))
    op.add_column("payments", sa.Column("keep_card_for", sa.String(length=255), nullable=True))
    op.create_index(
        op.f("ix_payments_subscription_id"), "payments", ["subscription_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_payments_subscription_id"), table_name="payments")
    op.drop_column("payments", "keep_card_for")
    op.drop_column("payments", "subscription_id")
    op.drop_index(
        op.f("ix_subscriptions_merchant_id_livemode_created_at"), table_name="subscriptions"
    )
    op.drop_index(op.f("ix_subscriptions_due_at"), table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_table("secure_tokens")
    op.drop_table("saved_cards")
    op.drop_table("clocks")
