"""The dashboard's sign-in cookie: which API key signed in, when, signed by the server.

The cookie names the secret key's row (`api_keys.id`), never the key, and when it was
issued, to the microsecond. Each request looks that row up again (`auth.viewer`), so
rolling the key signs every dashboard session out, and signing out (which records the time
on the row) ends every cookie issued until then, while a sign-in a moment later works.
A cookie older than `MAX_AGE` is refused, whatever its signature.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kessai.core import rules

COOKIE = "kessai_dashboard"
MAX_AGE = timedelta(hours=12)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SignedIn:
    key_id: str
    issued_us: int  # microseconds since the epoch, real time

    def issued_by(self, at: datetime) -> bool:
        """Whether the cookie was issued at or before `at` (a sign-out's time)."""
        return self.issued_us <= microseconds(at)

    @property
    def value(self) -> str:
        return f"{self.key_id}.{self.issued_us}"


def microseconds(at: datetime) -> int:
    """`at` as whole microseconds since the epoch (exact: no float on the way)."""
    return (at - EPOCH) // timedelta(microseconds=1)


def _mac(secret: bytes, value: str) -> str:
    return hmac.new(secret, f"dashboard:{value}".encode(), hashlib.sha256).hexdigest()


def issue(secret: bytes, key_id: str, now: datetime) -> str:
    signed = SignedIn(key_id, microseconds(now))
    return f"{signed.value}.{_mac(secret, signed.value)}"


def read(secret: bytes, cookie: str | None, now: datetime) -> SignedIn | None:
    """The sign-in a cookie carries, if its signature holds and it has not expired."""
    if not cookie or len(cookie) > 200:
        return None
    key_id, _, rest = cookie.partition(".")
    issued, _, mac = rest.partition(".")
    if not rules.is_id(key_id) or not issued.isascii() or not issued.isdigit() or len(issued) > 20:
        return None
    signed = SignedIn(key_id, int(issued))
    if not hmac.compare_digest(_mac(secret, signed.value).encode(), mac.encode("utf-8", "replace")):
        return None
    age = microseconds(now) - signed.issued_us
    if age < -60_000_000 or age > MAX_AGE // timedelta(microseconds=1):
        return None
    return signed


def csrf_token(secret: bytes, cookie: str) -> str:
    """The token every dashboard form carries: bound to this sign-in, useless without it."""
    return hmac.new(secret, f"dashboard-csrf:{cookie}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, cookie: str | None, submitted: str | None) -> bool:
    if not cookie or not submitted:
        return False
    expected = csrf_token(secret, cookie).encode()
    return hmac.compare_digest(expected, submitted.encode("utf-8", "surrogatepass"))
