"""A processor that does what a test tells it, for tests of the phases around every call.

As httpx's `MockTransport` stands in for a server, `ScriptedProcessor` stands in for an
acquirer: it behaves like the simulated processor underneath (`inner`), remembers every
operation id it carried out (an acquirer's idempotency: the same id twice is done once), and
lets a test script what happens to the next calls of a kind:

    processor = ScriptedProcessor()
    processor.script("authorize", LoseAnswer())       # done at the acquirer, answer lost
    processor.script("capture", Unknown())            # never reached the acquirer
    processor.script("refund", Decline("card_declined"))
    gate = asyncio.Event(); processor.script("authorize", Wait(gate))  # slow until set

`calls` records (kind, operation id) of every call (`await processor.reached(kind)` waits
for the first of a kind); `done` maps each operation id the
acquirer carried out to its outcome, so a test can count real charges.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from kessai.processors.base import (
    Call,
    Card,
    Charge,
    Declined,
    OpenOperation,
    Outcome,
    OutcomeUnknown,
    Processor,
    Result,
    Transaction,
    Vaulted,
)
from kessai.processors.simulated import SimulatedProcessor, decline


@dataclass(frozen=True)
class Unknown:
    """The call never reached the acquirer, and the answer is unknown."""


@dataclass(frozen=True)
class LoseAnswer:
    """The acquirer carries the call out, but its answer is lost on the way back."""


@dataclass(frozen=True)
class Decline:
    code: str


@dataclass(frozen=True)
class Answer:
    """Answer this, whatever it is (to test what kessai does with odd answers)."""

    value: Any


@dataclass(frozen=True)
class Wait:
    """Hold the call until `gate` is set, then carry it out."""

    gate: asyncio.Event


Step = Unknown | LoseAnswer | Decline | Answer | Wait


@dataclass
class ScriptedProcessor:
    inner: Processor = field(default_factory=SimulatedProcessor)
    name: str = "scripted"
    timeout: float = 10.0
    calls: list[tuple[str, str]] = field(default_factory=list)
    done: dict[str, Any] = field(default_factory=dict)
    _steps: dict[str, deque[Step]] = field(default_factory=lambda: defaultdict(deque))
    _reached: dict[str, asyncio.Event] = field(default_factory=dict)

    @property
    def supported_types(self) -> frozenset[str]:
        return self.inner.supported_types

    def script(self, kind: str, *steps: Step) -> None:
        self._steps[kind].extend(steps)

    async def reached(self, kind: str) -> None:
        """Wait until a call of `kind` has come in (a `Wait` step then holds it there)."""
        await self._reached.setdefault(kind, asyncio.Event()).wait()

    def charges(self, kind: str = "authorize") -> int:
        """How many distinct operations of `kind` the acquirer carried out."""
        return sum(1 for op, _ in self.done.values() if op == kind)

    async def _run(self, kind: str, call: Call, carry_out: Any) -> Any:
        self.calls.append((kind, call.operation_id))
        self._reached.setdefault(kind, asyncio.Event()).set()
        step = self._steps[kind].popleft() if self._steps[kind] else None
        if isinstance(step, Wait):
            await step.gate.wait()
        if isinstance(step, Unknown):
            raise OutcomeUnknown("scripted: no answer")
        if isinstance(step, Decline):
            return decline(step.code)
        if isinstance(step, Answer):
            if isinstance(step.value, Exception):
                raise step.value
            return step.value
        if call.operation_id not in self.done:
            self.done[call.operation_id] = (kind, await carry_out())
        outcome = self.done[call.operation_id][1]
        if isinstance(step, LoseAnswer):
            raise OutcomeUnknown("scripted: answer lost")
        return outcome

    async def authorize(self, call: Call, charge: Charge) -> Outcome:
        result: Outcome = await self._run(
            "authorize", call, lambda: self.inner.authorize(call, charge)
        )
        return result

    async def complete(self, call: Call, tx: Transaction, state: str, answer: str | None) -> Result:
        result: Result = await self._run(
            "complete", call, lambda: self.inner.complete(call, tx, state, answer)
        )
        return result

    async def vault(
        self, call: Call, card: Card, *, verify: bool = True, scenario: str | None = None
    ) -> Vaulted | Declined:
        result: Vaulted | Declined = await self._run(
            "vault", call, lambda: self.inner.vault(call, card, verify=verify, scenario=scenario)
        )
        return result

    async def capture(self, call: Call, tx: Transaction, amount: int) -> Result:
        result: Result = await self._run(
            "capture", call, lambda: self.inner.capture(call, tx, amount)
        )
        return result

    async def refund(self, call: Call, tx: Transaction, amount: int) -> Result:
        result: Result = await self._run(
            "refund", call, lambda: self.inner.refund(call, tx, amount)
        )
        return result

    async def cancel(self, call: Call, tx: Transaction) -> Result:
        result: Result = await self._run("cancel", call, lambda: self.inner.cancel(call, tx))
        return result

    async def reconcile(self, call: Call, op: OpenOperation) -> Outcome:
        """What an acquirer with idempotency answers: the stored outcome of an operation
        it carried out; for one it never saw, an authorization is declined (the card is
        gone) and anything else is carried out now."""
        self.calls.append(("reconcile", call.operation_id))
        step = self._steps["reconcile"].popleft() if self._steps["reconcile"] else None
        if isinstance(step, Unknown):
            raise OutcomeUnknown("scripted: no answer")
        if call.operation_id in self.done:
            result: Outcome = self.done[call.operation_id][1]
            return result
        if op.kind == "authorize":
            return decline("processor_unavailable")
        outcome = await self.inner.reconcile(call, op)
        self.done[call.operation_id] = (op.kind, outcome)
        return outcome
