"""Parsing `KESSAI_*` values: each helper returns a typed value or raises `SettingsError`
with one line naming the variable, the value it got and what it accepts.

An unset or empty variable means its default.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import httpx
import sqlalchemy as sa

TRUE = ("1", "true", "yes")
FALSE = ("0", "false", "no")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class SettingsError(ValueError):
    """A setting kessai cannot use; the message says which and how to fix it."""


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """`1/true/yes` or `0/false/no` (any case); anything else is refused."""
    raw = _raw(env, name)
    if raw is None:
        return default
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean: use 1/0, true/false or yes/no")


def env_int(
    env: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise SettingsError(f"{name}={raw!r} is out of range: use a whole number {bound}")
    return value


def env_float(
    env: Mapping[str, str], name: str, default: float, *, positive: bool = False
) -> float:
    """A number of seconds (or another non-negative quantity); `positive` refuses 0 too."""
    raw = _raw(env, name)
    if raw is None:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        least = "greater than 0" if positive else "0 or more"
        raise SettingsError(f"{name}={raw!r} is out of range: use a number {least}")
    return value


def env_choice(env: Mapping[str, str], name: str, default: str, choices: Iterable[str]) -> str:
    raw = _raw(env, name)
    if raw is None:
        return default
    options = tuple(choices)
    if raw.lower() not in options:
        raise SettingsError(f"{name}={raw!r} is not one of: {', '.join(options)}")
    return raw.lower()


def parse_database_url(raw: str | None, default: str) -> str:
    """`sqlite:///PATH` (a file) or `postgresql://user[:password]@host[:port]/database`."""
    if raw is None or not raw.strip():
        return default
    url = raw.strip()
    hint = "use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
    shown = _without_password(url)
    try:
        parsed = sa.engine.make_url(url)
        port = parsed.port  # a non-numeric port raises here
    except (sa.exc.ArgumentError, ValueError):
        raise SettingsError(
            f"KESSAI_DATABASE_URL={shown!r} is not a database URL: {hint}"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:" or parsed.host:
            raise SettingsError(
                f"KESSAI_DATABASE_URL={shown!r} names no SQLite file: use sqlite:///PATH "
                "(three slashes, then a relative path; four for an absolute one)"
            )
        return url
    if backend in ("postgresql", "postgres"):
        if not parsed.host or not parsed.database:
            raise SettingsError(
                f"KESSAI_DATABASE_URL={shown!r} needs a host and a database name: {hint}"
            )
        if port is not None and not 0 < port < 65536:
            raise SettingsError(f"KESSAI_DATABASE_URL={shown!r} has no valid port (1-65535)")
        return url
    raise SettingsError(f"KESSAI_DATABASE_URL={shown!r}: unsupported database {backend!r}; {hint}")


def parse_base_url(raw: str | None, default: str) -> str:
    """The public base URL: `http(s)://host[:port][/prefix]`, without a trailing slash."""
    if raw is None or not raw.strip():
        return default.rstrip("/")
    value = raw.strip()
    try:
        url = httpx.URL(value)
        ok = url.scheme in ("http", "https") and bool(url.host) and not url.query
    except (httpx.InvalidURL, ValueError):
        ok = False
    if not ok:
        raise SettingsError(
            f"KESSAI_BASE_URL={value!r} is not a base URL: use http(s)://HOST[:PORT][/PATH]"
        )
    return value.rstrip("/")


def _without_password(url: str) -> str:
    """The URL as it can be shown: any password replaced by `***`."""
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        creds, _, host = authority.rpartition("@")
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        authority = f"{creds}@{host}"
    return f"{scheme}{sep}{authority}{slash}{tail}"


safe_url = _without_password
