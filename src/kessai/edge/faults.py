"""Fault injection for `/api/v1`: `kessai serve --faults SPEC` (or `KESSAI_FAULTS`), and
the `Kessai-Fault` request header in test mode. See docs/faults.md for what a client sees.

SPEC is a comma list of `kind=probability` (kinds below), `stall_seconds=N` (default 30),
`latency_ms=MIN-MAX` (or `N`) and `seed=N`:

    error_before   503 `service_unavailable`; the request is not run at all
    error_after    the request runs to its end (committed, idempotent answer stored),
                   then 500 `internal_server_error` replaces its answer
    drop_after     the request runs to its end, then the connection is closed unanswered
    stall_after    the request runs to its end, then nothing for `stall_seconds`, then
                   the connection is closed unanswered

The draws: every `/api/v1` request takes one uniform number in [0, 1) from the process's
generator (`random.Random(seed)`, or seeded by the OS) that picks at most one kind, in
the order above (so the probabilities must add up to at most 1); then, with `latency_ms`,
a second number picks the delay slept before the request runs. Each server process has
its own generator: with `--workers N` and a seed, each process repeats the same sequence.

`Kessai-Fault: <kind>` forces that kind on one request whose API key (the Basic user
name, read without a store lookup) is a test key (`sk_test_`, `pk_test_`). A live key with
the header, or an unknown kind, is 422 `invalid_parameter` (as `Komoju-Scenario`); a
request without a key shaped like one passes on (and gets its 401). `error_before` answers
before authentication; the other kinds apply only if authentication then confirmed a
test-mode key, so a made-up `sk_test_` key gets its 401 and cannot make a connection stall.

The connection is closed through `kessai.close_connection`, a scope extension that
`kessai serve`'s protocol (kessai/edge/connections.py) provides.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import random
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kessai.errors import InvalidParameter, KessaiError, ServiceUnavailable
from kessai.ids import parse_key
from kessai.observe import context
from kessai.settings_parsing import SettingsError

KINDS = ("error_before", "error_after", "drop_after", "stall_after")
HEADER = "Kessai-Fault"
CLOSE_CONNECTION = "kessai.close_connection"  # scope["extensions"] key: a () -> None
PREFIX = "/api/v1"
MAX_STALL_SECONDS = 3600.0
MAX_LATENCY_MS = 60_000
DISCONNECT_WAIT = 5.0  # seconds to wait for the server to see its own close
_RAW_HEADER = HEADER.lower().encode()
_USAGE = (
    "use a comma list of error_before, error_after, drop_after, stall_after "
    "(=probability 0..1), stall_seconds=N, latency_ms=MIN-MAX, seed=N"
)

log = logging.getLogger("kessai.faults")
INJECTED = Counter(
    "kessai_faults_injected",
    "Faults injected into /api/v1 requests (kessai serve --faults, Kessai-Fault), by kind.",
    ["kind"],
)


@dataclass(frozen=True)
class FaultSpec:
    error_before: float = 0.0
    error_after: float = 0.0
    drop_after: float = 0.0
    stall_after: float = 0.0
    stall_seconds: float = 30.0
    latency_ms: tuple[int, int] | None = None
    seed: int | None = None

    def probabilities(self) -> tuple[tuple[str, float], ...]:
        return tuple((kind, float(getattr(self, kind))) for kind in KINDS)

    @property
    def draws(self) -> bool:
        """Whether any request may be given a fault at random (or a latency)."""
        return self.latency_ms is not None or any(p > 0 for _, p in self.probabilities())

    def describe(self) -> str:
        """The spec as a SPEC string (what `kessai serve` prints at start)."""
        parts = [f"{kind}={p:g}" for kind, p in self.probabilities() if p > 0]
        if self.latency_ms is not None:
            parts.append("latency_ms={}-{}".format(*self.latency_ms))
        parts.append(f"stall_seconds={self.stall_seconds:g}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ",".join(parts)


def parse_faults(raw: str | None, name: str = "KESSAI_FAULTS") -> FaultSpec:
    """A SPEC (see the module docstring); unset or empty: no faults. Anything else that is
    not a valid SPEC raises `SettingsError` with one line naming `name`."""
    if raw is None or not raw.strip():
        return FaultSpec()
    spec = raw.strip()

    def bad(why: str) -> SettingsError:
        return SettingsError(f"{name}={spec!r}: {why}")

    values: dict[str, Any] = {}
    for item in spec.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not key:
            raise bad(f"an empty entry; {_USAGE}")
        if key not in (*KINDS, "stall_seconds", "latency_ms", "seed"):
            raise bad(f"unknown fault {key!r}; {_USAGE}")
        if not sep or not value:
            raise bad(f"{key} needs a value ({key}=...); {_USAGE}")
        if key in values:
            raise bad(f"{key} is given twice")
        if key in KINDS:
            values[key] = _number(value, 0.0, 1.0, f"{key} is a probability from 0 to 1", bad)
        elif key == "stall_seconds":
            what = "stall_seconds must be a number of seconds, more than 0 and at most 3600"
            values[key] = _number(value, 0.0, MAX_STALL_SECONDS, what, bad)
            if values[key] == 0:
                raise bad(f"{what}, not {value!r}")
        elif key == "latency_ms":
            values[key] = _latency(value, bad)
        else:
            if not (value.isascii() and value.isdigit()):
                raise bad(f"seed must be a whole number of 0 or more, not {value!r}")
            values[key] = int(value)
    total = sum(values.get(kind, 0.0) for kind in KINDS)
    if total > 1 + 1e-9:
        raise bad(
            f"the fault probabilities add up to {total:g}; one draw per request picks at "
            "most one fault, so they must add up to at most 1"
        )
    return FaultSpec(**values)


def _number(value: str, low: float, high: float, what: str, bad: Any) -> float:
    try:
        number = float(value)
    except ValueError:
        raise bad(f"{what}, not {value!r}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise bad(f"{what}, not {value!r}")
    return number


def _latency(value: str, bad: Any) -> tuple[int, int]:
    low, sep, high = value.partition("-")
    high = high if sep else low
    bounds = [part.strip() for part in (low, high)]
    if not all(part.isascii() and part.isdigit() for part in bounds):
        raise bad(f"latency_ms must be MIN-MAX in whole milliseconds (5-50), not {value!r}")
    lo, hi = int(bounds[0]), int(bounds[1])
    if lo > hi or hi > MAX_LATENCY_MS:
        raise bad(f"latency_ms must be MIN-MAX with MIN <= MAX <= {MAX_LATENCY_MS}, not {value!r}")
    return lo, hi


def key_mode(scope: Scope) -> str | None:
    """`test` or `live` for a request whose Basic user name is shaped like an API key
    (no store lookup: a made-up key passes this), else None."""
    header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
    scheme, _, credentials = header.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        user = base64.b64decode(credentials.strip(), validate=True).partition(b":")[0]
        parsed = parse_key(user.decode("ascii"))
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return parsed[1] if parsed is not None else None


class Faults:
    """The ASGI middleware. Installed always (the header works without a SPEC); with no
    SPEC a request costs a path check and a scan of its header names."""

    def __init__(self, app: ASGIApp, spec: FaultSpec, rng: random.Random | None = None) -> None:
        self.app = app
        self.spec = spec
        self.rng = rng if rng is not None else random.Random(spec.seed)  # noqa: S311
        self.draws = spec.draws
        bounds, total = [], 0.0
        for kind, probability in spec.probabilities():
            total += probability
            bounds.append((total, kind))
        self.bounds = [(bound, kind) for bound, kind in bounds if bound > 0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path.startswith(PREFIX + "/") or path == PREFIX):
            await self.app(scope, receive, send)
            return
        raw = next((v for k, v in scope["headers"] if k == _RAW_HEADER), None)
        if raw is None and not self.draws:
            await self.app(scope, receive, send)
            return
        forced = None
        if raw is not None:
            try:
                forced = self._forced(scope, raw)
            except KessaiError as exc:
                await _answer(send, exc, None)
                return
        kind = self._draw()
        if self.spec.latency_ms is not None:
            await asyncio.sleep(self.rng.uniform(*self.spec.latency_ms) / 1000)
        kind = forced or kind
        if kind is None:
            await self.app(scope, receive, send)
        elif kind == "error_before":
            _injected(kind, scope)
            await _answer(
                send,
                ServiceUnavailable(
                    "Injected fault (error_before): kessai did not carry out this request. "
                    "Retry it."
                ),
                kind,
            )
        else:
            await self._after(kind, forced is not None, scope, receive, send)

    def _forced(self, scope: Scope, raw: bytes) -> str | None:
        mode = key_mode(scope)
        if mode is None:
            return None  # no key: authentication answers 401
        value = raw.decode("latin-1").strip().lower()
        if mode != "test" or value not in KINDS:
            raise InvalidParameter(
                f"{HEADER} must be one of {', '.join(KINDS)}, and only in test mode",
                param=HEADER,
            )
        return value

    def _draw(self) -> str | None:
        if not self.bounds:
            return None
        u = self.rng.random()
        return next((kind for bound, kind in self.bounds if u < bound), None)

    async def _after(
        self, kind: str, forced: bool, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Run the request to its end, its answer withheld; then the fault."""
        passing = False

        async def withheld(message: Message) -> None:
            nonlocal passing
            if message["type"] == "http.response.start":
                # Forced by the header: only once authentication confirmed a test key.
                info = context.current()
                passing = forced and (info is None or info.livemode is not False)
            if passing:
                await send(message)

        await self.app(scope, receive, withheld)
        if passing:
            return
        _injected(kind, scope)
        close = scope.get("extensions", {}).get(CLOSE_CONNECTION)
        if kind == "error_after" or close is None:
            if kind != "error_after":
                log.warning("no %s in this server: answering 500 instead", CLOSE_CONNECTION)
            await _answer(
                send,
                KessaiError(
                    f"Injected fault ({kind}): kessai carried out this request and committed "
                    "it, then answered 500. Retry with the same X-KOMOJU-IDEMPOTENCY key to "
                    "get its answer."
                ),
                kind,
            )
            return
        if kind == "stall_after":
            await _until_disconnected(receive, self.spec.stall_seconds)
        close()
        await _until_disconnected(receive, DISCONNECT_WAIT)


def _injected(kind: str, scope: Scope) -> None:
    INJECTED.labels(kind).inc()
    log.info("injected fault %s on %s %s", kind, scope["method"], scope["path"])


async def _answer(send: Send, error: KessaiError, kind: str | None) -> None:
    body = json.dumps(error.body(), ensure_ascii=False, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if kind is not None:
        headers.append((_RAW_HEADER, kind.encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _until_disconnected(receive: Receive, seconds: float) -> None:
    """Wait until the client is gone (or the connection closed), at most `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except (TimeoutError, KessaiError):  # KessaiError: a body past its limits
        pass
