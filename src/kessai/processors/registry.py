"""Processors by name, through Python entry points (group `kessai.processors`).

Each entry point is a *factory*: called with a processor's stored config (a JSON object)
it returns a `Processor`. kessai declares two in its pyproject.toml, `simulated` and
`komoju` (both below); another package adds an acquirer by declaring one more:

    [project.entry-points."kessai.processors"]
    myacquirer = "mypackage.processor:factory"

A factory may also have a `check(config) -> dict` method that validates a config and
returns it normalised without building anything (no network client is opened); without
one, `check` builds the processor and closes it again. Bad config raises `ConfigError`
naming the field; an unknown name raises `UnknownProcessor` listing the known ones.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Protocol
from urllib.parse import urlsplit

from kessai.core import rules
from kessai.processors.base import Processor

GROUP = "kessai.processors"


class ConfigError(ValueError):
    """A processor config kessai cannot use; `field` is the config key at fault."""

    def __init__(self, processor: str, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.processor = processor
        self.field = field
        self.reason = reason


class UnknownProcessor(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.message = (
            f"no processor named {name!r}; known processors: {', '.join(known) or '(none)'}"
        )
        super().__init__(self.message)


class Factory(Protocol):
    def __call__(self, config: Mapping[str, Any]) -> Processor: ...


@cache
def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def known_names() -> list[str]:
    """The names of the installed processors, sorted."""
    return sorted(_entry_points())


def factory(name: str) -> Factory:
    entry = _entry_points().get(name)
    if entry is None:
        raise UnknownProcessor(name, known_names())
    loaded: Factory = entry.load()
    return loaded


def build(name: str, config: Mapping[str, Any]) -> Processor:
    """The processor `name`, built from its config (`ConfigError` if it is bad)."""
    return factory(name)(config)


async def check(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` validated (and normalised) for processor `name`, nothing left open."""
    made = factory(name)
    checker = getattr(made, "check", None)
    if checker is not None:
        return dict(checker(config))
    processor = made(config)
    close = getattr(processor, "aclose", None)
    if close is not None:
        await close()
    return dict(config)


def _only(processor: str, config: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(config) - set(allowed))
    if extra:
        takes = f"its settings: {', '.join(allowed)}" if allowed else "it has none"
        raise ConfigError(
            processor, extra[0], f"is not a setting of the {processor} processor ({takes})"
        )


# ------------------------------------------------------------------ simulated


class _Simulated:
    """`simulated`: kessai's in-memory test-mode processor; it takes no settings."""

    def check(self, config: Mapping[str, Any]) -> dict[str, Any]:
        _only("simulated", config, ())
        return {}

    def __call__(self, config: Mapping[str, Any]) -> Processor:
        from kessai.processors.simulated import SimulatedProcessor

        self.check(config)
        return SimulatedProcessor()


simulated = _Simulated()


# ------------------------------------------------------------------ komoju

KOMOJU_FIELDS = ("api_url", "secret_key", "webhook_secret", "timeout")
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 120.0
_SECRET_KEY = re.compile(r"sk_[A-Za-z0-9_]{13,250}")


def loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_url(value: Any) -> str:
    """An https URL (http only to this machine, for tests), without query or fragment."""
    try:
        url = rules.http_url(value)
    except rules.Invalid as exc:
        raise ConfigError("komoju", "api_url", exc.message) from None
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ConfigError("komoju", "api_url", "must not have a query or a fragment")
    if parts.scheme != "https" and not loopback(parts.hostname or ""):
        raise ConfigError(
            "komoju",
            "api_url",
            "must be https (plain http only to this machine: localhost, 127.0.0.1, ::1), "
            "so the secret key is never sent in the clear",
        )
    return url.rstrip("/")


def secret_key(value: Any) -> str:
    if not isinstance(value, str) or not _SECRET_KEY.fullmatch(value):
        raise ConfigError(
            "komoju",
            "secret_key",
            "must be a KOMOJU secret key: sk_ then 13 or more letters, digits or underscores",
        )
    return value


def webhook_secret(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return rules.single_line(rules.text(value, max_length=255, allow_empty=False))
    except rules.Invalid as exc:
        raise ConfigError("komoju", "webhook_secret", exc.message) from None


def timeout(value: Any) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError("komoju", "timeout", "must be a number of seconds")
    seconds = float(value)
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise ConfigError(
            "komoju", "timeout", f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds"
        )
    return seconds


class _Komoju:
    """`komoju`: KOMOJU's API at `api_url` (`kessai.processors.komoju`)."""

    def check(self, config: Mapping[str, Any]) -> dict[str, Any]:
        _only("komoju", config, KOMOJU_FIELDS)
        for required in ("api_url", "secret_key"):
            if config.get(required) is None:
                raise ConfigError("komoju", required, "is required for the komoju processor")
        return {
            "api_url": api_url(config["api_url"]),
            "secret_key": secret_key(config["secret_key"]),
            "webhook_secret": webhook_secret(config.get("webhook_secret")),
            "timeout": timeout(config.get("timeout")),
        }

    def __call__(self, config: Mapping[str, Any]) -> Processor:
        from kessai.processors.komoju import KomojuConfig, KomojuProcessor

        checked = self.check(config)
        processor: Processor = KomojuProcessor(KomojuConfig(**checked))
        return processor


komoju = _Komoju()
