"""Phase 2 of a processor operation: calling the processor, with a deadline, holding
nothing; and keeping a card at the processor (`vault`), which moves no money.

Whatever goes wrong in a call (its deadline, an exception, an answer of the wrong kind)
counts as no answer (`OutcomeUnknown`): what the acquirer did is found out later, never
guessed. Every call is counted (`kessai_processor_calls_total`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kessai.core.cards import CHARGEBACK_SCENARIOS
from kessai.errors import ProcessorUnavailable
from kessai.ids import new_id
from kessai.observe import metrics
from kessai.processors.base import (
    Approved,
    AwaitingCustomer,
    Call,
    Card,
    Declined,
    NeedsAction,
    OutcomeUnknown,
    Processor,
    Vaulted,
)
from kessai.services.runtime import Runtime

log = logging.getLogger("kessai.processors")
Invoke = Callable[[Processor, Call], Awaitable[Any]]

# What each kind of operation may answer; anything else is treated as no answer.
ANSWERS: dict[str, tuple[type, ...]] = {
    "authorize": (Approved, Declined, NeedsAction, AwaitingCustomer),
    "complete": (Approved, Declined, NeedsAction),
    "capture": (Approved, Declined),
    "refund": (Approved, Declined),
    "cancel": (Approved, Declined),
    "vault": (Vaulted, Declined),
}


async def call_processor(processor: Processor, call: Call, kind: str, invoke: Invoke) -> Any:
    """Phase 2: the processor's answer, or the `OutcomeUnknown` that stands for none.

    Whatever goes wrong in the call (its deadline, an exception, an answer of the wrong
    kind) counts as no answer: what the acquirer did is found out later, never guessed."""
    answer = await _answer_of(processor, call, kind, invoke)
    metrics.processor_call(processor.name, kind, answer)
    return answer


async def _answer_of(processor: Processor, call: Call, kind: str, invoke: Invoke) -> Any:
    try:
        answer = await asyncio.wait_for(invoke(processor, call), call.timeout + 1)
    except OutcomeUnknown as exc:
        return exc
    except TimeoutError:
        return OutcomeUnknown(f"no answer within {call.timeout:g} seconds")
    except Exception as exc:  # a processor bug must not lose what it may have done
        log.exception("processor %s failed on operation %s", processor.name, call.operation_id)
        return OutcomeUnknown(f"processor error: {type(exc).__name__}")
    if not isinstance(answer, ANSWERS[kind]):
        log.error(
            "processor %s answered %s to a %s (operation %s)",
            processor.name,
            type(answer).__name__,
            kind,
            call.operation_id,
        )
        return OutcomeUnknown(f"processor answered {type(answer).__name__} to a {kind}")
    return answer


async def vault(
    rt: Runtime,
    merchant_id: str,
    livemode: bool,
    card: Card,
    *,
    verify: bool,
    scenario: str | None = None,
) -> str | Declined:
    """Store a card at the processor, before (never inside) the transaction that keeps its
    reference. It moves no money, so it has no recovery point: when the answer is lost the
    request fails (503) and at most an unused vault entry stays at the acquirer."""
    processor = await rt.processor(merchant_id, livemode)
    declining = None if scenario in CHARGEBACK_SCENARIOS else scenario  # approved, disputed later
    outcome = await call_processor(
        processor,
        Call(new_id(), processor.timeout),
        "vault",
        lambda p, call: p.vault(call, card, verify=verify, scenario=declining),
    )
    if isinstance(outcome, OutcomeUnknown):
        raise ProcessorUnavailable(
            "The processor did not answer while keeping the card; nothing was charged. Try again."
        )
    if isinstance(outcome, Declined):
        return outcome
    return str(outcome.reference)
