"""CSRF protection for the hosted page's forms (signed double-submit).

The browser gets a random `kessai_csrf` cookie (HttpOnly, SameSite=Lax, and Secure when the
public base URL is https); each form carries HMAC(server secret, cookie + form target).
A cross-site page can neither read the cookie nor compute the token, so it cannot submit a
form in the customer's name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "kessai_csrf"


def new_cookie() -> str:
    return secrets.token_hex(16)


def token(secret: bytes, cookie: str, target: str) -> str:
    return hmac.new(
        secret, f"{cookie}:{target}".encode("utf-8", "surrogatepass"), hashlib.sha256
    ).hexdigest()


def secure_cookie(base_url: str) -> bool:
    """Whether the cookie is sent only over TLS: when customers reach kessai over https."""
    return base_url.lower().startswith("https://")


def valid(secret: bytes, cookie: str | None, target: str, submitted: str | None) -> bool:
    """Compared as bytes: whatever a client submits (non-ASCII too) is simply not equal."""
    if not cookie or not submitted:
        return False
    expected = token(secret, cookie, target).encode()
    return hmac.compare_digest(expected, submitted.encode("utf-8", "surrogatepass"))
