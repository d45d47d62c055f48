"""The wire edge of chargebacks: their JSON shapes (TypedDicts, as in
`kessai.schemas.shapes`), the request models, and the builders from stored rows (KOMOJU SDK
types ChargebackRequestDetail, ChargebackRequestListItem, ChargebackRequestList,
DefendChargebackRequestBody).

A defense's document arrives base64-encoded; its type is read from its first bytes (PDF,
JPEG, PNG or GIF), never from the file name or the content type the client gives.
"""

from __future__ import annotations

import re
from base64 import b64decode
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, WithJsonSchema, with_config
from typing_extensions import TypedDict

from kessai.core import rules
from kessai.core.ledger import CHARGEBACK_STATUSES
from kessai.core.rules import Invalid
from kessai.core.times import iso
from kessai.schemas.requests import ListParams, Model
from kessai.schemas.shapes import ListPage

CLOSED = ConfigDict(extra="forbid")
Row = Mapping[Any, Any]

# KOMOJU's internal reason codes ("CB_Fraud"), each with its human-readable reason.
REASONS = {
    "CB_Fraud": "The cardholder does not recognise the payment (fraud).",
    "CB_NotReceived": "The cardholder says the goods or services were not received.",
    "CB_NotAsDescribed": "The cardholder says the goods or services were not as described.",
    "CB_Duplicate": "The cardholder says the payment was processed more than once.",
    "CB_CreditNotProcessed": "The cardholder says a promised refund was not made.",
    "CB_Cancelled": "The cardholder says a cancelled recurring payment was still taken.",
    "CB_Other": "The cardholder disputes the payment.",
}
DEFAULT_REASON = "CB_Fraud"
OUTCOMES = ("won", "lost")  # what a defense gets in test mode
MAX_DOCUMENT_BYTES = 15 * 1024 * 1024  # KOMOJU's "15 MB", decoded
DOCUMENT_TYPES = (  # (leading bytes, MIME type, file extension)
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)
_WHITESPACE = re.compile(r"\s+")


@with_config(CLOSED)
class ChargebackPaymentMethod(TypedDict):
    type: str
    brand: str | None
    last_four_digits: str | None


@with_config(CLOSED)
class ChargebackPayment(TypedDict):
    id: str
    amount: int
    currency: str
    created_at: str
    captured_at: str | None
    payment_method: ChargebackPaymentMethod
    masked_card_number: str | None


@with_config(CLOSED)
class ChargebackCustomer(TypedDict):
    name: str | None
    email: str | None


@with_config(CLOSED)
class ChargebackTimelineEntry(TypedDict):
    type: str
    occurred_at: str


@with_config(CLOSED)
class ChargebackDefenseShippingInfo(TypedDict):
    company_name: str | None
    shipping_date: str | None
    tracking_number: str | None
    shipping_address: str | None


@with_config(CLOSED)
class ChargebackDefenseRecipientInfo(TypedDict):
    name: str | None
    phone: str | None
    email: str | None


@with_config(CLOSED)
class ChargebackDefenseDocument(TypedDict):
    file_name: str
    content_type: str
    file_size: int
    uploaded_at: str
    url: str


@with_config(CLOSED)
class ChargebackDefense(TypedDict):
    """The defense; before there is one, `reason` is "" and `documents` empty."""

    product_name: str | None
    reason: str
    shipping_info: ChargebackDefenseShippingInfo
    recipient_info: ChargebackDefenseRecipientInfo
    documents: list[ChargebackDefenseDocument]


@with_config(CLOSED)
class ChargebackRequestDetail(TypedDict):
    """KOMOJU's detail; `resource`, `amount` and `currency` (what is disputed) are
    kessai's own (an event's data names its resource)."""

    id: str
    resource: Literal["chargeback_request"]
    status: str
    reason_code: str
    reason: str
    amount: int
    currency: str
    created_at: str
    due_date: str
    last_updated_at: str
    timeline: list[ChargebackTimelineEntry]
    payment: ChargebackPayment
    customer: ChargebackCustomer
    defense: ChargebackDefense


@with_config(CLOSED)
class ChargebackRequestListItem(TypedDict):
    id: str
    payment_id: str
    amount: int
    currency: str
    payment_method: ChargebackPaymentMethod
    reason_code: str
    reason: str
    created_at: str
    due_date: str
    status: str


ChargebackRequestList = ListPage[ChargebackRequestListItem]


def _text(max_length: int, *, allow_empty: bool = True) -> Any:
    return BeforeValidator(lambda v: rules.text(v, max_length=max_length, allow_empty=allow_empty))


def _choice(*choices: str) -> Any:
    return BeforeValidator(lambda v: rules.one_of(v, choices))


def _object(value: Any) -> Any:
    if not isinstance(value, dict):
        raise Invalid("must be an object")
    return value


def _date(value: Any) -> str:
    text = rules.text(value, max_length=10)
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise Invalid("must be a date, like 2026-05-20")


@dataclass(frozen=True)
class Upload:
    """A document as sent: its base64 text (whitespace removed) and what its bytes are."""

    base64: str
    size: int
    content_type: str
    extension: str


def document_type(content: bytes) -> tuple[str, str] | None:
    """(MIME type, extension) of a PDF, JPEG, PNG or GIF file, read from its first bytes."""
    for magic, mime, extension in DOCUMENT_TYPES:
        if content.startswith(magic):
            return mime, extension
    return None


def _upload(value: Any) -> Upload:
    if not isinstance(value, str):
        raise Invalid("must be a string: the file's bytes, base64-encoded")
    text = _WHITESPACE.sub("", value)  # line-wrapped base64 (76 columns) is fine
    if not text:
        raise Invalid("must not be empty: send the file's bytes, base64-encoded")
    text += "=" * (-len(text) % 4)  # so is base64 without its padding
    padding = len(text) - len(text.rstrip("="))
    if len(text) // 4 * 3 - padding > MAX_DOCUMENT_BYTES:
        raise Invalid(f"must be a file of at most 15 MB ({MAX_DOCUMENT_BYTES} bytes) decoded")
    try:
        content = b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or a character that is not ASCII
        raise Invalid("must be base64-encoded (A-Z, a-z, 0-9, + and /)") from None
    found = document_type(content)
    if found is None:
        raise Invalid("must be a PDF, JPEG, PNG or GIF file (the type is read from its bytes)")
    return Upload(text, len(content), *found)


Str255 = Annotated[str, _text(255)]
UploadField = Annotated[
    Upload,
    BeforeValidator(_upload),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]


class DefendDocument(Model):
    document_base64: UploadField
    filename: Str255 | None = None
    content_type: Annotated[str, _text(100)] | None = None  # a hint: the bytes decide


class DefendShippingInfo(Model):
    company_name: Str255 | None = None
    shipping_date: Annotated[str, BeforeValidator(_date)] | None = None
    tracking_number: Str255 | None = None
    shipping_address: Annotated[str, _text(1000)] | None = None


class DefendRecipientInfo(Model):
    name: Str255 | None = None
    phone: Annotated[str, _text(30)] | None = None
    email: Annotated[str, BeforeValidator(rules.email)] | None = None


class DefendChargeback(Model):
    """`POST /chargeback_requests/{id}/defend` (DefendChargebackRequestBody)."""

    description: Annotated[str, _text(10_000, allow_empty=False)]
    document: Annotated[DefendDocument, BeforeValidator(_object)]
    product_name: Str255 | None = None
    shipping_info: Annotated[DefendShippingInfo, BeforeValidator(_object)] | None = None
    recipient_info: Annotated[DefendRecipientInfo, BeforeValidator(_object)] | None = None


class OpenChargeback(Model):
    """`POST /kessai/v1/chargebacks` (test mode): open a chargeback on a payment now."""

    payment_id: Annotated[str, _text(25, allow_empty=False)]
    outcome: Annotated[str, _choice(*OUTCOMES)] = "won"
    reason_code: Annotated[str, _choice(*REASONS)] | None = None


class ChargebackListParams(ListParams):
    status: Annotated[str, _choice(*CHARGEBACK_STATUSES)] | None = None
    payment_id: Annotated[str, _text(25)] | None = None
    due_date_start: Annotated[datetime, BeforeValidator(rules.timestamp)] | None = None
    due_date_end: Annotated[datetime, BeforeValidator(rules.timestamp)] | None = None


def timeline_entry(kind: str, when: datetime) -> dict[str, str]:
    return {"type": kind, "occurred_at": iso(when) or ""}


def stored_defense(params: DefendChargeback, chargeback_id: str, now: datetime) -> dict[str, Any]:
    """What is kept of a defense (shown as is, with each document's url added)."""
    shipping = params.shipping_info or DefendShippingInfo()
    recipient = params.recipient_info or DefendRecipientInfo()
    upload = params.document.document_base64
    return {
        "product_name": params.product_name,
        "reason": params.description,
        "shipping_info": shipping.model_dump(),
        "recipient_info": recipient.model_dump(),
        "documents": [
            {
                "file_name": params.document.filename
                or f"defense-{chargeback_id}.{upload.extension}",
                "content_type": upload.content_type,
                "file_size": upload.size,
                "uploaded_at": iso(now) or "",
            }
        ],
    }


def document_url(base_url: str, chargeback_id: str) -> str:
    return f"{base_url}/kessai/v1/chargebacks/{chargeback_id}/document"


def defense(
    stored: Mapping[str, Any] | None, chargeback_id: str, base_url: str
) -> ChargebackDefense:
    if stored is None:
        return {
            "product_name": None,
            "reason": "",
            "shipping_info": {
                "company_name": None,
                "shipping_date": None,
                "tracking_number": None,
                "shipping_address": None,
            },
            "recipient_info": {"name": None, "phone": None, "email": None},
            "documents": [],
        }
    url = document_url(base_url, chargeback_id)
    return {
        "product_name": stored["product_name"],
        "reason": stored["reason"],
        "shipping_info": stored["shipping_info"],
        "recipient_info": stored["recipient_info"],
        "documents": [
            {
                "file_name": doc["file_name"],
                "content_type": doc["content_type"],
                "file_size": doc["file_size"],
                "uploaded_at": doc["uploaded_at"],
                "url": url,
            }
            for doc in stored["documents"]
        ],
    }


def payment_method(payment: Row) -> ChargebackPaymentMethod:
    details = payment["payment_details"] or {}
    return {
        "type": payment["payment_type"],
        "brand": details.get("brand"),
        "last_four_digits": details.get("last_four_digits"),
    }


def _payment(payment: Row) -> ChargebackPayment:
    last_four = (payment["payment_details"] or {}).get("last_four_digits")
    return {
        "id": payment["id"],
        "amount": payment["amount_captured"],
        "currency": payment["currency"],
        "created_at": iso(payment["created_at"]) or "",
        "captured_at": iso(payment["captured_at"]),
        "payment_method": payment_method(payment),
        "masked_card_number": f"{'*' * 12}{last_four}" if last_four else None,
    }


def _customer(payment: Row) -> ChargebackCustomer:
    details = payment["payment_details"] or {}
    names = [payment["customer_family_name"], payment["customer_given_name"]]
    name = details.get("name") or " ".join(n for n in names if n) or None
    return {"name": name, "email": details.get("email") or None}


def detail(row: Row, payment: Row, base_url: str) -> ChargebackRequestDetail:
    return {
        "id": row["id"],
        "resource": "chargeback_request",
        "status": row["status"],
        "reason_code": row["reason_code"],
        "reason": row["reason"],
        "amount": row["amount"],
        "currency": row["currency"],
        "created_at": iso(row["created_at"]) or "",
        "due_date": iso(row["due_date"]) or "",
        "last_updated_at": iso(row["updated_at"]) or "",
        "timeline": [{"type": e["type"], "occurred_at": e["occurred_at"]} for e in row["timeline"]],
        "payment": _payment(payment),
        "customer": _customer(payment),
        "defense": defense(row["defense"], row["id"], base_url),
    }


def list_item(row: Row, payment: Row) -> ChargebackRequestListItem:
    return {
        "id": row["id"],
        "payment_id": row["payment_id"],
        "amount": row["amount"],
        "currency": row["currency"],
        "payment_method": payment_method(payment),
        "reason_code": row["reason_code"],
        "reason": row["reason"],
        "created_at": iso(row["created_at"]) or "",
        "due_date": iso(row["due_date"]) or "",
        "status": row["status"],
    }
