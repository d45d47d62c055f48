"""How the payment pages show a payment: its type and card, the API's amount, its
payment details with labels, and its timeline's entries, in the viewer's language."""

from __future__ import annotations

import json
from typing import Any

from kessai.core.payment_types import STORE_NAMES
from kessai.core.payments import CAPTURED, REFUNDED
from kessai.dashboard.labels import brand_name, type_name
from kessai.dashboard.render import gettext
from kessai.services import timeline

# The payment details' fields with a name of their own (others show their API name). The
# card's brand, last four digits and expiry are shown together instead.
DETAIL_LABELS = {
    "name": "Cardholder name",
    "verification_value": "Security code check",
    "email": "Email",
    "phone": "Phone",
    "family_name": "Family name",
    "given_name": "Given name",
    "family_name_kana": "Family name (kana)",
    "given_name_kana": "Given name (kana)",
    "store": "Store",
    "receipt": "Receipt number",
    "confirmation_code": "Confirmation code",
    "instructions_url": "Instructions page",
    "order_id": "Order ID",
    "bank_name": "Bank",
    "account_branch_name": "Branch",
    "account_number": "Account number",
    "account_type": "Account type",
    "account_name": "Account name",
}
CARD_FIELDS = ("brand", "last_four_digits", "month", "year")


def card_of(row: Any) -> str | None:
    """'VISA •••• 4242' for a card payment (its brand and last four digits only)."""
    details = row["payment_details"] or {}
    if row["payment_type"] != "credit_card" or not details.get("last_four_digits"):
        return None
    brand = brand_name(details.get("brand"))
    return f"{brand} •••• {details['last_four_digits']}".strip()


def shown_amount(row: Any) -> int:
    """What the API calls `amount`: the captured amount once captured, else authorized."""
    return int(row["amount_captured"] if row["status"] in (CAPTURED, REFUNDED) else row["amount"])


def details(row: Any, locale: str) -> list[dict[str, Any]]:
    """The payment details as (label, value) rows; `code`: the label is the API's name."""
    found = dict(row["payment_details"] or {})
    shown: list[dict[str, Any]] = []
    if found.get("month") and found.get("year"):
        expiry = f"{int(found['month']):02d}/{found['year']}"
        shown.append({"label": gettext(locale, "Expiry"), "value": expiry, "code": False})
    for key, value in found.items():
        if key in CARD_FIELDS or value in (None, "", {}, []):
            continue
        if key == "store":
            value = STORE_NAMES.get(str(value), value)
        text = (
            value if isinstance(value, str | int | float) else json.dumps(value, ensure_ascii=False)
        )
        label = DETAIL_LABELS.get(key)
        link = str(text) if key == "instructions_url" and str(text).startswith("http") else None
        shown.append(
            {
                "label": gettext(locale, label) if label else key,
                "value": text,
                "code": label is None,
                "link": link,
            }
        )
    return shown


def list_rows(page_rows: list[Any], locale: str) -> list[dict[str, Any]]:
    return [
        {
            "id": r["id"],
            "created_at": r["created_at"],
            "external_order_num": r["external_order_num"],
            "type": type_name(r["payment_type"], locale),
            "card": card_of(r),
            "status": r["status"],
            "amount": shown_amount(r),
            "refunded": r["amount_refunded"],
            "currency": r["currency"],
        }
        for r in page_rows
    ]


# What each timeline entry is called (event types and operation kinds are shown as codes).
ENTRY_LABELS = {
    "event": "Event",
    "refund": "Refund",
    "refund_request": "Bank refund request",
    "chargeback:created": "Chargeback opened",
    "chargeback:accepted": "Chargeback accepted",
    "chargeback:defended": "Chargeback defended",
    "chargeback:expired": "Chargeback not answered in time",
    "chargeback:won": "Chargeback won",
    "chargeback:lost": "Chargeback lost",
    "ledger:payment": "Ledger: payment",
    "ledger:fee": "Ledger: processing fee",
    "ledger:refund": "Ledger: refund",
    "ledger:chargeback": "Ledger: chargeback",
    "ledger:chargeback_reversal": "Ledger: chargeback reversed",
}


def _translated(note: str, locale: str) -> str:
    """A status or an outcome translated ("declined: card_declined" keeps its code)."""
    head, _, code = note.partition(": ")
    return gettext(locale, head) + (f": {code}" if code else "")


def _note(e: timeline.Entry, locale: str) -> str | None:
    """A refund's description as typed; a bank refund request's status translated."""
    if e.note is None or e.kind != "refund_request":
        return e.note
    return _translated(e.note, locale)


def timeline_rows(entries: list[timeline.Entry], locale: str) -> list[dict[str, Any]]:
    found = []
    for e in entries:
        key = e.kind if e.kind in ENTRY_LABELS else f"{e.kind}:{e.what}"
        label = ENTRY_LABELS.get(key, e.kind)
        found.append(
            {
                "at": e.at,
                "kind": e.kind,
                "label": gettext(locale, label),
                "code": e.what if e.kind == "event" else None,
                "link": f"/dashboard/events/{e.ref}" if e.kind == "event" else None,
                "ref": e.ref,
                "amount": e.amount,
                "note": _note(e, locale),
            }
        )
    return found


def processor_rows(calls: list[timeline.Call], locale: str) -> list[dict[str, Any]]:
    """The processor calls, oldest first, at the real time they were made."""
    return [
        {
            "at": c.at,
            "kind": c.kind,
            "ref": c.ref,
            "amount": c.amount,
            "outcome": _translated(c.outcome, locale),
        }
        for c in calls
    ]
