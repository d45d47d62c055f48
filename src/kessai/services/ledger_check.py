"""`kessai ledger check`: proves the ledger's invariants over the whole store (or one
merchant) with a handful of set-based queries; each returns only what is wrong.

1. Every running balance (per merchant, mode, currency and type, and in total) is the sum
   of its transactions.
2-5. Every money move has exactly the lines its state calls for, of the right amounts: a
   captured (or refunded) payment its `payment` and `fee`, a refund its `refund`, an opened
   chargeback its `chargeback` and a won one its `chargeback_reversal`, a disbursement its
   `disbursement` and a failed or cancelled one its `disbursement_reversal`.
6. Every line's source exists, calls for that line, and is of the line's merchant, mode,
   currency (and payment).
7. Every settlement's totals, amount and count are those of the lines carrying its id, all
   of which happened before its cut-off in its own ledger; every line's settlement exists.
   No line can be in two settlements: `settlement_id` is a single column.

The queries are the store's (`kessai.store.ledger_audit`, `ledger_audit_sources`); this
tells what each row says is wrong. Run it in one snapshot (`Database.snapshot`) so
concurrent work cannot make it disagree with itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core.ledger import Violation
from kessai.core.times import iso
from kessai.services import ledger_check_sources
from kessai.store import ledger_audit as audit

__all__ = ["Report", "Violation", "check", "run"]


@dataclass
class Report:
    merchants: int = 0
    modes: int = 0  # merchant modes with a ledger
    currencies: list[str] = field(default_factory=list)
    transactions: int = 0
    settlements: int = 0
    violations: list[Violation] = field(default_factory=list)


async def check(conn: AsyncConnection, merchant_id: str | None) -> list[Violation]:
    return (await run(conn, merchant_id)).violations


async def run(conn: AsyncConnection, merchant_id: str | None) -> Report:
    report = Report()
    found: list[Violation] = []
    found += await _balances(conn, merchant_id, report)
    found += await ledger_check_sources.violations(conn, merchant_id)
    found += await _settlements(conn, merchant_id, report)
    report.merchants = await audit.merchant_count(conn, merchant_id)
    report.violations = list(dict.fromkeys(found))  # a line may be seen from both sides
    return report


# 1. Running balances against the transactions.


async def _balances(
    conn: AsyncConnection, merchant_id: str | None, report: Report
) -> list[Violation]:
    found: list[Violation] = []
    totals: dict[tuple[str, bool, str], list[int]] = {}
    for row in await audit.balance_sums(conn, merchant_id):
        ledger, type_ = _ledger(row), row["type"]
        run_sum, book_sum = int(row["running"] or 0), int(row["booked"] or 0)
        report.transactions += int(row["lines"] or 0)
        total = totals.setdefault(ledger, [0, 0])
        total[0] += run_sum
        total[1] += book_sum
        if run_sum != book_sum:
            found.append(
                Violation(
                    "balance_type",
                    *ledger,
                    f"the running balance of {type_!r} is {run_sum}, "
                    f"its transactions sum to {book_sum}",
                )
            )
    for (m, live, currency), (run_sum, book_sum) in sorted(totals.items()):
        if run_sum != book_sum:
            found.append(
                Violation(
                    "balance",
                    m,
                    live,
                    currency,
                    f"the balance is {run_sum}, its transactions sum to {book_sum}",
                )
            )
    report.modes = len({(m, live) for m, live, _ in totals})
    report.currencies = sorted({currency for _, _, currency in totals})
    return found


# 7. Settlements: what they say against the lines that carry their ids.


async def _settlements(
    conn: AsyncConnection, merchant_id: str | None, report: Report
) -> list[Violation]:
    found: list[Violation] = []
    sums: dict[str, dict[str, list[int]]] = {}
    for row in await audit.settled_sums(conn, merchant_id):
        amount, lines = int(row["amount"] or 0), int(row["lines"])
        sums.setdefault(row["settlement_id"], {})[row["type"]] = [amount, lines]
    for s in await audit.settlements(conn, merchant_id):
        report.settlements += 1
        found += _settlement(s, sums.get(s["id"], {}))
    # Its lines: before its cut-off, in its ledger (seen from either side when scoped).
    sides: tuple[audit.Side, ...] = (
        ("settlement",) if merchant_id is None else ("settlement", "line")
    )
    for side in sides:
        for row in await audit.late_lines(conn, merchant_id, side):
            detail = (
                f"settlement {row['settlement_id']} holds {row['lines']} line(s) from its "
                f"cut-off {iso(row['cutoff_time'])} or later (e.g. {row['first']}; the "
                f"latest at {iso(row['latest'])})"
            )
            found.append(Violation("settlement_late_line", *_ledger(row), detail))
        for row in await audit.foreign_lines(conn, merchant_id, side):
            mode = "live" if row["line_livemode"] else "test"
            detail = (
                f"settlement {row['settlement_id']} holds {row['lines']} line(s) of "
                f"{row['line_merchant_id']} {mode} {row['line_currency']} "
                f"(e.g. {row['first']})"
            )
            found.append(Violation("settlement_foreign_line", *_ledger(row), detail))
    for row in await audit.unknown_settlement_lines(conn, merchant_id):
        detail = f"line {row['id']} names settlement {row['settlement_id']}, which does not exist"
        found.append(Violation("unknown_settlement", *_ledger(row), detail))
    return found


def _ledger(row: Mapping[Any, Any]) -> tuple[str, bool, str]:
    return row["merchant_id"], bool(row["livemode"]), row["currency"]


def _settlement(s: Mapping[Any, Any], sums: Mapping[str, list[int]]) -> list[Violation]:
    owner = (s["merchant_id"], bool(s["livemode"]), s["currency"])
    name = f"settlement {s['id']}"
    lines = {t: v[0] for t, v in sums.items() if v[0] != 0}
    amount = sum(v[0] for v in sums.values())
    count = sum(v[1] for v in sums.values())
    found: list[Violation] = []
    said = _totals(s["totals"])
    if said != lines:
        shown = "not per-type whole numbers" if said is None else _shown(said)
        detail = f"{name} has totals {shown}; its lines sum to {_shown(lines)}"
        found.append(Violation("settlement_totals", *owner, detail))
    if int(s["amount"]) != amount:
        detail = f"{name} has amount {s['amount']}; its lines sum to {amount}"
        found.append(Violation("settlement_amount", *owner, detail))
    if int(s["transaction_count"]) != count:
        detail = f"{name} counts {s['transaction_count']} transactions; {count} carry its id"
        found.append(Violation("settlement_count", *owner, detail))
    return found


def _totals(value: Any) -> dict[str, int] | None:
    """A settlement's stored totals without its zeros; None if they are not type -> int."""
    if not isinstance(value, Mapping):
        return None
    said = {}
    for type_, amount in value.items():
        if isinstance(amount, bool) or not isinstance(amount, int):
            return None
        if amount != 0:
            said[str(type_)] = amount
    return said


def _shown(totals: Mapping[str, int]) -> str:
    return "{" + ", ".join(f"{t}: {v}" for t, v in sorted(totals.items())) + "}"
