"""The queries of `kessai ledger check` over the money moves and their lines
(`kessai.services.ledger_check_sources`): the sources whose line is missing or wrong (a
primary-key probe per source, one query per line type), and the lines no source calls for
(one pass over the lines, joined to their sources). Each returns only what disagrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.store.ledger_audit import mine
from kessai.store.tables import balance_transactions as bt
from kessai.store.tables import chargebacks, disbursements, payments, refunds

CAPTURED = ("captured", "refunded")
REVERSED = ("failed", "cancelled")  # disbursements given back
# Lines that name their payment; a chargeback's may, a disbursement's never does.
NAME_PAYMENT = ("payment", "refund")

_refund_payment = payments.alias("refund_payment")


@dataclass(frozen=True)
class _Source:
    kind: str  # its source_type
    table: Any  # the source, joined to what tells its merchant, mode and currency
    id: Any
    owner: tuple[Any, Any, Any]
    status: Any


_PAYMENT = _Source(
    "payment",
    payments,
    payments.c.id,
    (payments.c.merchant_id, payments.c.livemode, payments.c.currency),
    payments.c.status,
)
_REFUND = _Source(
    "refund",
    refunds.join(_refund_payment, _refund_payment.c.id == refunds.c.payment_id),
    refunds.c.id,
    (_refund_payment.c.merchant_id, _refund_payment.c.livemode, _refund_payment.c.currency),
    sa.literal("made"),
)
_CHARGEBACK = _Source(
    "chargeback",
    chargebacks,
    chargebacks.c.id,
    (chargebacks.c.merchant_id, chargebacks.c.livemode, chargebacks.c.currency),
    chargebacks.c.status,
)
_DISBURSEMENT = _Source(
    "disbursement",
    disbursements,
    disbursements.c.id,
    (disbursements.c.merchant_id, disbursements.c.livemode, disbursements.c.currency),
    disbursements.c.status,
)
_paid_out = disbursements.c.amount + disbursements.c.fee + disbursements.c.fee_tax

# type -> (its source, when the source calls for it, the line's signed amount)
_EXPECTED: dict[str, tuple[_Source, Any, Any]] = {
    "payment": (
        _PAYMENT,
        payments.c.status.in_(CAPTURED),
        payments.c.amount_captured + payments.c.tax + payments.c.payment_method_fee,
    ),
    "fee": (_PAYMENT, payments.c.status.in_(CAPTURED), -payments.c.processing_fee),
    "refund": (_REFUND, sa.true(), -refunds.c.amount),
    "chargeback": (_CHARGEBACK, chargebacks.c.status != "scheduled", -chargebacks.c.amount),
    "chargeback_reversal": (_CHARGEBACK, chargebacks.c.status == "cancelled", chargebacks.c.amount),
    "disbursement": (_DISBURSEMENT, sa.true(), -_paid_out),
    "disbursement_reversal": (_DISBURSEMENT, disbursements.c.status.in_(REVERSED), _paid_out),
}
# The line types a source calls for, in the order they are checked.
CALLED_FOR = tuple(_EXPECTED)


def source_type(type_: str) -> str:
    """The kind of source a line of this type (one of `CALLED_FOR`) belongs to."""
    return _EXPECTED[type_][0].kind


async def missing_or_wrong(
    conn: AsyncConnection, merchant_id: str | None, type_: str
) -> list[RowMapping]:
    """The sources whose state calls for a `type_` line that is missing, of another
    amount, or in another ledger: the source (`source_id`, `status`, its ledger),
    `expected` (the signed amount it calls for) and its line if any (`line_id`,
    `line_amount`, `line_merchant_id`, `line_livemode`, `line_currency`)."""
    source, calls_for, amount = _EXPECTED[type_]
    line = bt.alias("line")
    m, live, currency = source.owner
    joined = source.table.outerjoin(
        line, sa.and_(line.c.source_id == source.id, line.c.type == type_)
    )
    rows = await conn.execute(
        sa.select(
            source.id.label("source_id"),
            source.status.label("status"),
            m.label("merchant_id"),
            live.label("livemode"),
            currency.label("currency"),
            amount.label("expected"),
            line.c.id.label("line_id"),
            line.c.amount.label("line_amount"),
            line.c.merchant_id.label("line_merchant_id"),
            line.c.livemode.label("line_livemode"),
            line.c.currency.label("line_currency"),
        )
        .select_from(joined)
        .where(
            calls_for,
            *mine(m, merchant_id),
            sa.or_(
                line.c.id.is_(None),
                line.c.amount != amount,
                line.c.merchant_id != m,
                line.c.livemode != live,
                line.c.currency != currency,
            ),
        )
    )
    return list(rows.mappings())


async def uncalled_lines(conn: AsyncConnection, merchant_id: str | None) -> list[RowMapping]:
    """The lines no source calls for, or whose source is of another ledger or payment: the
    line (`id`, `type`, `source_type`, `source_id`, `payment_id`, its ledger), `found` (its
    source's id, None if there is none), the source's `status` (None for a refund), its
    ledger (`owner_merchant_id`, `owner_livemode`, `owner_currency`), `owner_payment_id`,
    and `called_for` (1 if the source's state calls for the line, else 0)."""
    p, c, d = payments, chargebacks, disbursements
    r, rp = refunds, _refund_payment

    def of(kind: str) -> Any:
        return bt.c.source_type == kind

    source_id = {"payment": p.c.id, "refund": r.c.id, "chargeback": c.c.id, "disbursement": d.c.id}
    joined = (
        bt.outerjoin(p, sa.and_(of("payment"), p.c.id == bt.c.source_id))
        .outerjoin(r, sa.and_(of("refund"), r.c.id == bt.c.source_id))
        .outerjoin(rp, rp.c.id == r.c.payment_id)
        .outerjoin(c, sa.and_(of("chargeback"), c.c.id == bt.c.source_id))
        .outerjoin(d, sa.and_(of("disbursement"), d.c.id == bt.c.source_id))
    )
    called_for = sa.or_(
        *(
            sa.and_(
                bt.c.type == type_,
                of(source.kind),
                source_id[source.kind].is_not(None),
                condition,
            )
            for type_, (source, condition, _) in _EXPECTED.items()
        )
    )
    owner_m = sa.func.coalesce(p.c.merchant_id, rp.c.merchant_id, c.c.merchant_id, d.c.merchant_id)
    owner_live = sa.func.coalesce(p.c.livemode, rp.c.livemode, c.c.livemode, d.c.livemode)
    owner_cur = sa.func.coalesce(p.c.currency, rp.c.currency, c.c.currency, d.c.currency)
    # Its payment: payment, fee and refund lines name theirs; a chargeback's may; a
    # disbursement's names none.
    owner_payment = sa.func.coalesce(p.c.id, r.c.payment_id, c.c.payment_id)
    needs_payment = bt.c.source_type.in_(NAME_PAYMENT)
    wrong_payment = sa.or_(
        sa.and_(bt.c.payment_id.is_not(None), bt.c.payment_id.is_distinct_from(owner_payment)),
        sa.and_(bt.c.payment_id.is_(None), needs_payment),
    )
    rows = await conn.execute(
        sa.select(
            bt.c.id,
            bt.c.type,
            bt.c.source_type,
            bt.c.source_id,
            bt.c.payment_id,
            bt.c.merchant_id,
            bt.c.livemode,
            bt.c.currency,
            sa.func.coalesce(*source_id.values()).label("found"),
            sa.func.coalesce(p.c.status, c.c.status, d.c.status).label("status"),
            owner_m.label("owner_merchant_id"),
            owner_live.label("owner_livemode"),
            owner_cur.label("owner_currency"),
            owner_payment.label("owner_payment_id"),
            sa.case((called_for, 1), else_=0).label("called_for"),
        )
        .select_from(joined)
        .where(
            *mine(bt.c.merchant_id, merchant_id),
            sa.or_(
                sa.not_(called_for),
                bt.c.merchant_id != owner_m,
                bt.c.livemode != owner_live,
                bt.c.currency != owner_cur,
                wrong_payment,
            ),
        )
    )
    return list(rows.mappings())
