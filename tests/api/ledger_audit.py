"""The ledger judge's audit (tests/api/test_ledger_judge.py): what a merchant can check from
the API's own objects. The balance is recomputed from payments, chargebacks and
disbursements and compared with `GET /balances/JPY` and with the sum of its transactions;
each kind of transaction is matched to the objects it books; every settlement's CSV is
summed and its rows matched to the transactions that name it.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.api import ledger_client as lc
from tests.api.helpers import parse_time
from tests.conftest import assert_schema

CSV_HEADER = [
    "id",
    "type",
    "amount",
    "currency",
    "source_type",
    "source_id",
    "payment_id",
    "happened_at",
]
# Booked by a request, always between two clock moves: each is in the first settlement
# after it. (Due work may be booked by a worker as the clock runs a cut-off, and then be
# settled one cycle later.)
BOOKED_BY_REQUESTS = ("payment", "fee", "refund", "disbursement")
TYPES = (*BOOKED_BY_REQUESTS, "chargeback", "chargeback_reversal", "disbursement_reversal")
WEEK = timedelta(days=7)


@dataclass
class Expected:
    """What the merchant expects: filled in by the judge as it goes."""

    made: int = 0  # payments created
    outcomes: dict[str, str] = field(default_factory=dict)  # disputed payment -> won | lost
    chargebacks: dict[str, str] = field(default_factory=dict)  # -> the status it ends in
    disbursements: dict[str, str] = field(default_factory=dict)  # -> the status it ends in


def _sum(items: list[dict[str, Any]], key: str) -> int:
    return sum(int(item[key]) for item in items)


@dataclass
class Books:
    """What the API showed at an audit."""

    transactions: list[dict[str, Any]]
    chargebacks: list[dict[str, Any]]
    disbursements: list[dict[str, Any]]


def audit(c: httpx.Client, expected: Expected, *, final: bool) -> Books:
    """Check the balance against the objects, and each transaction against what it books."""
    payments = lc.pages(c, "/payments", "PaymentList")
    assert len(payments) == expected.made
    by_id = {p["id"]: p for p in payments}
    settled = [p for p in payments if p["status"] in ("captured", "refunded")]
    for p in payments:
        ptype = p["payment_details"]["type"]
        fee = lc.expected_fee(ptype, p["total"]) if p in settled else 0
        assert p["processing_fee"] == fee, ("the fee is not the documented rate", p)
        assert _sum(p["refunds"], "amount") == p["amount_refunded"], p

    chargebacks = lc.pages(c, "/chargeback_requests", "ChargebackRequestList")
    assert sorted(cb["payment_id"] for cb in chargebacks) == sorted(expected.outcomes)
    for cb in chargebacks:
        paid = by_id[cb["payment_id"]]
        assert cb["amount"] == paid["total"] - paid["amount_refunded"], (cb, paid)
        if final:
            assert cb["status"] == expected.chargebacks[cb["id"]], (cb, expected.outcomes)
            lc.ok(c.get(f"/chargeback_requests/{cb['id']}"), "ChargebackRequestDetail")

    disbursements = lc.pages(c, "/disbursements", "DisbursementList")
    assert sorted(d["id"] for d in disbursements) == sorted(expected.disbursements)
    if final:
        assert {d["id"]: d["status"] for d in disbursements} == expected.disbursements

    balance = lc.ok(c.get("/balances/JPY"), "ShowBalance200Response")
    transactions = lc.pages(c, "/balances/JPY/transactions", "BalanceTransactionList")
    mine = lc.client_balance(payments, chargebacks, disbursements)
    lines: dict[str, list[dict[str, Any]]] = {}
    for t in transactions:
        assert t["currency"] == "JPY" and t["amount"] == t["amount_cents"], t
        lines.setdefault(t["type"], []).append(t)

    def booked(type_: str) -> tuple[int, Counter[str]]:
        found = lines.get(type_, [])
        return _sum(found, "amount_cents"), Counter(t["source"] for t in found)

    refunds = [r for p in payments for r in p["refunds"]]
    won = [cb for cb in chargebacks if cb["status"] == "cancelled"]
    given_back = [d for d in disbursements if d["status"] in ("failed", "cancelled")]
    costs = [d["amount"] + d["fee"] + d["fee_tax"] for d in disbursements]
    back = [d["amount"] + d["fee"] + d["fee_tax"] for d in given_back]
    assert booked("payment") == (_sum(settled, "total"), Counter(p["id"] for p in settled))
    assert booked("fee") == (-_sum(settled, "processing_fee"), Counter(p["id"] for p in settled))
    assert booked("refund") == (-_sum(refunds, "amount"), Counter(r["id"] for r in refunds))
    assert booked("chargeback") == (
        -_sum(chargebacks, "amount"),
        Counter(cb["id"] for cb in chargebacks),
    )
    assert booked("chargeback_reversal") == (_sum(won, "amount"), Counter(cb["id"] for cb in won))
    assert booked("disbursement") == (-sum(costs), Counter(d["id"] for d in disbursements))
    assert booked("disbursement_reversal") == (sum(back), Counter(d["id"] for d in given_back))
    assert set(lines) <= set(TYPES), set(lines)

    total = _sum(transactions, "amount_cents")
    assert balance["total_balance_cents"] == mine == total, (balance, mine, total)
    assert balance["payments"]["captured_amount_total_cents"] == _sum(settled, "total"), balance
    assert balance["payments"]["processing_fees_cents"] == -_sum(settled, "processing_fee")
    assert balance["refunds"]["refunded_amount_total_cents"] == -_sum(refunds, "amount")
    if final:
        assert {cb["status"] for cb in chargebacks} <= set(lc.FINAL_CHARGEBACKS), chargebacks
        unsettled = sum(t["amount_cents"] for t in transactions if t["settlement"] is None)
        assert balance.get("unsettled_balance_cents", unsettled) == unsettled, balance
        for t in transactions[:: max(1, len(transactions) // 20)]:  # each shown on its own
            shown = c.get(f"/balances/JPY/transactions/{t['id']}")
            assert shown.status_code == 200 and shown.json() == [t], (t, shown.text[:500])
            for item in shown.json():
                assert_schema(item, "Transaction")
    return Books(transactions, chargebacks, disbursements)


def audit_events(c: httpx.Client, books: Books, settlements: int) -> None:
    """Each chargeback, disbursement and settlement announced once per move it made."""
    cbs = Counter(cb["status"] for cb in books.chargebacks)
    paid = Counter(d["status"] for d in books.disbursements)
    expected = {
        "settlement.created": (settlements, "Settlement"),
        "chargeback.created": (len(books.chargebacks), "ChargebackRequestDetail"),
        "chargeback.defended": (cbs["cancelled"] + cbs["lost"], "ChargebackRequestDetail"),
        **{
            f"chargeback.{status}": (cbs[status], "ChargebackRequestDetail")
            for status in ("accepted", "cancelled", "lost", "expired")
        },
        "disbursement.created": (len(books.disbursements), "Disbursement"),
        **{
            f"disbursement.{status}": (paid[status], "Disbursement")
            for status in ("paid", "failed", "cancelled")
        },
    }
    for event_type, (count, schema) in expected.items():
        found = lc.pages(c, "/events", "EventList", type=event_type)
        about = Counter(event["data"]["id"] for event in found)
        assert (len(found), len(about)) == (count, count), (event_type, count, about)
        for event in found:
            assert event["type"] == event_type, event
            assert_schema(event, "Event")
            assert_schema(event["data"], schema)


def audit_settlements(c: httpx.Client, transactions: list[dict[str, Any]], now: datetime) -> int:
    """Each settlement's CSV against its totals and the transactions; how many there are."""
    settlements = lc.pages(c, "/settlements", "SettlementList")
    by_id = {t["id"]: t for t in transactions}
    named: dict[str, set[str]] = {}
    for t in transactions:
        if t["settlement"] is not None:
            named.setdefault(t["settlement"], set()).add(t["id"])
    cutoffs: dict[str, datetime] = {}
    seen: set[str] = set()
    for listed in settlements:
        show = lc.ok(c.get(f"/settlements/{listed['id']}"), "SettlementShow")
        assert {k: show[k] for k in listed} == listed, (show, listed)
        cutoff = parse_time(show["cutoff_time"])
        local = cutoff.astimezone(lc.JST)  # a Monday midnight in Japan, passed
        assert (local.weekday(), local.time().isoformat()) == (0, "00:00:00"), show
        assert cutoff <= now, show
        cutoffs[show["id"]] = cutoff
        rows = _csv_rows(c, show)
        ids = [row["id"] for row in rows]
        assert not seen & set(ids), "a transaction is in two settlements"
        seen |= set(ids)
        assert set(ids) == named.get(show["id"], set()), "its CSV is not what names it"
        assert rows, ("an empty settlement", show)
        amount = sum(int(row["amount"]) for row in rows)
        assert amount == show["settlement_amount_cents"], (amount, show)
        parts = (
            "payments",
            "refunds",
            "corrections",
            "komoju_card_charges",
            "disbursements",
            "misc",
        )
        assert sum(show[part]["total_cents"] for part in parts) == amount, show
        by_type = Counter[str]()
        for row in rows:
            t = by_id[row["id"]]
            assert (row["type"], int(row["amount"]), row["currency"]) == (
                t["type"],
                t["amount_cents"],
                "JPY",
            )
            assert (row["source_id"], row["payment_id"] or None) == (t["source"], t["payment"]), row
            assert parse_time(row["happened_at"]) == parse_time(t["happened_at"]), row
            assert parse_time(row["happened_at"]) < cutoff, (row, show["cutoff_time"])
            by_type[row["type"]] += int(row["amount"])
        assert show["payments"]["captured_amount_total_cents"] == by_type["payment"], show
        assert show["payments"]["processing_fees_cents"] == by_type["fee"], show
        assert show["refunds"]["refunded_amount_total_cents"] == by_type["refund"], show
    assert len(set(cutoffs.values())) == len(cutoffs), "two settlements of one cycle"
    last = max(cutoffs.values())
    for t in transactions:  # each in the first settlement after it
        due = lc.next_cutoff(parse_time(t["happened_at"]))
        where = cutoffs.get(t["settlement"] or "")
        if t["type"] in BOOKED_BY_REQUESTS:
            assert where == (due if due <= last else None), (t, due, where)
        elif due <= last:  # or one cycle later (see BOOKED_BY_REQUESTS)
            assert where is not None and due <= where <= due + WEEK, (t, due, where)
    return len(settlements)


def _csv_rows(c: httpx.Client, show: dict[str, Any]) -> list[dict[str, str]]:
    resp = c.get(f"/settlements/{show['id']}/csv")
    assert resp.status_code == 200, resp.text[:500]
    assert resp.headers["content-type"].startswith("text/csv"), resp.headers
    assert show["download"]["csv"].endswith(f"/settlements/{show['id']}/csv"), show["download"]
    reader = csv.reader(io.StringIO(resp.text))
    header = next(reader)
    assert header == CSV_HEADER, header
    return [dict(zip(header, row, strict=True)) for row in reader]
