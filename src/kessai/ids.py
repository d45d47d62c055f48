"""Random identifiers and API keys.

IDs are 25 lowercase alphanumeric characters (about 129 bits). API keys carry their kind and
mode as a prefix (`sk_test_`, `pk_live_`, ...) and are stored only as SHA-256 digests: a key
has enough entropy that a plain digest cannot be brute-forced, and a digest can be looked up
through a unique index.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 25
_ID_SPACE = len(_ALPHABET) ** ID_LENGTH


def new_id() -> str:
    # One draw from the OS (not one per character), written out in base 36.
    n = secrets.randbelow(_ID_SPACE)
    chars = []
    for _ in range(ID_LENGTH):
        n, digit = divmod(n, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def new_api_key(kind: str, mode: str) -> str:
    """`kind` is "sk" or "pk"; `mode` is "test" or "live"."""
    return f"{kind}_{mode}_{secrets.token_hex(16)}"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def digests_match(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def parse_key(key: str) -> tuple[str, str] | None:
    """Return (kind, mode) for a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] not in ("sk", "pk") or parts[1] not in ("test", "live"):
        return None
    if not parts[2]:
        return None
    return ("secret" if parts[0] == "sk" else "publishable", parts[1])
