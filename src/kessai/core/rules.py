"""Small parameter rules shared by every request schema.

A broken rule raises `Invalid`, a `ValueError` carrying a stable error code, so the wire
layer (pydantic) can attach the parameter's name to it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit


class Invalid(ValueError):
    def __init__(self, message: str, code: str = "invalid_parameter") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1
# Deliberately simple: one @, a dot in the domain, no spaces or control characters.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def integer(value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer from JSON or a form field. Floats and booleans are refused."""
    if isinstance(value, bool):
        raise Invalid("must be an integer, not a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value):
        number = int(value)
    else:
        raise Invalid("must be an integer (minor units, no decimal point)")
    if minimum is not None and number < minimum:
        raise Invalid(f"must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise Invalid(f"must be at most {maximum}")
    return number


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise Invalid("must be true or false")


def text(value: Any, *, max_length: int, allow_empty: bool = True) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Invalid("must be a string")
    value = str(value)
    if len(value) > max_length:
        raise Invalid(f"must be at most {max_length} characters")
    if not allow_empty and not value:
        raise Invalid("must not be empty")
    return value


def http_url(value: Any, *, max_length: int = 2048) -> str:
    """An absolute http(s) URL: no other scheme, no relative or protocol-relative form."""
    value = text(value, max_length=max_length)
    if _CONTROL.search(value) or value != value.strip() or " " in value:
        raise Invalid("must be an absolute http or https URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise Invalid("must be an absolute http or https URL with a valid host") from None
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        raise Invalid("must be an absolute http or https URL, like https://shop.example/return")
    return value


def email(value: Any) -> str:
    value = text(value, max_length=255)
    if not _EMAIL.match(value) or _CONTROL.search(value):
        raise Invalid("must be a valid email address, like buyer@example.com")
    return value


def metadata(value: Any) -> dict[str, str]:
    """At most 50 keys of at most 30 characters; values are strings of at most 2000."""
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise Invalid("must be an object of string keys and string values")
    if len(value) > 50:
        raise Invalid("must have at most 50 keys")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 30:
            raise Invalid("keys must be strings of 1 to 30 characters")
        if isinstance(item, (dict, list)):
            raise Invalid(f"value of {key!r} must be a string, number or boolean")
        if item is None:
            item = ""
        if isinstance(item, bool):
            item = "true" if item else "false"
        item = str(item)
        if len(item) > 2000:
            raise Invalid(f"value of {key!r} must be at most 2000 characters")
        result[key] = item
    return result


def one_of(value: Any, choices: tuple[str, ...], *, code: str = "invalid_parameter") -> str:
    if not isinstance(value, str) or value not in choices:
        raise Invalid(f"must be one of: {', '.join(choices)}", code)
    return value


def digits(value: Any, length: int) -> str:
    if isinstance(value, bool) or not re.fullmatch(rf"[0-9]{{{length}}}", str(value)):
        raise Invalid(f"must be exactly {length} digits")
    return str(value)


def timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp; one without an offset is taken as UTC."""
    if not isinstance(value, str):
        raise Invalid("must be an ISO 8601 timestamp, like 2026-01-31T00:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise Invalid("must be an ISO 8601 timestamp, like 2026-01-31T00:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
