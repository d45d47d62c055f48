"""The KOMOJU processor's settings: the one rule set for them.

`kessai processor set ... komoju` checks a config with `KomojuConfig.from_mapping` (through
`kessai.processors.registry`) and stores `KomojuConfig.stored()`; every server and worker
builds the processor from that stored config with the same function. So a config the
command accepted always builds, and one it would refuse is never stored.

A bad setting raises `registry.ConfigError` (a `ValueError`) naming the setting; its
message never quotes a secret.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kessai.core import rules
from kessai.processors.registry import ConfigError

SETTINGS = ("api_url", "secret_key", "webhook_secret", "timeout")
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 120.0
API_PATH = "/api/v1"
_SECRET_KEY = re.compile(r"sk_[A-Za-z0-9_]{13,250}")
_WEBHOOK_SECRET = re.compile(r"[!-~]{1,255}")  # printable ASCII, no spaces


def _bad(setting: str, reason: str) -> ConfigError:
    return ConfigError("komoju", setting, reason)


@dataclass(frozen=True)
class KomojuConfig:
    """Where KOMOJU is and how to reach it. Checked on construction (`ConfigError`)."""

    # KOMOJU's address as given (normalised), e.g. https://komoju.com or .../api/v1.
    api_url: str
    secret_key: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_url", api_url(self.api_url))
        object.__setattr__(self, "secret_key", secret_key(self.secret_key))
        object.__setattr__(self, "webhook_secret", webhook_secret(self.webhook_secret))
        object.__setattr__(self, "timeout", timeout(self.timeout))

    @property
    def base_url(self) -> str:
        """The API's host and prefix, to which the processor appends /api/v1/..."""
        return self.api_url.removesuffix(API_PATH)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> KomojuConfig:
        unknown = sorted(str(k) for k in m if k not in SETTINGS)
        if unknown:
            raise _bad(
                unknown[0],
                f"is not a setting of the komoju processor (its settings: {', '.join(SETTINGS)})",
            )
        for required in ("api_url", "secret_key"):
            if m.get(required) is None:
                raise _bad(required, "is required for the komoju processor")
        given = m.get("timeout")
        return cls(
            api_url=m["api_url"],
            secret_key=m["secret_key"],
            webhook_secret=m.get("webhook_secret"),
            timeout=DEFAULT_TIMEOUT if given is None else given,
        )

    def stored(self) -> dict[str, Any]:
        """The config as kept in the database: `from_mapping` gives this config back."""
        return {
            "api_url": self.api_url,
            "secret_key": self.secret_key,
            "webhook_secret": self.webhook_secret,
            "timeout": self.timeout,
        }


def api_url(value: Any) -> str:
    """An https URL (plain http only to this machine, for tests), without query, fragment
    or user information; normalised once (`rules.http_url`), without a trailing slash."""
    if not isinstance(value, str):
        raise _bad("api_url", "must be a string: an absolute https URL such as https://komoju.com")
    try:
        url = rules.http_url(value)
    except rules.Invalid as exc:
        raise _bad("api_url", exc.message) from None
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise _bad("api_url", "must not have a query or a fragment")
    if parts.scheme != "https" and not loopback(parts.hostname or ""):
        raise _bad(
            "api_url",
            "must be https (plain http only to this machine: localhost, 127.0.0.1, ::1), "
            "so the secret key is never sent in the clear",
        )
    return url.rstrip("/")


def loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret_key(value: Any) -> str:
    if not isinstance(value, str) or not _SECRET_KEY.fullmatch(value):
        raise _bad(
            "secret_key",
            "must be a KOMOJU secret key: sk_ then 13 or more letters, digits or underscores",
        )
    return value


def webhook_secret(value: Any) -> str | None:
    """KOMOJU's webhook secret, the HMAC key of its signatures: printable ASCII only, so
    both sides read the same bytes."""
    if value is None:
        return None
    if not isinstance(value, str) or not _WEBHOOK_SECRET.fullmatch(value):
        raise _bad(
            "webhook_secret",
            "must be 1 to 255 printable ASCII characters: no spaces, no control characters, "
            "nothing outside ASCII",
        )
    return value


def timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad("timeout", "must be a number of seconds")
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        seconds = math.inf
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise _bad("timeout", f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds")
    return seconds
