"""The KOMOJU processor: kessai in front of KOMOJU's API (or another kessai serving as it).

* Every upstream POST carries `X-KOMOJU-IDEMPOTENCY: kessai-<operation id>`, and the same
  operation always sends the same bytes, so a retry, a crash or a timeout never makes a
  second upstream charge, capture or refund: KOMOJU replays the first answer.
* Payments carry `external_order_num` = kessai's payment id and `metadata` =
  `{kessai_payment, kessai_operation}`: that is how `reconcile` finds an authorization
  whose answer was lost, and how notices (webhooks) name kessai's payment.
* `charge.amount` (kessai's amount + tax) is sent as KOMOJU's `amount`, with no `tax`.
* A 3-D Secure or wallet payment is `NeedsAction(state="komoju:<upstream id>")` with
  KOMOJU's own page as `redirect_url`; `complete` then asks KOMOJU how it ended. One still
  pending (the customer left the page unanswered) raises `OutcomeUnknown`: the worker
  learns the end later, from `reconcile` or KOMOJU's webhook.
* `Komoju-Scenario` (test mode) is passed on as that header; KOMOJU decides what it does.
* Vaulted cards are `komoju:token:<id>` (a single-use KOMOJU token; `vault(verify=False)`)
  or `komoju:customer:<id>` (a KOMOJU customer, whose card KOMOJU checks on creation).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from kessai.core.payment_types import PAYMENT_TYPES
from kessai.processors.base import (
    Approved,
    Call,
    Card,
    Charge,
    Declined,
    OpenOperation,
    Outcome,
    OutcomeUnknown,
    Result,
    Transaction,
    Vaulted,
)
from kessai.processors.komoju_wire import (
    CUSTOMER_PREFIX,
    TOKEN_PREFIX,
    Answer,
    Upstream,
    card_details,
    idempotency_key,
    outcome_of,
    payment_body,
    refund_mark,
    settled,
)

STATE_PREFIX = "komoju:"
MAX_TIMEOUT = 300.0
_SETTINGS = ("api_url", "secret_key", "webhook_secret", "timeout")


@dataclass(frozen=True)
class KomojuConfig:
    """Where KOMOJU is and how to reach it. Checked on construction (ValueError)."""

    api_url: str  # e.g. https://komoju.com; the processor appends /api/v1/...
    secret_key: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    timeout: float = 10.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_url", _api_url(self.api_url))
        if not _printable_word(self.secret_key):
            raise ValueError(
                "komoju: secret_key must be the KOMOJU secret key: 1 to 255 printable "
                "ASCII characters, no spaces."
            )
        if self.webhook_secret is not None and not _printable_word(self.webhook_secret):
            raise ValueError(
                "komoju: webhook_secret must be 1 to 255 printable ASCII characters, no spaces."
            )
        object.__setattr__(self, "timeout", _timeout(self.timeout))

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> KomojuConfig:
        unknown = sorted(str(k) for k in m if k not in _SETTINGS)
        if unknown:
            raise ValueError(
                f"komoju: unknown setting(s) {', '.join(unknown)}; known: {', '.join(_SETTINGS)}."
            )
        for required in ("api_url", "secret_key"):
            if m.get(required) in (None, ""):
                raise ValueError(f"komoju: {required} is required.")
        for name in ("api_url", "secret_key", "webhook_secret"):
            if m.get(name) is not None and not isinstance(m[name], str):
                raise ValueError(f"komoju: {name} must be a string.")
        timeout = m.get("timeout")
        return cls(
            api_url=m["api_url"],
            secret_key=m["secret_key"],
            webhook_secret=m.get("webhook_secret") or None,
            timeout=10.0 if timeout is None else timeout,
        )


def _api_url(value: Any) -> str:
    problem = "komoju: api_url must be an absolute http(s) URL such as https://komoju.com"
    if not isinstance(value, str) or not value.isprintable() or len(value) > 2048:
        raise ValueError(f"{problem}.")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{problem}, got {value[:100]!r}.")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{problem}, with no query, fragment or credentials.")
    if parts.scheme != "https" and not _loopback(parts.hostname):
        raise ValueError(
            f"{problem}: https, or plain http only to this machine (localhost, 127.0.0.1, "
            "::1), so that the secret key never travels in the clear."
        )
    path = parts.path.rstrip("/")
    if path.endswith("/api/v1"):  # given the API's own base: the processor appends it
        path = path[: -len("/api/v1")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _timeout(value: Any) -> float:
    problem = f"komoju: timeout must be a number of seconds above 0, at most {MAX_TIMEOUT:g}"
    if isinstance(value, bool):
        raise ValueError(f"{problem}.")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{problem}.") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT:
        raise ValueError(f"{problem}.")
    return seconds


def _printable_word(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 1 <= len(value) <= 255
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )


def from_config(config: Mapping[str, Any]) -> KomojuProcessor:
    """The factory registered under the name `komoju`."""
    return KomojuProcessor(KomojuConfig.from_mapping(config))


class _Budget:
    """What is left of one call's `timeout`, across the requests it makes."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


class KomojuProcessor:
    name = "komoju"

    def __init__(
        self,
        config: KomojuConfig,
        http: httpx.AsyncClient | None = None,
        *,
        retry_delays: Sequence[float] = (0.1, 0.5, 1.0),
    ) -> None:
        self.config = config
        self.timeout = config.timeout
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=config.timeout)
        self._up = Upstream(config.api_url, config.secret_key, self._http, retry_delays)

    @property
    def supported_types(self) -> frozenset[str]:
        return frozenset(PAYMENT_TYPES)

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    # ------------------------------------------------------------------ payments

    async def authorize(self, call: Call, charge: Charge) -> Outcome:
        budget = _Budget(call.timeout)
        body = payment_body(call, charge)
        if isinstance(body, Declined):
            return body
        key = idempotency_key(call.operation_id)
        answer = await self._up.post(
            "/payments", body, budget.left(), key=key, scenario=charge.scenario
        )
        if answer.ok:
            return outcome_of(answer.body)
        if answer.key_reused:  # this operation ran upstream before, with other details
            return await self._found_or(call, charge.payment_id, budget, _refused_earlier())
        return answer.declined()

    async def complete(self, call: Call, tx: Transaction, state: str, answer: str | None) -> Result:
        """The customer is back from KOMOJU's page: KOMOJU knows how it ended (`answer`,
        meant for kessai's own simulated pages, is not needed)."""
        ref = state[len(STATE_PREFIX) :] if state.startswith(STATE_PREFIX) else tx.reference
        if not ref:
            return Declined("request_failed", "This payment has no KOMOJU payment to complete.")
        found = await self._up.get(f"/payments/{ref}", call.timeout)
        if not found.ok:
            return found.declined()
        return settled(found.body, card_failure="three_d_secure_failed")

    async def capture(self, call: Call, tx: Transaction, amount: int) -> Result:
        answer = await self._move(call, tx, "capture", {"amount": amount})
        return answer if isinstance(answer, Declined) else _moved(answer, tx, True)

    async def refund(self, call: Call, tx: Transaction, amount: int) -> Result:
        body = {"amount": amount, "description": refund_mark(call)}
        answer = await self._move(call, tx, "refund", body)
        return answer if isinstance(answer, Declined) else _moved(answer, tx, True)

    async def cancel(self, call: Call, tx: Transaction) -> Result:
        answer = await self._move(call, tx, "cancel", {})
        return answer if isinstance(answer, Declined) else _moved(answer, tx, False)

    async def _move(
        self,
        call: Call,
        tx: Transaction,
        action: str,
        body: Mapping[str, Any],
        budget: float | None = None,
    ) -> Answer | Declined:
        if not tx.reference:
            return Declined("request_failed", f"This payment has no KOMOJU payment to {action}.")
        return await self._up.post(
            f"/payments/{tx.reference}/{action}",
            body,
            call.timeout if budget is None else budget,
            key=idempotency_key(call.operation_id),
            scenario=tx.scenario,
        )

    # ------------------------------------------------------------------ cards

    async def vault(
        self, call: Call, card: Card, *, verify: bool = True, scenario: str | None = None
    ) -> Vaulted | Declined:
        """verify=False: a KOMOJU token (single use, 24 hours); verify=True: a KOMOJU
        customer holding the card, which KOMOJU checks as for a payment."""
        details = card_details(card)
        key = idempotency_key(call.operation_id)
        if verify:
            body = {"payment_details": details, "metadata": {"kessai_operation": call.operation_id}}
            path, prefix = "/customers", CUSTOMER_PREFIX
        else:
            body, path, prefix = {"payment_details": details}, "/tokens", TOKEN_PREFIX
        answer = await self._up.post(path, body, call.timeout, key=key, scenario=scenario)
        if not answer.ok:
            return answer.declined()
        ref = answer.body.get("id")
        if not isinstance(ref, str) or not ref:
            raise OutcomeUnknown(f"KOMOJU answered POST /api/v1{path} without an id.")
        return Vaulted(prefix + ref)

    # ------------------------------------------------------------------ lost answers

    async def reconcile(self, call: Call, op: OpenOperation) -> Outcome:
        tx = op.tx
        if op.kind == "authorize":
            return await self._reconcile_authorize(call, tx)
        if op.kind == "complete":
            return await self.complete(call, tx, op.state or "", op.answer)
        amount = tx.amount if op.amount is None else op.amount
        if op.kind == "capture":
            return await self._again(call, tx, "capture", {"amount": amount}, "captured")
        if op.kind == "cancel":
            return await self._again(call, tx, "cancel", {}, "cancelled")
        if op.kind == "refund":
            return await self._reconcile_refund(call, tx, amount)
        raise ValueError(f"komoju: cannot reconcile an operation of kind {op.kind!r}")

    async def _reconcile_authorize(self, call: Call, tx: Transaction) -> Outcome:
        """Find the payment this operation made upstream. If there is none, make sure the
        lost request can never run later: send a request KOMOJU refuses (no amount) under
        the same idempotency key. KOMOJU stores that refusal under the key (errors are
        replayed too), so the original, should it still arrive, is refused as a different
        request; while the original is running KOMOJU answers 409 (retried, then
        unknown); when it ran before, KOMOJU says the key was used for another request."""
        budget = _Budget(call.timeout)
        found = await self._find(call, tx.payment_id, budget)
        if found is not None:
            return outcome_of(found)
        probe = await self._up.post(
            "/payments", {}, budget.left(), key=idempotency_key(call.operation_id)
        )
        if probe.key_reused:  # the original reached KOMOJU and is done
            return await self._found_or(call, tx.payment_id, budget, _refused_earlier())
        if probe.ok or probe.status in (401, 403):
            raise OutcomeUnknown(
                f"KOMOJU answered the authorization check with HTTP {probe.status}."
            )
        return Declined(
            "processor_unavailable",
            "KOMOJU never received this payment, and now never will; nothing was charged.",
        )

    async def _found_or(
        self, call: Call, payment_id: str, budget: _Budget, otherwise: Declined
    ) -> Outcome:
        found = await self._find(call, payment_id, budget)
        return otherwise if found is None else outcome_of(found)

    async def _find(self, call: Call, payment_id: str, budget: _Budget) -> dict[str, Any] | None:
        """The upstream payment this operation created, by its external_order_num and the
        operation id in its metadata."""
        params = {"external_order_num": payment_id, "per_page": "100"}
        answer = await self._up.get("/payments", budget.left(), params=params)
        if not answer.ok:
            raise OutcomeUnknown(
                f"KOMOJU refused the payment list (HTTP {answer.status}): "
                f"{answer.declined().message}"
            )
        data = answer.body.get("data")
        for payment in data if isinstance(data, list) else []:
            meta = payment.get("metadata") if isinstance(payment, dict) else None
            if isinstance(meta, dict) and meta.get("kessai_operation") == call.operation_id:
                return dict(payment)
        return None

    async def _again(
        self, call: Call, tx: Transaction, action: str, body: Mapping[str, Any], done: str
    ) -> Result:
        """Send a capture or cancel again (same key: KOMOJU replays its answer). Refused as
        not possible any more, or the key forgotten or taken? Then the payment's status
        says whether it was done (an idempotency key lives 24 hours upstream)."""
        budget = _Budget(call.timeout)
        answer = await self._move(call, tx, action, body, budget.left())
        captured = done == "captured"
        if isinstance(answer, Declined) or answer.ok or answer.status in (401, 403):
            return answer if isinstance(answer, Declined) else _moved(answer, tx, captured)
        status = (await self._payment(tx, budget.left())).get("status")
        if status == done or (captured and status == "refunded"):
            return Approved(captured=captured, reference=tx.reference)
        return _moved(answer, tx, captured)

    async def _reconcile_refund(self, call: Call, tx: Transaction, amount: int) -> Result:
        """A refund is marked with its operation id: found on the payment, it happened;
        otherwise it is sent again (same key: replayed if KOMOJU did it meanwhile)."""
        budget = _Budget(call.timeout)
        if tx.reference:
            refunds = (await self._payment(tx, budget.left())).get("refunds")
            for refund in refunds if isinstance(refunds, list) else []:
                if isinstance(refund, dict) and refund.get("description") == refund_mark(call):
                    return Approved(captured=True, reference=tx.reference)
        body = {"amount": amount, "description": refund_mark(call)}
        answer = await self._move(call, tx, "refund", body, budget.left())
        return answer if isinstance(answer, Declined) else _moved(answer, tx, True)

    async def _payment(self, tx: Transaction, budget: float) -> dict[str, Any]:
        answer = await self._up.get(f"/payments/{tx.reference}", budget)
        if not answer.ok:
            raise OutcomeUnknown(
                f"KOMOJU refused to show payment {tx.reference} (HTTP {answer.status})."
            )
        return dict(answer.body)


# --------------------------------------------------------------------------- outcomes


def _refused_earlier() -> Declined:
    return Declined(
        "request_failed",
        "KOMOJU refused this payment earlier without recording it; nothing was charged.",
    )


def _moved(answer: Answer, tx: Transaction, captured: bool) -> Result:
    if answer.ok:
        return Approved(captured=captured, reference=tx.reference)
    if answer.key_reused:
        raise OutcomeUnknown(
            "KOMOJU has this operation's idempotency key for another request; "
            "its outcome cannot be replayed."
        )
    return answer.declined()
