"""Webhook signatures: lowercase hex HMAC-SHA256 of the exact body, keyed with the
endpoint's secret. Merchants compute the same to verify (see docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
