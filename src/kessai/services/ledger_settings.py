"""A merchant mode's ledger settings: its settlement schedule and the fee on each payment
type (`core.fees.DEFAULT_FEES`, overridden per type). Shown and changed by
`/kessai/v1/ledger/settings` and `kessai ledger settings`.

A fee override is a whole rate (`{"percent": "3.6", "fixed": 0}`; `fixed` defaults to 0);
`null` for a type drops its override (back to the default). A new rate applies to captures
from then on; what was booked before stays as it was. A changed schedule starts at once:
the next cut-off becomes the new schedule's first one after the merchant's time, and
whatever is unsettled then goes into that first settlement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import fees as fee_rules
from kessai.core import ledger as rules
from kessai.core.payment_types import PAYMENT_TYPES
from kessai.core.rules import Invalid
from kessai.core.times import iso
from kessai.errors import InvalidParameter, MissingParameter, NotFound
from kessai.services.runtime import Runtime
from kessai.store import ledger_settings as store

RATE_FIELDS = ("percent", "fixed")


def _missing(merchant_id: str) -> NotFound:
    return NotFound(f"No merchant {merchant_id!r} exists.")


def shown(row: Mapping[Any, Any]) -> dict[str, Any]:
    rates = fee_rules.rates(row["fees"])
    return {
        "settlement_schedule": row["settlement_schedule"],
        "next_cutoff_at": iso(row["next_cutoff_at"]),
        "fees": {slug: rate.as_json() for slug, rate in rates.items()},
    }


async def view(conn: AsyncConnection, merchant_id: str, livemode: bool) -> dict[str, Any]:
    return shown(await _current(conn, merchant_id, livemode))


async def configure(
    conn: AsyncConnection,
    rt: Runtime,
    merchant_id: str,
    livemode: bool,
    *,
    schedule: str | None,
    fees: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Change the schedule and/or fee overrides (all checked before anything is written);
    the settings as they are now."""
    if schedule is not None and (not isinstance(schedule, str) or schedule not in rules.SCHEDULES):
        raise InvalidParameter(
            f"settlement_schedule must be one of {', '.join(rules.SCHEDULES)}",
            param="settlement_schedule",
        )
    given = _rates(fees) if fees is not None else {}
    now = rt.now()
    # Hold the row first (a write), so concurrent changes of different types both stay.
    if not await store.update(conn, merchant_id, livemode, {"updated_at": now}):
        raise _missing(merchant_id)
    row = await _current(conn, merchant_id, livemode)
    changes: dict[str, Any] = {}
    if given:
        overrides = dict(row["fees"] or {})
        for slug, rate in given.items():
            if rate is None:
                overrides.pop(slug, None)
            else:
                overrides[slug] = rate.as_json()
        changes["fees"] = overrides
    if schedule is not None and schedule != row["settlement_schedule"]:
        changes["settlement_schedule"] = schedule
        changes["next_cutoff_at"] = rules.next_cutoff(schedule, now)
    if changes:
        await store.update(conn, merchant_id, livemode, changes)
    return shown({**row, **changes})


async def _current(conn: AsyncConnection, merchant_id: str, livemode: bool) -> RowMapping:
    row = await store.get(conn, merchant_id, livemode)
    if row is None:
        raise _missing(merchant_id)
    return row


def _rates(fees: Any) -> dict[str, fee_rules.Rate | None]:
    """`{payment_type: {"percent": "3.6", "fixed": 0} | None}`, each checked; a bad one
    names its parameter (`fees[credit_card][percent]`)."""
    if not isinstance(fees, Mapping):
        raise InvalidParameter(
            'fees must be an object of payment types, e.g. {"credit_card": {"percent": "3.6"}}',
            param="fees",
        )
    found: dict[str, fee_rules.Rate | None] = {}
    for slug, value in fees.items():
        param = f"fees[{slug}]"
        if slug not in PAYMENT_TYPES:
            raise InvalidParameter(
                f"{param}: {str(slug)!r} is not a payment type; one of {', '.join(PAYMENT_TYPES)}",
                param=param,
            )
        found[slug] = None if value is None else _rate(param, value)
    return found


def _rate(param: str, value: Any) -> fee_rules.Rate:
    if not isinstance(value, Mapping):
        raise InvalidParameter(
            f'{param} must be an object like {{"percent": "3.6", "fixed": 0}}, or null '
            "for the default",
            param=param,
        )
    for name in value:
        if name not in RATE_FIELDS:
            raise InvalidParameter(
                f"{param}[{name}] is not a fee field: give percent and fixed",
                param=f"{param}[{name}]",
            )
    if "percent" not in value:
        raise MissingParameter(f"{param}[percent] is required", param=f"{param}[percent]")
    try:
        bps = fee_rules.parse_percent(value["percent"])
    except Invalid as exc:
        raise InvalidParameter(
            f"{param}[percent] {exc.message}", param=f"{param}[percent]"
        ) from None
    try:
        fixed = fee_rules.parse_fixed(value.get("fixed", 0))
    except Invalid as exc:
        raise InvalidParameter(f"{param}[fixed] {exc.message}", param=f"{param}[fixed]") from None
    return fee_rules.Rate(bps, fixed)
