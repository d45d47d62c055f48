"""The wire edge of balances, balance transactions, settlements and the ledger settings:
their JSON shapes (TypedDicts, as in `kessai.schemas.shapes`), the request models, and the
builders from stored rows (KOMOJU SDK types Settlement, SettlementShow, SettlementList,
ShowBalance200Response, BalanceTransactionList, Transaction).

Amounts are signed as the merchant sees them (credits positive, debits negative), in the
currency's minor unit; a settlement's and a balance's sections are `core.ledger.sections`
of their per-type totals, so each adds up from the transactions alone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, WithJsonSchema, with_config
from typing_extensions import TypedDict

from kessai.core import ledger as rules
from kessai.core.rules import Invalid, one_of
from kessai.core.times import iso
from kessai.schemas.requests import ListParams, Model

CLOSED = ConfigDict(extra="forbid")
Row = Mapping[Any, Any]
CSV_COLUMNS = (
    "id",
    "type",
    "amount",
    "currency",
    "source_type",
    "source_id",
    "payment_id",
    "happened_at",
)


@with_config(CLOSED)
class PaymentsSection(TypedDict):
    captured_amount_total_cents: int
    processing_fees_cents: int
    total_cents: int


@with_config(CLOSED)
class RefundsSection(TypedDict):
    refunded_amount_total_cents: int
    refund_processing_fees_cents: int
    refunded_customer_fees_cents: int
    total_cents: int


@with_config(CLOSED)
class CorrectionsSection(TypedDict):
    total_cents: int
    chargebacks_total_cents: int
    chargeback_reversals_total_cents: int


@with_config(CLOSED)
class TotalSection(TypedDict):
    total_cents: int


@with_config(CLOSED)
class DisbursementsSection(TypedDict):
    disbursement_amount_total_cents: int
    disbursement_fee_total_cents: int
    total_cents: int


@with_config(CLOSED)
class MiscSection(TypedDict):
    clearings_total_cents: int
    komoju_card_discount_total_cents: int
    chargeback_fixed_fee_total_cents: int
    other_fee_adjustments_total_cents: int
    total_cents: int


@with_config(CLOSED)
class SettlementDownload(TypedDict):
    csv: str | None
    xls: str | None


@with_config(CLOSED)
class Settlement(TypedDict):
    id: str
    resource: Literal["settlement"]
    reference: str
    status: str
    merchant_name: str
    company_name: str | None
    cycle: str
    transaction_amount_cents: int
    currency: str
    fee_amount_cents: int
    fee_tax_amount_cents: int
    settlement_amount_cents: int
    fx_currency: str
    fx_conversion_rate: str
    fx_conversion_amount_cents: int
    bank_transfer_fee_amount_cents: int
    remittance_amount_cents: int
    cutoff_time: str
    created_at: str
    download: SettlementDownload


@with_config(CLOSED)
class SettlementShow(Settlement):
    payments: PaymentsSection
    refunds: RefundsSection
    corrections: CorrectionsSection
    komoju_card_charges: TotalSection
    disbursements: DisbursementsSection
    misc: MiscSection


@with_config(CLOSED)
class BalanceShow(TypedDict):
    """`GET /balances/{currency}` (the SDK's ShowBalance200Response), with kessai's
    `unsettled_balance_cents`: what no settlement covers yet."""

    currency: str
    total_balance_cents: int
    unsettled_balance_cents: int
    payments: PaymentsSection
    refunds: RefundsSection
    corrections: CorrectionsSection
    komoju_card_charges: TotalSection
    disbursements: DisbursementsSection
    misc: MiscSection


@with_config(CLOSED)
class Transaction(TypedDict):
    """A balance transaction: `amount_cents` and `amount` are the same signed amount;
    `source` is the id of the object that moved the money (`source_type`)."""

    id: str
    type: str
    amount_cents: int
    amount: int
    currency: str
    happened_at: str
    source_type: str
    source: str
    payment: str | None
    settlement: str | None


class _Page(TypedDict):
    """A page of a list; `start_time`/`end_time` are the range asked for, or when open,
    the oldest record on the page and the time of the answer."""

    resource: Literal["list"]
    total: int
    page: int
    per_page: int
    last_page: int
    start_time: str
    end_time: str


@with_config(CLOSED)
class BalanceTransactionList(_Page):
    data: list[Transaction]


@with_config(CLOSED)
class SettlementList(_Page):
    data: list[Settlement]


@with_config(CLOSED)
class FeeRate(TypedDict):
    percent: str
    fixed: int


@with_config(CLOSED)
class LedgerSettings(TypedDict):
    """kessai's own: the fees and settlement schedule of the key's merchant and mode."""

    resource: Literal["ledger_settings"]
    livemode: bool
    settlement_schedule: str
    next_cutoff_at: str
    fees: dict[str, FeeRate]


def _type(value: Any) -> str:
    return one_of(value, tuple(rules.TYPES))


def _schedule(value: Any) -> str:
    return one_of(value, rules.SCHEDULES)


def _object(value: Any) -> Any:
    if not isinstance(value, dict):
        raise Invalid("must be an object")
    return value


class TransactionListParams(ListParams):
    type: (
        Annotated[
            str,
            BeforeValidator(_type),
            WithJsonSchema({"type": "string", "enum": list(rules.TYPES)}),
        ]
        | None
    ) = None


FEES_SCHEMA = {
    "type": "object",
    "description": "Rates by payment type, e.g. "
    '`{"credit_card": {"percent": "3.4", "fixed": 0}}`: `percent` a string with at most '
    "two decimals, `fixed` (default 0) an integer in the currency's minor unit; `null` "
    "for a type goes back to its default rate. Types not given keep their rates.",
    "additionalProperties": {
        "anyOf": [
            {
                "type": "object",
                "properties": {"percent": {"type": "string"}, "fixed": {"type": "integer"}},
                "required": ["percent"],
            },
            {"type": "null"},
        ]
    },
}


class LedgerSettingsParams(Model):
    """`PATCH /kessai/v1/ledger/settings`: either or both."""

    settlement_schedule: (
        Annotated[
            str,
            BeforeValidator(_schedule),
            WithJsonSchema({"type": "string", "enum": list(rules.SCHEDULES)}),
        ]
        | None
    ) = None
    fees: (
        Annotated[dict[str, Any], BeforeValidator(_object), WithJsonSchema(FEES_SCHEMA)] | None
    ) = None


def transaction(row: Row) -> Transaction:
    return {
        "id": row["id"],
        "type": row["type"],
        "amount_cents": int(row["amount"]),
        "amount": int(row["amount"]),
        "currency": row["currency"],
        "happened_at": iso(row["happened_at"]) or "",
        "source_type": row["source_type"],
        "source": row["source_id"],
        "payment": row["payment_id"],
        "settlement": row["settlement_id"],
    }


def _page(total: int, params: ListParams, now: datetime, oldest: str | None) -> _Page:
    start = iso(params.start_time) if params.start_time else (oldest or iso(now))
    return {
        "resource": "list",
        "total": total,
        "page": params.page,
        "per_page": params.per_page,
        "last_page": max(1, -(-total // params.per_page)),
        "start_time": start or "",
        "end_time": iso(params.end_time or now) or "",
    }


def transaction_list(
    data: list[Transaction], total: int, params: ListParams, now: datetime
) -> BalanceTransactionList:
    oldest = min((item["happened_at"] for item in data), default=None)
    return {**_page(total, params, now, oldest), "data": data}


def settlement(row: Row, merchant_name: str, base_url: str) -> Settlement:
    totals: Mapping[str, int] = row["totals"]
    fee = int(totals.get("fee", 0))
    moved = sum(
        int(totals.get(kind, 0))
        for kind in ("payment", "refund", "chargeback", "chargeback_reversal")
    )
    amount = int(row["amount"])
    return {
        "id": row["id"],
        "resource": "settlement",
        "reference": row["reference"],
        "status": row["status"],
        "merchant_name": merchant_name,
        "company_name": None,
        "cycle": row["cycle"],
        "transaction_amount_cents": moved,
        "currency": row["currency"],
        "fee_amount_cents": fee,
        "fee_tax_amount_cents": 0,
        "settlement_amount_cents": amount,
        "fx_currency": row["currency"],
        "fx_conversion_rate": "1.0",
        "fx_conversion_amount_cents": amount,
        "bank_transfer_fee_amount_cents": 0,
        "remittance_amount_cents": amount,
        "cutoff_time": iso(row["cutoff_time"]) or "",
        "created_at": iso(row["created_at"]) or "",
        "download": {"csv": f"{base_url}/api/v1/settlements/{row['id']}/csv", "xls": None},
    }


def settlement_list(
    data: list[Settlement], total: int, params: ListParams, now: datetime
) -> SettlementList:
    oldest = min((item["created_at"] for item in data), default=None)
    return {**_page(total, params, now, oldest), "data": data}


def settlement_show(row: Row, merchant_name: str, base_url: str) -> SettlementShow:
    parts = rules.sections(row["totals"])
    return {
        **settlement(row, merchant_name, base_url),
        "payments": parts["payments"],
        "refunds": parts["refunds"],
        "corrections": parts["corrections"],
        "komoju_card_charges": parts["komoju_card_charges"],
        "disbursements": parts["disbursements"],
        "misc": parts["misc"],
    }


def balance(currency: str, totals: Mapping[str, int], unsettled: int) -> BalanceShow:
    parts = rules.sections(totals)
    return {
        "currency": currency,
        "total_balance_cents": rules.net(totals),
        "unsettled_balance_cents": unsettled,
        "payments": parts["payments"],
        "refunds": parts["refunds"],
        "corrections": parts["corrections"],
        "komoju_card_charges": parts["komoju_card_charges"],
        "disbursements": parts["disbursements"],
        "misc": parts["misc"],
    }


def settlement_csv(rows: Sequence[Row]) -> str:
    """One line per transaction of the settlement, oldest first, after the header: the
    amounts add up to its `settlement_amount_cents`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row["id"],
                row["type"],
                int(row["amount"]),
                row["currency"],
                row["source_type"],
                row["source_id"],
                row["payment_id"] or "",
                iso(row["happened_at"]),
            ]
        )
    return out.getvalue()


def ledger_settings(view: Mapping[str, Any], livemode: bool) -> LedgerSettings:
    return {
        "resource": "ledger_settings",
        "livemode": livemode,
        "settlement_schedule": view["settlement_schedule"],
        "next_cutoff_at": view["next_cutoff_at"],
        "fees": {
            slug: {"percent": str(rate["percent"]), "fixed": int(rate["fixed"])}
            for slug, rate in view["fees"].items()
        },
    }
