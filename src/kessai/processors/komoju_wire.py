"""The HTTP side of the KOMOJU processor: requests with retries inside a call's budget, and
the mapping of KOMOJU's payment objects to processor outcomes.

Every POST carries `X-KOMOJU-IDEMPOTENCY`, so a retry (same key, same bytes) is answered
with the first answer instead of running again. Transport errors, timeouts, 5xx, 409 (the
same key still running upstream) and 429 are retried with a short backoff while the budget
lasts; then `OutcomeUnknown`. Other answers are returned as `Answer`s, never raised.

Nothing here logs or raises a request body: a card number or CVV only ever travels in the
bytes sent upstream.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from kessai.core.cards import DECLINE_MESSAGES
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.processors.base import (
    Approved,
    AwaitingCustomer,
    Call,
    Card,
    Charge,
    Declined,
    NeedsAction,
    Outcome,
    OutcomeUnknown,
    Result,
)

log = logging.getLogger("kessai.processors.komoju")

IDEMPOTENCY_HEADER = "X-KOMOJU-IDEMPOTENCY"
SCENARIO_HEADER = "Komoju-Scenario"
TOKEN_PREFIX = "komoju:token:"  # noqa: S105 - a reference's prefix, not a secret
CUSTOMER_PREFIX = "komoju:customer:"
RETRY_STATUSES = frozenset({409, 429})
_FAILED = "The payment failed at KOMOJU."
# A digit run this long in an upstream message could be a card number: never passed on.
_LONG_DIGITS = re.compile(r"\d[\d -]{10,}\d")


def idempotency_key(operation_id: str, step: str | None = None) -> str:
    """The upstream key of one request of an operation (`step` for multi-request ones).
    KOMOJU takes 1 to 100 printable ASCII characters: anything else is hashed to fit."""
    key = f"kessai-{operation_id}" + (f"-{step}" if step else "")
    if len(key) <= 100 and key.isascii() and key.isprintable():
        return key
    return "kessai-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def encode(body: Mapping[str, Any]) -> bytes:
    """Canonical JSON: the same operation always sends the same bytes, which KOMOJU's
    idempotency compares (a different body under the same key is refused)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def scrub(text: str) -> str:
    return _LONG_DIGITS.sub("[redacted]", text)


@dataclass(frozen=True)
class Answer:
    """An answer KOMOJU gave: its HTTP status and JSON body (`{}` when not JSON)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> Mapping[str, Any]:
        err = self.body.get("error") if isinstance(self.body, dict) else None
        return err if isinstance(err, dict) else {}

    @property
    def error_param(self) -> str | None:
        param = self.error.get("param")
        return param if isinstance(param, str) else None

    @property
    def key_reused(self) -> bool:
        """KOMOJU refused the idempotency key: it was used for a different request."""
        return self.status == 422 and (self.error_param or "").upper() == IDEMPOTENCY_HEADER

    def declined(self) -> Declined:
        """The refusal as a `Declined`; 401/403 (our key refused) is `processor_unavailable`."""
        if self.status in (401, 403):
            return Declined(
                "processor_unavailable",
                f"KOMOJU refused the processor's secret key (HTTP {self.status}); "
                "check the key given to `kessai processor set`.",
            )
        code = self.error.get("code")
        message = self.error.get("message")
        return Declined(
            code if isinstance(code, str) and code else "request_failed",
            scrub(message)
            if isinstance(message, str) and message
            else f"KOMOJU refused the request (HTTP {self.status}).",
        )


class Upstream:
    """Requests to one KOMOJU API, authenticated with the secret key."""

    def __init__(
        self,
        api_url: str,
        secret_key: str,
        http: httpx.AsyncClient,
        retry_delays: Sequence[float] = (0.1, 0.5, 1.0),
    ) -> None:
        self.api_url = api_url
        self.auth = httpx.BasicAuth(secret_key, "")
        self.http = http
        self.retry_delays = tuple(retry_delays)

    async def get(
        self, path: str, budget: float, params: Mapping[str, str] | None = None
    ) -> Answer:
        return await self.send("GET", path, budget, params=params)

    async def post(
        self,
        path: str,
        body: Mapping[str, Any],
        budget: float,
        *,
        key: str,
        scenario: str | None = None,
    ) -> Answer:
        headers = {IDEMPOTENCY_HEADER: key, "Content-Type": "application/json"}
        if scenario:
            headers[SCENARIO_HEADER] = scenario
        return await self.send("POST", path, budget, content=encode(body), headers=headers)

    async def send(
        self,
        method: str,
        path: str,
        budget: float,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send until an answer comes or the budget (seconds) is spent; then OutcomeUnknown.

        Every attempt sends the same bytes with the same headers (so the same idempotency
        key). Each attempt but the last may use half of what is left, so that an attempt
        whose answer stalls still leaves time to ask again (and get the stored answer).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        url = f"{self.api_url}/api/v1{path}"
        last = "no attempt made"
        attempts = 0
        for attempt, delay in enumerate((*self.retry_delays, None), start=1):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            attempts = attempt
            allowed = remaining if delay is None else max(remaining / 2, min(remaining, 1.0))
            wait = delay
            try:
                async with asyncio.timeout(allowed):
                    resp = await self.http.request(
                        method,
                        url,
                        content=content,
                        headers=headers,
                        params=params,
                        auth=self.auth,
                        timeout=allowed,
                    )
            except (httpx.TransportError, TimeoutError) as exc:
                last = f"{type(exc).__name__} after {allowed:.1f} s"
            else:
                if resp.status_code < 500 and resp.status_code not in RETRY_STATUSES:
                    return _answer(method, path, resp)
                last = f"HTTP {resp.status_code}"
                wait = _retry_after(resp, delay)
            log.warning("KOMOJU %s %s: %s (attempt %d)", method, path, last, attempt)
            if wait is None or loop.time() + wait >= deadline:
                break
            await asyncio.sleep(wait)
        raise OutcomeUnknown(
            f"KOMOJU gave no usable answer to {method} /api/v1{path} within {budget:g} s "
            f"({attempts} attempt(s), last: {last})."
        )


def _retry_after(resp: httpx.Response, delay: float | None) -> float | None:
    if delay is None or resp.status_code != 429:
        return delay
    try:
        return max(delay, float(resp.headers.get("Retry-After", "")))
    except ValueError:
        return delay


def _answer(method: str, path: str, resp: httpx.Response) -> Answer:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.is_success and not isinstance(body, dict):
        # Done upstream perhaps, but unreadable: a retry would replay the same bytes.
        raise OutcomeUnknown(
            f"KOMOJU answered {method} /api/v1{path} with HTTP {resp.status_code} "
            "but no JSON object."
        )
    return Answer(resp.status_code, body if isinstance(body, dict) else {})


# --------------------------------------------------------------------------- request bodies


def card_details(card: Card) -> dict[str, Any]:
    details: dict[str, Any] = {
        "type": "credit_card",
        "number": card.number,
        "month": card.month,
        "year": card.year,
    }
    for name in ("verification_value", "name", "email"):
        value = getattr(card, name)
        if value:
            details[name] = value
    return details


def payment_body(call: Call, charge: Charge) -> dict[str, Any] | Declined:
    body: dict[str, Any] = {
        "amount": charge.amount,  # kessai's amount + tax: KOMOJU's `tax` is not used
        "currency": charge.currency,
        "capture": charge.capture,
        "external_order_num": charge.payment_id,
        "metadata": {"kessai_payment": charge.payment_id, "kessai_operation": call.operation_id},
    }
    if charge.return_url:
        body["return_url"] = charge.return_url
    if charge.locale:  # the customer's language on KOMOJU's own pages
        body["locale"] = charge.locale
    ptype = PAYMENT_TYPES.get(charge.payment_type)
    if ptype is not None and ptype.kind != "card":
        given = {k: v for k, v in charge.details.items() if v != ""}  # KOMOJU refuses "" (no email)
        if ptype.kind == "cash" and charge.expiry_days is not None:
            given["expiry_days"] = charge.expiry_days
        body["payment_details"] = {**given, "type": charge.payment_type}
    elif charge.card_reference is not None:
        ref = charge.card_reference
        if ref.startswith(TOKEN_PREFIX) and len(ref) > len(TOKEN_PREFIX):
            body["payment_details"] = ref[len(TOKEN_PREFIX) :]
        elif ref.startswith(CUSTOMER_PREFIX) and len(ref) > len(CUSTOMER_PREFIX):
            body["customer"] = ref[len(CUSTOMER_PREFIX) :]
        else:
            return Declined(
                "request_failed", "This saved card was not stored at KOMOJU; enter it again."
            )
    elif charge.card is not None:
        body["payment_details"] = card_details(charge.card)
    else:
        return Declined("request_failed", "A card payment needs a card.")
    return body


def refund_mark(call: Call) -> str:
    return f"kessai refund {call.operation_id}"


# --------------------------------------------------------------------------- payments


def kind_of(payment: Mapping[str, Any]) -> str:
    details = payment.get("payment_details")
    ptype = details.get("type") if isinstance(details, dict) else None
    known = PAYMENT_TYPES.get(ptype) if isinstance(ptype, str) else None
    return known.kind if known else "card"


def instructions(payment: Mapping[str, Any]) -> dict[str, Any]:
    """What a cash-type payment's customer needs: KOMOJU's payment_details minus `type`,
    with KOMOJU's own `payment_deadline` (the payment's, unless the details have one)."""
    details = payment.get("payment_details")
    found = {k: v for k, v in details.items() if k != "type"} if isinstance(details, dict) else {}
    deadline = payment.get("payment_deadline")
    if isinstance(deadline, str) and deadline and not found.get("payment_deadline"):
        found["payment_deadline"] = deadline
    return found


def outcome_of(payment: Mapping[str, Any], *, card_failure: str = "card_declined") -> Outcome:
    """What a KOMOJU payment, just created (or found again), means to kessai."""
    ref = _reference(payment)
    status = payment.get("status")
    if status == "authorized" and kind_of(payment) == "cash":
        return AwaitingCustomer(instructions(payment), ref)
    if status == "pending":
        details = payment.get("payment_details")
        redirect = details.get("redirect_url") if isinstance(details, dict) else None
        if isinstance(redirect, str) and redirect:
            return NeedsAction(state=f"komoju:{ref}", redirect_url=redirect, reference=ref)
        raise OutcomeUnknown(f"KOMOJU payment {ref} is pending with nowhere to send the customer.")
    return settled(payment, card_failure=card_failure)


def settled(payment: Mapping[str, Any], *, card_failure: str) -> Result:
    """A payment the customer is done with: Approved or Declined; still pending → unknown.

    KOMOJU's payment object does not say why it failed: a failed card is `card_failure`
    (`three_d_secure_failed` after the customer's 3-D Secure page), anything else
    `request_failed`.
    """
    ref = _reference(payment)
    status = payment.get("status")
    if status in ("captured", "refunded"):
        return Approved(captured=True, reference=ref)
    if status == "authorized":
        return Approved(captured=False, reference=ref)
    if status == "failed" and kind_of(payment) == "card":
        return Declined(card_failure, DECLINE_MESSAGES.get(card_failure, _FAILED))
    if status == "failed":
        return Declined("request_failed", "The customer did not complete the payment.")
    if status in ("cancelled", "expired"):
        return Declined("request_failed", f"The payment was {status} at KOMOJU.")
    raise OutcomeUnknown(f"KOMOJU payment {ref} is still {status}; its outcome comes later.")


def _reference(payment: Mapping[str, Any]) -> str:
    ref = payment.get("id")
    if not isinstance(ref, str) or not ref:
        raise OutcomeUnknown("KOMOJU answered with a payment that has no id.")
    return ref
