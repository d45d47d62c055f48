"""The ledger's rules: transaction types and signs, what a settlement's and a balance's
sections add up to, and the chargeback and disbursement state machines. Pure, no I/O.

Every amount is signed as the merchant sees it: credits positive, debits negative. A
settlement or a balance is the sum of its transactions, and each section below is the sum
of the types it names, so every total can be recomputed from the transactions alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

# type -> (sign, source_type)
TYPES: dict[str, tuple[int, str]] = {
    "payment": (1, "payment"),  # a captured payment's total
    "fee": (-1, "payment"),  # the merchant's fee on it (`core.fees`)
    "refund": (-1, "refund"),
    "chargeback": (-1, "chargeback"),  # a dispute opened: its amount is taken back
    "chargeback_reversal": (1, "chargeback"),  # the dispute won: given back
    "disbursement": (-1, "disbursement"),  # a payout to the merchant's bank account
    "disbursement_reversal": (1, "disbursement"),  # cancelled or failed: given back
}


def signed(type_: str, amount: int) -> int:
    """The transaction amount of a move of `amount` (>= 0) of this type."""
    return TYPES[type_][0] * amount


def sections(totals: Mapping[str, int]) -> dict[str, Any]:
    """KOMOJU's breakdown (SettlementShow, BalanceShow) of per-type signed totals. Each
    `total_cents` is the sum of its section's fields; the sections add up to the whole."""
    t = {name: int(totals.get(name, 0)) for name in TYPES}
    chargebacks = t["chargeback"] + t["chargeback_reversal"]
    disbursed = t["disbursement"] + t["disbursement_reversal"]
    return {
        "payments": {
            "captured_amount_total_cents": t["payment"],
            "processing_fees_cents": t["fee"],
            "total_cents": t["payment"] + t["fee"],
        },
        "refunds": {
            "refunded_amount_total_cents": t["refund"],
            "refund_processing_fees_cents": 0,
            "refunded_customer_fees_cents": 0,
            "total_cents": t["refund"],
        },
        "corrections": {
            "total_cents": chargebacks,
            "chargebacks_total_cents": t["chargeback"],
            "chargeback_reversals_total_cents": t["chargeback_reversal"],
        },
        "komoju_card_charges": {"total_cents": 0},
        "disbursements": {
            "disbursement_amount_total_cents": disbursed,
            "disbursement_fee_total_cents": 0,
            "total_cents": disbursed,
        },
        "misc": {
            "clearings_total_cents": 0,
            "komoju_card_discount_total_cents": 0,
            "chargeback_fixed_fee_total_cents": 0,
            "other_fee_adjustments_total_cents": 0,
            "total_cents": 0,
        },
    }


def net(totals: Mapping[str, int]) -> int:
    return sum(int(v) for v in totals.values())


# Chargebacks move scheduled -> pending -> accepted | expired | defended -> cancelled |
# lost, each move a conditional update on the status it leaves (`store.chargebacks.move`).
# `scheduled` is kessai's own (planned in test mode, not yet opened; never shown). A won
# dispute ends `cancelled`: the cardholder's claim is withdrawn.
CHARGEBACK_STATUSES = ("pending", "accepted", "cancelled", "expired", "defended", "lost")

# Disbursements move pending -> paid | failed | cancelled (`store.disbursements.move`).
DISBURSEMENT_STATUSES = ("pending", "paid", "failed", "cancelled")


# Settlement schedules: cycles end at midnight in Japan (KOMOJU's time zone).
JST = timezone(timedelta(hours=9))
SCHEDULES = ("daily", "weekly", "monthly")
DEFAULT_SCHEDULE = "weekly"


def next_cutoff(schedule: str, after: datetime) -> datetime:
    """The first cycle end strictly after `after`: the next midnight (daily), the next
    Monday's (weekly) or the next first of the month's (monthly), in Japan, as UTC."""
    local = after.astimezone(JST)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if schedule == "daily":
        found = midnight + timedelta(days=1)
    elif schedule == "weekly":
        found = midnight + timedelta(days=7 - midnight.weekday())
    elif schedule == "monthly":
        found = (midnight.replace(day=1) + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"unknown settlement schedule {schedule!r}")
    return found.astimezone(UTC)


def cycle_name(schedule: str, cutoff: datetime) -> str:
    """The cycle that ends at `cutoff`, named by its last day: "2026-12-01" (daily),
    "2026-W48" (weekly, ISO week), "2026-11" (monthly)."""
    last_day = (cutoff.astimezone(JST) - timedelta(days=1)).date()
    if schedule == "weekly":
        year, week, _ = last_day.isocalendar()
        return f"{year}-W{week:02d}"
    if schedule == "monthly":
        return f"{last_day.year}-{last_day.month:02d}"
    return last_day.isoformat()


@dataclass(frozen=True)
class Violation:
    """A ledger invariant found broken (`kessai.services.ledger_check`), in the ledger of
    `merchant_id`'s mode and `currency`; `kind` is stable, `detail` names the rows."""

    kind: str
    merchant_id: str
    livemode: bool
    currency: str
    detail: str

    def line(self) -> str:
        mode = "live" if self.livemode else "test"
        return f"{self.kind}: {self.merchant_id} {mode} {self.currency}: {self.detail}"
