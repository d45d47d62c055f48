"""CSRF protection for the hosted page's forms (signed double-submit).

The browser gets a random `kessai_csrf` cookie (HttpOnly, SameSite=Lax); each form carries
HMAC(server secret, cookie + form target). A cross-site page can neither read the cookie
nor compute the token, so it cannot submit a form in the customer's name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "kessai_csrf"


def new_cookie() -> str:
    return secrets.token_hex(16)


def token(secret: bytes, cookie: str, target: str) -> str:
    return hmac.new(secret, f"{cookie}:{target}".encode(), hashlib.sha256).hexdigest()


def valid(secret: bytes, cookie: str | None, target: str, submitted: str | None) -> bool:
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(token(secret, cookie, target), submitted)
