"""The KOMOJU processor: kessai in front of KOMOJU's API (or another kessai serving as it).

* Every upstream POST carries `X-KOMOJU-IDEMPOTENCY: kessai-<operation id>`, and the same
  operation always sends the same bytes, so a retry, a crash or a timeout never makes a
  second upstream charge, capture or refund: KOMOJU replays the first answer.
* Payments carry `external_order_num` = kessai's payment id and `metadata` =
  `{kessai_payment, kessai_operation}`: that is how `reconcile` finds an authorization
  whose answer was lost, and how notices (webhooks) name kessai's payment.
* `charge.amount` (kessai's amount + tax) is sent as KOMOJU's `amount`, with no `tax`.
* A 3-D Secure or wallet payment is `NeedsAction(state="komoju:<upstream id>")` with
  KOMOJU's own page as `redirect_url`; `complete` then asks KOMOJU how it ended. Only a
  payment KOMOJU shows as failed, cancelled or expired is declined; one still pending (the
  customer left the page unanswered) or any refusal to show it (401/403 after a key
  change, 404, 429...) raises `OutcomeUnknown`: the worker learns the end later, from
  `reconcile` or KOMOJU's webhook, never failing a payment the customer may have paid.
* Cash payments send kessai's `expiry_days` upstream; KOMOJU's own `payment_deadline`
  comes back in the instructions (`AwaitingCustomer.details`).
* `Komoju-Scenario` (test mode) is passed on as that header; KOMOJU decides what it does.
* Every vaulted card is a KOMOJU customer, `komoju:customer:<id>`, whatever `verify`
  says: kessai keeps saved cards on its customers and charges them again and again, and a
  KOMOJU token is single-use. KOMOJU checks a card when it keeps it, so with this
  processor a card KOMOJU declines is refused at vault time even with `verify=False`.
  References `komoju:token:<id>` made by earlier versions are still charged (once).
* Settings: `KomojuConfig` (`kessai.processors.komoju_config`), the one rule set that
  `kessai processor set` checks and every build uses.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from kessai.core.payment_types import PAYMENT_TYPES
from kessai.processors.base import (
    Approved,
    Call,
    Card,
    Charge,
    Declined,
    NeedsAction,
    OpenOperation,
    Outcome,
    OutcomeUnknown,
    Result,
    Transaction,
    Vaulted,
)
from kessai.processors.komoju_config import KomojuConfig
from kessai.processors.komoju_wire import (
    CUSTOMER_PREFIX,
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
__all__ = ["KomojuConfig", "KomojuProcessor", "from_config"]


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
        self._up = Upstream(config.base_url, config.secret_key, self._http, retry_delays)

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

    async def complete(
        self, call: Call, tx: Transaction, state: str, answer: str | None
    ) -> Result | NeedsAction:
        """The customer is back from KOMOJU's page: KOMOJU knows how it ended (`answer`,
        meant for kessai's own simulated pages, is not needed). Only a payment KOMOJU shows
        as failed, cancelled or expired is declined; one still pending is `NeedsAction` (the
        customer has not finished there: kessai lets go and waits); any other answer
        (401/403 after a key change, 404...) leaves the outcome unknown, for kessai to ask
        again later: the customer may well have paid."""
        ref = state[len(STATE_PREFIX) :] if state.startswith(STATE_PREFIX) else tx.reference
        if not ref:
            return Declined("request_failed", "This payment has no KOMOJU payment to complete.")
        payment = await self._payment(ref, call.timeout)
        if payment.get("status") == "pending":  # not finished on KOMOJU's page yet
            details = payment.get("payment_details") or {}
            redirect = details.get("redirect_url") if isinstance(details, dict) else None
            return NeedsAction(state, redirect if isinstance(redirect, str) else None, ref)
        return settled(payment, card_failure="three_d_secure_failed")

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
        """Keep the card as a KOMOJU customer, whatever `verify` says: kessai charges a
        saved card again and again, and a KOMOJU token is single-use. KOMOJU checks the
        card when it keeps it, so a card it declines is refused here."""
        body = {
            "payment_details": card_details(card),
            "metadata": {"kessai_operation": call.operation_id},
        }
        key = idempotency_key(call.operation_id)
        answer = await self._up.post("/customers", body, call.timeout, key=key, scenario=scenario)
        if not answer.ok:
            return answer.declined()
        ref = answer.body.get("id")
        if not isinstance(ref, str) or not ref:
            raise OutcomeUnknown("KOMOJU answered POST /api/v1/customers without an id.")
        return Vaulted(CUSTOMER_PREFIX + ref)

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
        status = (await self._payment(tx.reference or "", budget.left())).get("status")
        if status == done or (captured and status == "refunded"):
            return Approved(captured=captured, reference=tx.reference)
        return _moved(answer, tx, captured)

    async def _reconcile_refund(self, call: Call, tx: Transaction, amount: int) -> Result:
        """A refund is marked with its operation id: found on the payment, it happened;
        otherwise it is sent again (same key: replayed if KOMOJU did it meanwhile)."""
        budget = _Budget(call.timeout)
        if tx.reference:
            refunds = (await self._payment(tx.reference, budget.left())).get("refunds")
            for refund in refunds if isinstance(refunds, list) else []:
                if isinstance(refund, dict) and refund.get("description") == refund_mark(call):
                    return Approved(captured=True, reference=tx.reference)
        body = {"amount": amount, "description": refund_mark(call)}
        answer = await self._move(call, tx, "refund", body, budget.left())
        return answer if isinstance(answer, Declined) else _moved(answer, tx, True)

    async def _payment(self, ref: str, budget: float) -> dict[str, Any]:
        """KOMOJU's payment `ref`, or OutcomeUnknown when KOMOJU does not show it."""
        answer = await self._up.get(f"/payments/{ref}", budget)
        if not answer.ok:
            raise OutcomeUnknown(
                f"KOMOJU did not show payment {ref} (HTTP {answer.status}): "
                f"{answer.declined().message}"
            )
        if answer.body.get("id") != ref:
            raise OutcomeUnknown(f"KOMOJU answered GET /api/v1/payments/{ref} with another id.")
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
