"""The JSON objects kessai sends: sessions, payments and pay results (contract 2 and 3).

Pure functions from stored rows to plain dicts; they validate against the KOMOJU SDK
schemas in shared/reference. Each returns a TypedDict of `kessai.schemas.shapes`, the types
the OpenAPI document's response schemas are made from.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, overload

from kessai.core.payment_types import CARD_BRANDS, KONBINI_STORES, PAYMENT_TYPES
from kessai.core.sessions import CUSTOMER_MODES, PAYMENT_MODES, is_expired
from kessai.core.times import iso
from kessai.schemas.requests import ListParams
from kessai.schemas.shapes import (
    AvailableMethod,
    BarcodePending,
    BarcodeReady,
    Customer,
    ExternalCustomerDeleted,
    ListPage,
    Payment,
    PaymentMethod,
    PayResult,
    Refund,
    RefundRequest,
    SecureToken,
    Session,
    Subscription,
    SubscriptionCustomer,
    SubscriptionList,
    Token,
)

Row = Mapping[Any, Any]
Item = TypeVar("Item", bound=Mapping[str, Any])

if TYPE_CHECKING:

    @overload
    def timestamp(value: datetime) -> str: ...
    @overload
    def timestamp(value: None) -> None: ...
    def timestamp(value: datetime | None) -> str | None: ...

else:
    timestamp = iso


def refund(row: Row) -> Refund:
    return {
        "id": row["id"],
        "resource": "refund",
        "amount": row["amount"],
        "currency": row["currency"],
        "payment": row["payment_id"],
        "description": row["description"] or "",
        "created_at": timestamp(row["created_at"]),
        "chargeback": False,
    }


def refund_request(row: Row) -> RefundRequest:
    return {
        "id": row["id"],
        "resource": "refund_request",
        "payment": row["payment_id"],
        "customer_name": row["customer_name"],
        "bank_name": row["bank_name"],
        "bank_code": row["bank_code"] or "",
        "branch_name": row["branch_name"] or "",
        "branch_number": row["branch_number"],
        "account_type": row["account_type"],
        "account_number": row["account_number"],
        "amount": row["amount"],
        "include_payment_method_fee": row["include_payment_method_fee"],
        "description": row["description"] or "",
        "status": row["status"],
        "created_at": timestamp(row["created_at"]),
    }


def payment(row: Row, refunds: Sequence[Row] = (), refund_requests: Sequence[Row] = ()) -> Payment:
    """A payment. After a capture, `amount` is what was captured (a partial capture takes
    less than was authorized)."""
    tax, fee = row["tax"], row["payment_method_fee"]
    settled = row["status"] in ("captured", "refunded")
    amount = row["amount_captured"] if settled else row["amount"]
    return {
        "id": row["id"],
        "resource": "payment",
        "status": row["status"],
        "amount": amount,
        "tax": tax,
        "payment_method_fee": fee,
        "total": amount + tax + fee,
        "currency": row["currency"],
        "description": row["description"],
        "captured_at": timestamp(row["captured_at"]),
        "external_order_num": row["external_order_num"],
        "metadata": row["metadata"] or {},
        "created_at": timestamp(row["created_at"]),
        "amount_refunded": row["amount_refunded"],
        "processing_fee": row["processing_fee"],
        "locale": row["locale"],
        "session": row["session_id"],
        "customer": row["customer_id"],
        "customer_family_name": row["customer_family_name"],
        "customer_given_name": row["customer_given_name"],
        "mcc": row["mcc"],
        "statement_descriptor": row["statement_descriptor"],
        "payment_deadline": timestamp(row["payment_deadline"]),
        "payment_details": {"type": row["payment_type"], **row["payment_details"]},
        "refunds": [refund(r) for r in refunds],
        "refund_requests": [refund_request(r) for r in refund_requests],
    }


def customer(row: Row) -> Customer:
    source = row["source"]
    body: Customer = {
        "id": row["id"],
        "resource": "customer",
        "email": row["email"],
        "source": {"type": "credit_card", **source} if source else None,
        "metadata": row["metadata"] or {},
        "created_at": timestamp(row["created_at"]),
    }
    for optional in ("currency", "locale"):  # present once set
        if row[optional] is not None:
            body[optional] = row[optional]
    return body


def token(row: Row) -> Token:
    return {
        "id": row["id"],
        "resource": "token",
        "created_at": timestamp(row["created_at"]),
        "payment_details": {"type": row["payment_type"], **row["payment_details"]},
    }


def external_customer_deleted(external_id: str) -> ExternalCustomerDeleted:
    return {"id": external_id}


def secure_token(row: Row, status: str, authentication_url: str) -> SecureToken:
    """`status` as of now (an unused token past its time is EXPIRED); the challenge page's
    address while the customer still has to authenticate."""
    body: SecureToken = {
        "id": row["id"],
        "resource": "secure_token",
        "created_at": timestamp(row["created_at"]),
        "verification_status": status,  # type: ignore[typeddict-item]
        "amount": row["amount"],
        "currency": row["currency"],
        "payment_details": {"type": "credit_card", **row["payment_details"]},
    }
    if status == "NEEDS_VERIFY":
        body["authentication_url"] = authentication_url
    if row["three_ds_auth_result"] is not None:
        body["three_ds_auth_result"] = row["three_ds_auth_result"]
    return body


def available_method(slug: str, currency: str) -> AvailableMethod:
    ptype = PAYMENT_TYPES[slug]
    return {
        "type_slug": slug,
        "name_en": ptype.name_en,
        "name_ja": ptype.name_ja,
        "name_ko": ptype.name_ko,
        "currency": currency,
        "subtypes": list(KONBINI_STORES) if slug == "konbini" else [],
    }


def listing(data: list[Item], total: int, params: ListParams, now: datetime) -> ListPage[Item]:
    """A page of a list. `start_time`/`end_time` are the range asked for; when open, the
    oldest record on the page and the time of the answer."""
    oldest = min((item["created_at"] for item in data), default=None)
    return {
        "resource": "list",
        "total": total,
        "page": params.page,
        "per_page": params.per_page,
        "last_page": max(1, -(-total // params.per_page)),
        "start_time": (
            timestamp(params.start_time) if params.start_time else (oldest or timestamp(now))
        ),
        "end_time": timestamp(params.end_time or now),
        "data": data,
    }


def payment_method(slug: str, amount: int, currency: str) -> PaymentMethod:
    ptype = PAYMENT_TYPES[slug]
    method: PaymentMethod = {
        "type": slug,
        "amount": amount,
        "currency": currency,
        "exchange_rate": 1,
        "offsite": ptype.offsite,
        "customer_fee": 0,
    }
    if slug == "credit_card":
        method["brands"] = list(CARD_BRANDS)
    elif slug == "konbini":  # keyed by store, as komoju-fields reads them
        method["brands"] = {
            store: {"icon": f"/payment_methods/konbini/{store}.svg"} for store in KONBINI_STORES
        }
    return method


def session(row: Row, *, base_url: str, now: datetime, payment_row: Row | None = None) -> Session:
    body: Session = {
        "id": row["id"],
        "resource": "session",
        "mode": row["mode"],
        "amount": row["amount"],
        "currency": row["currency"],
        "session_url": f"{base_url}/sessions/{row['id']}",
        "return_url": row["return_url"],
        "default_locale": row["default_locale"],
        "payment_methods": [
            payment_method(slug, row["amount"], row["currency"]) for slug in row["payment_types"]
        ],
        "created_at": timestamp(row["created_at"]),
        "cancelled_at": timestamp(row["cancelled_at"]),
        "completed_at": timestamp(row["completed_at"]),
        "expires_at": timestamp(row["expires_at"]),
        "status": row["status"],
        "expired": is_expired(row["status"], row["expires_at"], now),
        "merchant": {"name": row["merchant_name"]},
        "metadata": row["metadata"] or {},
        "payment": payment(payment_row) if payment_row is not None else None,
        "secure_token": None,
        "external_customer_id": row["external_customer_id"],
    }
    if row["mode"] in PAYMENT_MODES:
        body["payment_data"] = row["payment_data"] or {"capture": "auto"}
    if row["mode"] in CUSTOMER_MODES:
        body["customer_id"] = row["customer_id"]
    if row["line_items"] is not None:
        body["line_items"] = row["line_items"]
    if row["email"] is not None:
        body["email"] = row["email"]
    return body


def pay_result(status: str, redirect_url: str | None, payment_body: Payment | None) -> PayResult:
    body: PayResult = {"status": status, "redirect_url": redirect_url}
    if payment_body is not None:
        body["payment"] = payment_body
    return body


def barcode_ready(expires_at: datetime, png: bytes) -> BarcodeReady:
    return {
        "status": "ready",
        "expires_at": timestamp(expires_at),
        "image": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
    }


def barcode_pending(retry_after: int) -> BarcodePending:
    return {"status": "pending", "retry_after": retry_after}


def numeric_id(object_id: str) -> int:
    """A stable number for an id, where KOMOJU's types want its internal numeric id: the
    id's first 10 characters read in base 36 (below 2**53, exact in JSON numbers)."""
    return int(object_id[:10], 36)


def subscription_customer(row: Row, currency: str) -> SubscriptionCustomer:
    return {
        "id": numeric_id(row["id"]),
        "uuid": row["id"],
        "merchant_id": numeric_id(row["merchant_id"]),
        "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["updated_at"]),
        "email": row["email"],
        "currency": row["currency"] or currency,
        "locale": row["locale"] or "ja",
        "name": None,
        "phone": None,
        "archived_at": timestamp(row["deleted_at"]),
    }


def subscription(row: Row, customer_row: Row, payment_ids: Sequence[str]) -> Subscription:
    """A subscription; `payment_details` is the card it charges (the customer's saved card,
    or the one it had when the subscription was made, once the customer has none)."""
    card = customer_row["source"] or row["payment_details"]
    return {
        "id": row["id"],
        "resource": "subscription",
        "status": row["status"],
        "amount": row["amount"],
        "currency": row["currency"],
        "customer": subscription_customer(customer_row, row["currency"]),
        "period": row["period"],
        "day": row["day"],
        "payment_details": {
            "type": "credit_card",
            "brand": card["brand"],
            "last_four_digits": card["last_four_digits"],
            "month": str(card["month"]),
            "year": str(card["year"]),
            "email": customer_row["email"] or "",
        },
        "retry_count": row["retry_count"],
        "retry_at": timestamp(row["retry_at"]),
        "next_capture_at": timestamp(row["next_capture_at"]),
        "created_at": timestamp(row["created_at"]),
        "ended_at": timestamp(row["ended_at"]),
        "metadata": row["metadata"] or {},
        "payments": list(payment_ids),
    }


def subscription_list(
    data: list[Subscription], total: int, params: ListParams, now: datetime
) -> SubscriptionList:
    page = listing(data, total, params, now)
    return {
        "resource": "subscription_list",
        "total": page["total"],
        "page": page["page"],
        "per_page": page["per_page"],
        "last_page": page["last_page"],
        "start_time": page["start_time"],
        "end_time": page["end_time"],
        "data": page["data"],
    }
