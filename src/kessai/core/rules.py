"""Small parameter rules shared by every request schema.

A broken rule raises `Invalid`, a `ValueError` carrying a stable error code, so the wire
layer (pydantic) can attach the parameter's name to it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import ada_url

from kessai.ids import ID_LENGTH


class Invalid(ValueError):
    def __init__(self, message: str, code: str = "invalid_parameter") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1
# Control characters free text may not hold: all but tab, line feed and carriage return.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Never storable or renderable: NUL (PostgreSQL text and JSONB cannot hold it) and lone
# UTF-16 surrogates (JSON's "\ud800" decodes to one; no UTF-8 encoder accepts it).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_ID = re.compile(rf"[a-z0-9]{{{ID_LENGTH}}}")
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


def storable(value: str) -> str:
    """Every string the edge accepts passes here once: no NUL, no lone surrogate."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return value
    if found.group() == "\x00":
        raise Invalid("must not contain NUL characters")
    raise Invalid("must be valid Unicode text (it holds a lone UTF-16 surrogate)")


def single_line(value: str) -> str:
    """A name, key or header value: no control characters at all."""
    storable(value)
    if _CONTROL.search(value):
        raise Invalid("must not contain control characters")
    return value


def is_id(value: str) -> bool:
    """A well-formed object id (25 lowercase letters and digits, see `kessai.ids`)."""
    return _ID.fullmatch(value) is not None


def printable(value: str) -> str:
    """`value` with every non-printable character escaped, safe to show in a message."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in value)


def text(value: Any, *, max_length: int, allow_empty: bool = True) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Invalid("must be a string")
    value = storable(str(value))
    if _TEXT_CONTROL.search(value):
        raise Invalid("must not contain control characters other than tab and line breaks")
    if len(value) > max_length:
        raise Invalid(f"must be at most {max_length} characters")
    if not allow_empty and not value:
        raise Invalid("must not be empty")
    return value


_URI_CHARACTERS = ":/?#[]@!$&'()*+,;=%"  # RFC 3986 reserved characters, and % (already encoded)
_URL_FORM = "must be an absolute http or https URL, like https://shop.example/return"


def http_url(value: Any, *, max_length: int = 2048) -> str:
    """An absolute http(s) URL, normalised once: the string every later use sees.

    Parsed as browsers parse it (the WHATWG URL standard, through Ada), so the host kessai
    sees is the host a browser goes to. Refused: other schemes, relative and
    protocol-relative forms, backslashes, user info (`user@`), spaces and control
    characters, hosts that do not parse. Kept: the serialisation (lower-case scheme and
    host, IDNA host, IPv4 in dotted decimal, percent-encoded to a valid RFC 3986 URI).
    """
    return _normal_url(text(value, max_length=max_length))


_URL_PARTS = ("href", "protocol", "hostname", "username", "password")
_SPACE = re.compile(r"\s")


@lru_cache(maxsize=1024)  # a merchant sends the same few URLs again and again
def _normal_url(value: str) -> str:
    if _CONTROL.search(value) or _SPACE.search(value):
        raise Invalid("must be an absolute http or https URL without spaces or control characters")
    if "\\" in value:
        raise Invalid("must not contain backslashes (browsers read them as slashes)")
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise Invalid(_URL_FORM)
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise Invalid("must not contain user information (user@ before the host)")
    if not authority:
        raise Invalid("must be an absolute http or https URL with a valid host")
    try:
        url = ada_url.parse_url(value, attributes=_URL_PARTS)
    except ValueError:
        raise Invalid("must be an absolute http or https URL with a valid host") from None
    if url["protocol"] not in ("http:", "https:") or not url["hostname"]:
        raise Invalid(_URL_FORM)
    if url["username"] or url["password"]:
        raise Invalid("must not contain user information (user@ before the host)")
    # What WHATWG leaves bare but RFC 3986 does not allow (`|`, `^`, ...) is percent-encoded,
    # so every later writer (a Location header, say) has nothing left to re-encode.
    # The length rule is on what the merchant sent; IDNA and percent-encoding may lengthen it.
    return quote(str(url["href"]), safe=_URI_CHARACTERS)


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
        if _CONTROL.search(key) or _UNSTORABLE.search(key):
            raise Invalid("keys must not contain control characters")
        if isinstance(item, (dict, list)):
            raise Invalid(f"value of {printable(key)!r} must be a string, number or boolean")
        if item is None:
            item = ""
        if isinstance(item, bool):
            item = "true" if item else "false"
        item = str(item)
        if _UNSTORABLE.search(item) or _TEXT_CONTROL.search(item):
            raise Invalid(f"value of {printable(key)!r} must not contain control characters")
        if len(item) > 2000:
            raise Invalid(f"value of {printable(key)!r} must be at most 2000 characters")
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


_TIMESTAMP_FORM = "must be an ISO 8601 timestamp, like 2026-01-31T00:00:00Z"


def timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp, returned in UTC; one without an offset is taken as UTC.

    A time whose UTC equivalent falls outside years 1 to 9999 (`0001-01-01T00:00:00+14:00`)
    is refused here, not left to overflow wherever it is first converted.
    """
    if not isinstance(value, str):
        raise Invalid(_TIMESTAMP_FORM)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise Invalid(_TIMESTAMP_FORM) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise Invalid("must be a time between years 1 and 9999 in UTC") from None
