"""Webhook signatures: lowercase hex HMAC-SHA256 of the exact body, keyed with the
endpoint's secret. Merchants verify with the same function (see docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)
