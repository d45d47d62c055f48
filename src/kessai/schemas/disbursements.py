"""Disbursements on the wire: the request and query models, the JSON shapes kessai sends
(KOMOJU's `Disbursement`, `DisbursementList`) and the report's CSV.

The bank fields follow Zengin, the Japanese interbank transfer format a disbursement is
paid through: a 4-digit bank code, a 3-digit branch code, an ordinary or checking account
number of 1 to 7 digits, and the account holder's name in katakana as the transfer
carries it (at most 30 columns, a voiced kana such as ガ taking two: ｶﾞ).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, with_config
from typing_extensions import TypedDict

from kessai.core import money, rules
from kessai.core.ledger import DISBURSEMENT_STATUSES
from kessai.schemas.requests import ListParams, Model
from kessai.schemas.resources import listing, timestamp

ACCOUNT_TYPES = ("ordinary", "checking")
NAME_COLUMNS = 30
# What Zengin carries in a name: katakana (half-width, or full-width with the long vowel
# mark), upper-case letters, digits, spaces and its punctuation ( ) - . / , 「 」 ¥ (each
# also in its full-width form).
_KANA = {chr(c) for c in range(0x30A1, 0x30F7)} | {"ー"} | {chr(c) for c in range(0xFF66, 0xFFA0)}
_LETTERS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") | {
    chr(c) for c in (*range(0xFF21, 0xFF3B), *range(0xFF10, 0xFF1A))
}
_PUNCTUATION = set(" \u3000().,/-\\¥「」｢｣（）．，／－‐−￥")
_NAME_CHARACTERS = _KANA | _LETTERS | _PUNCTUATION


def kana_name(value: Any) -> str:
    """An account holder's name as Zengin carries it: returned NFC-normalised and trimmed."""
    if not isinstance(value, str):
        raise rules.Invalid("must be a string")
    name = unicodedata.normalize("NFC", rules.single_line(value)).strip(" \u3000")
    if not name:
        raise rules.Invalid("must not be empty")
    wrong = sorted({c for c in name if c not in _NAME_CHARACTERS})
    if wrong:
        shown = " ".join(rules.printable(c) for c in wrong[:5])
        raise rules.Invalid(
            "must be the account holder's name in katakana (full-width or half-width), with "
            "only upper-case letters, digits, spaces and ( ) - . / , 「 」 besides; "
            f"not allowed: {shown}"
        )
    if not any(c in _KANA or c in _LETTERS for c in name):
        raise rules.Invalid("must hold the account holder's name, not only punctuation")
    if len(unicodedata.normalize("NFD", name)) > NAME_COLUMNS:
        raise rules.Invalid(
            f"must be at most {NAME_COLUMNS} characters as a bank transfer carries it "
            "(half-width; a voiced kana such as ガ counts as two, ｶﾞ)"
        )
    return name


def account_number(value: Any) -> str:
    text = value if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    if text is None or not (1 <= len(text) <= 7 and text.isascii() and text.isdigit()):
        raise rules.Invalid("must be 1 to 7 digits (a Zengin ordinary or checking account)")
    return text


def _positive(value: Any) -> int:
    return rules.integer(value, minimum=1, maximum=money.MAX_AMOUNT)


def _currency(value: Any) -> str:
    code = money.currency(value)
    if code != "JPY":
        raise rules.Invalid(
            "must be JPY: disbursements are paid to Japanese bank accounts (Zengin), in yen",
            "invalid_currency",
        )
    return code


def _choice(*choices: str) -> Any:
    return BeforeValidator(lambda v: rules.one_of(v, choices))


class CreateDisbursement(Model):
    amount: Annotated[int, BeforeValidator(_positive)]
    currency: Annotated[str, BeforeValidator(_currency)]
    account_number: Annotated[str, BeforeValidator(account_number)]
    account_type: Annotated[Literal["ordinary", "checking"], _choice(*ACCOUNT_TYPES)]
    account_name_kana: Annotated[str, BeforeValidator(kana_name)]
    bank_code: Annotated[str, BeforeValidator(lambda v: rules.digits(v, 4))]
    branch_code: Annotated[str, BeforeValidator(lambda v: rules.digits(v, 3))]
    external_id: Annotated[str, BeforeValidator(lambda v: rules.text(v, max_length=255))] | None = (
        None
    )


class CancelDisbursement(Model):
    cancel_reason: Annotated[
        str, BeforeValidator(lambda v: rules.text(v, max_length=500, allow_empty=False))
    ]


Currency = Annotated[str, BeforeValidator(money.currency)]
StatusName = Literal["pending", "paid", "failed", "cancelled"]
Status = Annotated[StatusName, _choice(*DISBURSEMENT_STATUSES)]
Time = Annotated[datetime, BeforeValidator(rules.timestamp)]


class DisbursementListParams(ListParams):
    currency: Currency | None = None


class DisbursementReportParams(Model):
    start_time: Time | None = None
    end_time: Time | None = None
    currency: Currency | None = None
    status: Status | None = None


@with_config(ConfigDict(extra="forbid"))
class Disbursement(TypedDict):
    """KOMOJU's Disbursement. `error`, `external_id` and kessai's `cancel_reason` are ""
    when there is none (the SDK types them as strings, not nullable)."""

    id: str
    resource: Literal["disbursement"]
    currency: str
    amount: int
    fee: int
    fee_tax: int
    status: StatusName
    bank_code: str
    branch_code: str
    account_type: str
    account_number: str
    account_name_kana: str
    error: str
    external_id: str
    cancel_reason: str
    created_at: str
    last_updated_at: str


@with_config(ConfigDict(extra="forbid"))
class DisbursementList(TypedDict):
    resource: Literal["disbursement_list"]
    total: int
    page: int
    per_page: int
    last_page: int
    start_time: str
    end_time: str
    data: list[Disbursement]


Row = Mapping[Any, Any]


def disbursement(row: Row) -> Disbursement:
    return {
        "id": row["id"],
        "resource": "disbursement",
        "currency": row["currency"],
        "amount": int(row["amount"]),
        "fee": int(row["fee"]),
        "fee_tax": int(row["fee_tax"]),
        "status": row["status"],
        "bank_code": row["bank_code"],
        "branch_code": row["branch_code"],
        "account_type": row["account_type"],
        "account_number": row["account_number"],
        "account_name_kana": row["account_name_kana"],
        "error": row["error"] or "",
        "external_id": row["external_id"] or "",
        "cancel_reason": row["cancel_reason"] or "",
        "created_at": timestamp(row["created_at"]),
        "last_updated_at": timestamp(row["updated_at"]),
    }


def disbursement_list(
    data: list[Disbursement], total: int, params: ListParams, now: datetime
) -> DisbursementList:
    page = listing(data, total, params, now)
    return {
        "resource": "disbursement_list",
        "total": page["total"],
        "page": page["page"],
        "per_page": page["per_page"],
        "last_page": page["last_page"],
        "start_time": page["start_time"],
        "end_time": page["end_time"],
        "data": page["data"],
    }


REPORT_COLUMNS = (
    "id",
    "status",
    "currency",
    "amount",
    "fee",
    "fee_tax",
    "bank_code",
    "branch_code",
    "account_type",
    "account_number",
    "account_name_kana",
    "external_id",
    "error",
    "cancel_reason",
    "created_at",
    "last_updated_at",
)
# A cell a spreadsheet would run as a formula (OWASP's CSV injection): such text is
# prefixed with an apostrophe. Amounts are never negative, so numbers are never touched.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def report_csv(rows: Iterable[Row]) -> str:
    """The report: a header line, then one line per disbursement, oldest first (RFC 4180,
    CRLF line ends, UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    for row in rows:
        body: Mapping[str, object] = disbursement(row)
        writer.writerow([_cell(body[column]) for column in REPORT_COLUMNS])
    return out.getvalue()
