"""The ledger check's invariants 2 to 6 (`kessai.services.ledger_check`): every money move
has exactly the lines its state calls for, of the right amounts, and every line has a
source that calls for it, in the line's own ledger.

The store (`kessai.store.ledger_audit_sources`) finds, per line type, the sources whose
line is missing or wrong, and the lines no source calls for; this tells what is wrong with
each. A line in the wrong ledger is seen from both sides; the caller drops the repeats.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import ledger as rules
from kessai.core.ledger import Violation
from kessai.store import ledger_audit_sources as audit


async def violations(conn: AsyncConnection, merchant_id: str | None) -> list[Violation]:
    found: list[Violation] = []
    for type_ in audit.CALLED_FOR:
        found += await _missing_or_wrong(conn, merchant_id, type_)
    return found + await _lines(conn, merchant_id)


# 2-5. Every source has the lines its state calls for, of the right amounts.


async def _missing_or_wrong(
    conn: AsyncConnection, merchant_id: str | None, type_: str
) -> list[Violation]:
    kind = audit.source_type(type_)
    found: list[Violation] = []
    for row in await audit.missing_or_wrong(conn, merchant_id, type_):
        sid, want, lid = row["source_id"], int(row["expected"]), row["line_id"]
        owner = (row["merchant_id"], bool(row["livemode"]), row["currency"])
        what = f"{kind} {sid} ({row['status']})"
        if lid is None:
            detail = f"{what} has no {type_!r} line (it should be {want})"
            found.append(Violation("missing_line", *owner, detail))
            continue
        got = int(row["line_amount"])
        if got != want:
            detail = f"the {type_!r} line {lid} of {what} is {got}, not {want}"
            found.append(Violation("wrong_amount", *owner, detail))
        booked = (row["line_merchant_id"], bool(row["line_livemode"]), row["line_currency"])
        if booked != owner:
            found.append(_wrong_owner(type_, lid, kind, sid, booked, owner))
    return found


def _wrong_owner(
    type_: str,
    line_id: str,
    source_type: str,
    source_id: str,
    booked: tuple[str, bool, str],
    owner: tuple[str, bool, str],
) -> Violation:
    mode = "live" if owner[1] else "test"
    detail = (
        f"the {type_!r} line {line_id} of {source_type} {source_id} is booked here; "
        f"its source is of {owner[0]} {mode} {owner[2]}"
    )
    return Violation("wrong_owner", *booked, detail)


# 6. Every line has a source that calls for it, in the line's own ledger.


async def _lines(conn: AsyncConnection, merchant_id: str | None) -> list[Violation]:
    found: list[Violation] = []
    for row in await audit.uncalled_lines(conn, merchant_id):
        lid, type_, kind, sid = row["id"], row["type"], row["source_type"], row["source_id"]
        pid, opid, exists = row["payment_id"], row["owner_payment_id"], row["found"]
        booked = (row["merchant_id"], bool(row["livemode"]), row["currency"])
        owner = (row["owner_merchant_id"], bool(row["owner_livemode"]), row["owner_currency"])
        if rules.TYPES.get(type_, (0, None))[1] != kind:
            detail = f"line {lid} has type {type_!r} from a {kind!r}: not a ledger type"
            found.append(Violation("unknown_type", *booked, detail))
        elif exists is None:
            detail = f"the {type_!r} line {lid} names {kind} {sid}, which does not exist"
            found.append(Violation("orphan_line", *booked, detail))
        elif not row["called_for"]:
            status = row["status"] or "made"
            detail = f"the {type_!r} line {lid} is of {kind} {sid}, which is {status}"
            found.append(Violation("unexpected_line", *booked, f"{detail}: it calls for none"))
        if exists is not None and owner != booked:
            found.append(_wrong_owner(type_, lid, kind, sid, booked, owner))
        if exists is not None and (pid != opid if pid is not None else kind in audit.NAME_PAYMENT):
            detail = f"the {type_!r} line {lid} of {kind} {sid} names payment {pid}, not {opid}"
            found.append(Violation("wrong_payment", *booked, detail))
    return found
