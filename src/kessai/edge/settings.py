"""The edge's settings: `EdgeSettings.from_env(env)`, one field of `kessai.settings.Settings`.

Rate limits are written as the `limits` library parses them: `N/second|minute|hour|day`,
several joined by `;` (`20/minute;200/hour`: both apply).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from limits import parse_many

from kessai.settings_parsing import SettingsError, env_bool, env_float, env_int

KIB = 1024
MIB = 1024 * KIB


def env_limits(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    try:
        parsed = parse_many(raw)
    except ValueError:
        parsed = []
    if not parsed or any(item.amount < 1 for item in parsed):
        raise SettingsError(
            f"{name}={raw!r} is not a rate limit: use N/second, N/minute, N/hour or N/day, "
            "several joined by ';' (20/minute;200/hour)"
        )
    return raw


def env_storage(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    scheme = raw.partition("://")[0]
    if scheme not in ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster"):
        raise SettingsError(
            f"{name}={raw!r} is not a rate-limit store: use memory:// (one process) or "
            "redis://HOST:PORT[/DB] (shared by every process of the installation)"
        )
    return raw


@dataclass(frozen=True)
class EdgeSettings:
    rate_limits: bool = True
    # memory:// keeps counts in each process; redis://HOST:PORT shares them.
    rate_limit_storage: str = "memory://"
    # Every request from one client address (an IPv6 /64 counts as one), except /health
    # and static assets.
    rate_limit_address: str = "12000/minute"
    # Every request made with one API key (secret or publishable).
    rate_limit_key: str = "6000/minute"
    # /sessions/{id}/pay and /tokens with one key, the checkout page's payments per
    # merchant and mode: where card numbers are tried.
    rate_limit_card_key: str = "600/minute"
    # The same from one address in live mode (card testing).
    rate_limit_card_address: str = "20/minute;200/hour"
    # Failed authentications (401) from one address; past it, every API request from there
    # whose key this process has not cached is answered 429 before any key lookup.
    rate_limit_failed_auth: str = "20/minute"
    # How long an unknown key is remembered as unknown (in the rate-limit store).
    auth_negative_cache_seconds: int = 600
    # Server processes sharing the limits (set by `kessai serve --workers`); with memory://
    # each process enforces 1/N of every limit, so together they never exceed it.
    server_processes: int = 1
    max_body_bytes: int = MIB  # /api, /kessai
    max_form_bytes: int = 64 * KIB  # the hosted page's forms
    body_timeout: float = 30.0  # seconds from the request's headers to its last body byte
    header_timeout: float = 10.0  # seconds a connection may take to send request headers
    max_header_bytes: int = 64 * KIB
    keep_alive_timeout: float = 5.0  # idle seconds between requests on one connection
    max_connections: int = 2000  # per process; past it uvicorn answers 503 and closes
    forwarded_allow_ips: str = ""  # proxies trusted for X-Forwarded-For (uvicorn's syntax)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EdgeSettings:
        d = cls()
        return cls(
            rate_limits=env_bool(env, "KESSAI_RATE_LIMITS", d.rate_limits),
            rate_limit_storage=env_storage(env, "KESSAI_RATE_LIMIT_STORAGE", d.rate_limit_storage),
            rate_limit_address=env_limits(env, "KESSAI_RATE_LIMIT_ADDRESS", d.rate_limit_address),
            rate_limit_key=env_limits(env, "KESSAI_RATE_LIMIT_KEY", d.rate_limit_key),
            rate_limit_card_key=env_limits(
                env, "KESSAI_RATE_LIMIT_CARD_KEY", d.rate_limit_card_key
            ),
            rate_limit_card_address=env_limits(
                env, "KESSAI_RATE_LIMIT_CARD_ADDRESS", d.rate_limit_card_address
            ),
            rate_limit_failed_auth=env_limits(
                env, "KESSAI_RATE_LIMIT_FAILED_AUTH", d.rate_limit_failed_auth
            ),
            auth_negative_cache_seconds=env_int(
                env, "KESSAI_AUTH_NEGATIVE_CACHE_SECONDS", d.auth_negative_cache_seconds
            ),
            server_processes=env_int(env, "KESSAI_SERVER_PROCESSES", 1, minimum=1),
            max_body_bytes=env_int(env, "KESSAI_MAX_BODY_BYTES", d.max_body_bytes, minimum=1),
            max_form_bytes=env_int(env, "KESSAI_MAX_FORM_BYTES", d.max_form_bytes, minimum=1),
            body_timeout=env_float(env, "KESSAI_BODY_TIMEOUT_SECONDS", 30, positive=True),
            header_timeout=env_float(env, "KESSAI_HEADER_TIMEOUT_SECONDS", 10, positive=True),
            max_header_bytes=env_int(
                env, "KESSAI_MAX_HEADER_BYTES", d.max_header_bytes, minimum=1024
            ),
            keep_alive_timeout=env_float(env, "KESSAI_KEEP_ALIVE_SECONDS", 5, positive=True),
            max_connections=env_int(env, "KESSAI_MAX_CONNECTIONS", d.max_connections, minimum=1),
            forwarded_allow_ips=(env.get("KESSAI_FORWARDED_ALLOW_IPS") or "").strip(),
        )
