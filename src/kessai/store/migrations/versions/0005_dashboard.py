"""issue 13: dashboard indexes, events.object_id, api_keys.signed_out_at

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:31:15.755211
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kessai.store.coltypes

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("object_id", sa.String(length=40), nullable=True))

    # Events written before this revision: the id of the object each is about. Filled in
    # before the index exists, so the index is built once, not updated row by row.
    sqlite = op.get_bind().dialect.name == "sqlite"
    found = "json_extract(data, '$.id')" if sqlite else "data->>'id'"
    op.execute(
        f"UPDATE events SET object_id = {found} "  # noqa: S608 - constants only
        f"WHERE object_id IS NULL AND length(coalesce({found}, '')) BETWEEN 1 AND 40"
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_object_id"), ["object_id"], unique=False)

    # The last dashboard sign-out of each key: its sessions issued until then are over.
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signed_out_at", kessai.store.coltypes.UTCDateTime(), nullable=True)
        )

    # A customer's subscriptions (the dashboard's customer page).
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscriptions_customer_id"), ["customer_id"], unique=False
        )

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payments_merchant_id_livemode_payment_type_created_at"),
            ["merchant_id", "livemode", "payment_type", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_payments_merchant_id_livemode_status_created_at"),
            ["merchant_id", "livemode", "status", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_customer_id"))

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("signed_out_at")

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_merchant_id_livemode_status_created_at"))
        batch_op.drop_index(batch_op.f("ix_payments_merchant_id_livemode_payment_type_created_at"))

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_object_id"))
        batch_op.drop_column("object_id")
