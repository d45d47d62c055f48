"""processor operations, per-merchant processors, recovery points

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kessai.store.coltypes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(length=25)


def upgrade() -> None:
    op.add_column("sessions", sa.Column("operation_id", ID, nullable=True))
    op.add_column("payments", sa.Column("processor_reference", sa.String(200), nullable=True))
    op.add_column("payments", sa.Column("operation_id", ID, nullable=True))
    op.add_column(
        "payments",
        sa.Column("refund_reserved", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column("idempotency_keys", sa.Column("operation_id", ID, nullable=True))
    op.create_table(
        "processor_configs",
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("config", kessai.store.coltypes.JSON, nullable=False),
        sa.Column("updated_at", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_processor_configs_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", "livemode", name=op.f("pk_processor_configs")),
    )
    op.create_table(
        "processor_operations",
        sa.Column("id", ID, nullable=False),
        sa.Column("merchant_id", ID, nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("processor", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("payment_id", ID, nullable=True),
        sa.Column("session_id", ID, nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("request", kessai.store.coltypes.JSON, nullable=False),
        sa.Column("resume", kessai.store.coltypes.JSON, nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("outcome", kessai.store.coltypes.JSON, nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_until", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.Column("created_at", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", kessai.store.coltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_processor_operations_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_processor_operations_payment_id_payments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processor_operations")),
    )
    op.create_index(
        op.f("ix_processor_operations_payment_id"),
        "processor_operations",
        ["payment_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_processor_operations_status_next_attempt_at"),
        "processor_operations",
        ["status", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_processor_operations_status_next_attempt_at"), "processor_operations")
    op.drop_index(op.f("ix_processor_operations_payment_id"), "processor_operations")
    op.drop_table("processor_operations")
    op.drop_table("processor_configs")
    for table, column in (
        ("idempotency_keys", "operation_id"),
        ("payments", "refund_reserved"),
        ("payments", "operation_id"),
        ("payments", "processor_reference"),
        ("sessions", "operation_id"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
