"""KOMOJU's webhooks, as the KOMOJU processor receives them: check the signature, then read
the payment event into a `Notice` kessai can apply to its own payment.

KOMOJU signs each delivery with `X-Komoju-Signature`: the lowercase hex HMAC-SHA256 of the
exact body bytes, keyed with the endpoint's secret (kessai signs its own webhooks the same
way: `kessai.worker.signing`). A payment event names kessai's payment through the
`metadata.kessai_payment` the processor put on every payment it created.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

from kessai.worker.signing import sign

SIGNATURE_HEADER = "X-Komoju-Signature"


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` is the HMAC-SHA256 of `body` under `secret` (constant time)."""
    if not secret or not signature:
        return False
    given = signature.strip().lower().encode("ascii", "replace")
    return hmac.compare_digest(sign(secret, body).encode(), given)


@dataclass(frozen=True)
class Notice:
    """A KOMOJU payment event about a payment the KOMOJU processor created for kessai."""

    event_id: str
    event_type: str  # payment.captured, payment.failed, payment.refunded, ...
    payment_id: str  # kessai's payment (metadata.kessai_payment)
    upstream_id: str  # KOMOJU's payment id (the payment's processor reference)
    status: str  # KOMOJU's payment status after the event
    amount: int | None
    amount_refunded: int
    currency: str | None
    failure_code: str | None  # the event's `reason`: the decline code of payment.failed
    captured_at: str | None


def parse(body: bytes) -> Notice | None:
    """The notice in a webhook body; None for events that are not about a payment kessai
    made through KOMOJU (`ping`, `customer.*`, a payment without `kessai_payment`).
    A body that is not a KOMOJU event at all raises ValueError."""
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("The webhook body is not JSON.") from None
    if not isinstance(event, dict):
        raise ValueError("The webhook body is not a JSON object.")
    event_id, event_type, data = event.get("id"), event.get("type"), event.get("data")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise ValueError("The webhook body is not a KOMOJU event (no id or type).")
    if not event_type.startswith("payment.") or not isinstance(data, dict):
        return None
    metadata = data.get("metadata")
    payment_id = metadata.get("kessai_payment") if isinstance(metadata, dict) else None
    upstream_id, status = data.get("id"), data.get("status")
    if not isinstance(payment_id, str) or not payment_id:
        return None
    if not isinstance(upstream_id, str) or not isinstance(status, str):
        raise ValueError("The webhook's payment has no id or status.")
    reason = event.get("reason")
    return Notice(
        event_id=event_id,
        event_type=event_type,
        payment_id=payment_id,
        upstream_id=upstream_id,
        status=status,
        amount=_int(data.get("amount")),
        amount_refunded=_int(data.get("amount_refunded")) or 0,
        currency=data.get("currency") if isinstance(data.get("currency"), str) else None,
        failure_code=reason if isinstance(reason, str) and reason else None,
        captured_at=data.get("captured_at") if isinstance(data.get("captured_at"), str) else None,
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
