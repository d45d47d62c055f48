"""/api/v1/settlements and /kessai/v1/ledger/settings, black-box: settlements made by
moving a merchant's test clock over its cut-offs (weekly, or daily and monthly once the
schedule is changed), each holding exactly the transactions before its cut-off that no
earlier one holds, its CSV summing to its amount, its `settlement.created` event sent;
concurrent clock moves (and the embedded worker) settle each transaction once."""

from __future__ import annotations

import concurrent.futures
import csv
import io
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.api.helpers import UNKNOWN_ID, parse_time
from tests.conftest import CARD, Merchant, Server, assert_error, assert_schema

JST = timezone(timedelta(hours=9))
HEADER = [
    "id",
    "type",
    "amount",
    "currency",
    "source_type",
    "source_id",
    "payment_id",
    "happened_at",
]


def pay(api: httpx.Client, amount: int, currency: str = "JPY") -> str:
    body = {"amount": amount, "currency": currency, "payment_details": CARD}
    resp = api.post("/payments", json=body)
    assert resp.status_code == 200 and resp.json()["status"] == "captured", resp.text
    return str(resp.json()["id"])


def settings(merchant: Merchant, **change: Any) -> dict[str, Any]:
    url = f"{merchant.server.base_url}/kessai/v1/ledger/settings"
    auth = (merchant.secret_key, "")
    resp = httpx.patch(url, json=change, auth=auth) if change else httpx.get(url, auth=auth)
    assert resp.status_code == 200, resp.text
    body = dict(resp.json())
    assert body["resource"] == "ledger_settings" and body["livemode"] is False
    return body


def now_of(merchant: Merchant) -> datetime:
    resp = httpx.get(f"{merchant.server.base_url}/kessai/v1/clock", auth=(merchant.secret_key, ""))
    return parse_time(resp.json()["now"])


def transactions(api: httpx.Client, currency: str = "JPY") -> dict[str, dict[str, Any]]:
    resp = api.get(f"/balances/{currency}/transactions", params={"per_page": 100})
    assert resp.status_code == 200 and resp.json()["last_page"] == 1, resp.text
    return {t["id"]: t for t in resp.json()["data"]}


def all_settlements(api: httpx.Client) -> list[dict[str, Any]]:
    """Every settlement, newest first, each shown and checked."""
    resp = api.get("/settlements", params={"per_page": 100})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_schema(body, "SettlementList")
    assert body["total"] == len(body["data"])
    shown = []
    for item in body["data"]:
        one = api.get(f"/settlements/{item['id']}")
        assert one.status_code == 200, one.text
        assert_schema(one.json(), "SettlementShow")
        assert {k: one.json()[k] for k in item} == item
        shown.append(one.json())
    return shown


def csv_rows(api: httpx.Client, settlement: dict[str, Any]) -> list[dict[str, str]]:
    resp = api.get(f"/settlements/{settlement['id']}/csv")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    assert settlement["download"]["csv"].endswith(f"/api/v1/settlements/{settlement['id']}/csv")
    lines = list(csv.reader(io.StringIO(resp.text)))
    assert lines[0] == HEADER
    return [dict(zip(HEADER, line, strict=True)) for line in lines[1:]]


def check_statements(api: httpx.Client, shown: list[dict[str, Any]]) -> set[str]:
    """Each settlement's CSV adds up to it and no transaction is in two; the ids listed."""
    seen: list[str] = []
    for s in shown:
        rows = csv_rows(api, s)
        assert sum(int(r["amount"]) for r in rows) == s["settlement_amount_cents"]
        sections = ("payments", "refunds", "corrections", "komoju_card_charges", "disbursements")
        assert sum(s[k]["total_cents"] for k in (*sections, "misc")) == s["settlement_amount_cents"]
        fees = sum(int(r["amount"]) for r in rows if r["type"] == "fee")
        assert s["fee_amount_cents"] == s["payments"]["processing_fees_cents"] == fees
        assert s["transaction_amount_cents"] == s["settlement_amount_cents"] - fees
        assert all(r["currency"] == s["currency"] for r in rows)
        times = [parse_time(r["happened_at"]) for r in rows]
        assert times == sorted(times) and all(t < parse_time(s["cutoff_time"]) for t in times)
        seen += [r["id"] for r in rows]
    assert len(seen) == len(set(seen))
    return set(seen)


def events_of(api: httpx.Client) -> list[dict[str, Any]]:
    resp = api.get("/events", params={"type": "settlement.created", "per_page": 100})
    assert resp.status_code == 200, resp.text
    for event in resp.json()["data"]:
        assert_schema(event, "Event")
        assert_schema(event["data"], "Settlement")
    return list(resp.json()["data"])


def test_weekly_settlements_hold_the_transactions_before_their_cutoffs(server: Server) -> None:
    merchant = server.merchant("Weekly Settlements")
    shown = settings(merchant)
    assert shown["settlement_schedule"] == "weekly"
    # Start an hour into a cycle, so each week's payments (a day apart) share one.
    merchant.move_clock(now=(parse_time(shown["next_cutoff_at"]) + timedelta(hours=1)).isoformat())
    cutoffs: list[datetime] = []
    with merchant.client() as api:
        for week in range(3):
            first = pay(api, 1000 + week)
            pay(api, 2000, "USD")
            merchant.move_clock(advance_seconds=3600 * 24)
            pay(api, 500)
            if week == 1:
                assert (
                    api.post(f"/payments/{first}/refund", json={"amount": 100}).status_code == 200
                )
            cutoff = parse_time(settings(merchant)["next_cutoff_at"])
            assert cutoff.astimezone(JST).weekday() == 0 and cutoff.astimezone(JST).hour == 0
            cutoffs.append(cutoff)
            merchant.move_clock(now=(cutoff + timedelta(hours=2)).isoformat())
        pay(api, 700)  # after the last cut-off: not settled yet
        shown = all_settlements(api)
        assert len(shown) == 6  # three weeks, two currencies
        assert [parse_time(s["cutoff_time"]) for s in shown[::2]] == cutoffs[::-1]
        listed = {**transactions(api), **transactions(api, "USD")}
        settled = check_statements(api, shown)
        unsettled = {t for t, v in listed.items() if v["settlement"] is None}
        assert settled == set(listed) - unsettled and len(unsettled) == 2
        by_id = {s["id"]: s for s in shown}
        for t in listed.values():
            if t["settlement"] is not None:
                s = by_id[t["settlement"]]
                cutoff = parse_time(s["cutoff_time"])
                assert parse_time(t["happened_at"]) < cutoff
                assert parse_time(t["happened_at"]) >= cutoff - timedelta(days=7)
        for s in shown:
            assert s["status"] == "pending" and s["merchant_name"] == "Weekly Settlements"
            day = parse_time(s["cutoff_time"]).astimezone(JST)
            assert s["reference"].startswith(f"KS-{day:%Y%m%d}-")
            assert s["remittance_amount_cents"] == s["settlement_amount_cents"]
        refunded = next(s for s in shown if s["refunds"]["total_cents"])
        assert refunded["refunds"]["total_cents"] == -100 and refunded["currency"] == "JPY"
        created = events_of(api)
        assert sorted(e["data"]["id"] for e in created) == sorted(by_id)
        balance = api.get("/balances/JPY").json()
        jpy = sum(s["settlement_amount_cents"] for s in shown if s["currency"] == "JPY")
        assert balance["total_balance_cents"] - balance["unsettled_balance_cents"] == jpy
        assert balance["unsettled_balance_cents"] == 700 - 25


@pytest.mark.parametrize("schedule", ["daily", "monthly"])
def test_the_schedule_changes_by_patch(server: Server, schedule: str) -> None:
    merchant = server.merchant(f"{schedule.title()} Settlements")
    shown = settings(merchant, settlement_schedule=schedule)
    assert shown["settlement_schedule"] == schedule
    assert shown["fees"]["credit_card"] == {"percent": "3.6", "fixed": 0}
    local = now_of(merchant).astimezone(JST)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if schedule == "daily":
        expected = midnight + timedelta(days=1)
    else:
        expected = (midnight.replace(day=1) + timedelta(days=32)).replace(day=1)
    assert parse_time(shown["next_cutoff_at"]) == expected
    with merchant.client() as api:
        paid = []
        for n in range(3):
            paid.append(pay(api, 100 * (n + 1)))
            cutoff = parse_time(settings(merchant)["next_cutoff_at"])
            merchant.move_clock(now=(cutoff + timedelta(minutes=1)).isoformat())
        result = all_settlements(api)
        assert len(result) == 3
        cycles = [s["cycle"] for s in reversed(result)]
        last_days = [
            parse_time(s["cutoff_time"]).astimezone(JST) - timedelta(days=1)
            for s in reversed(result)
        ]
        fmt = "%Y-%m-%d" if schedule == "daily" else "%Y-%m"
        assert cycles == [d.strftime(fmt) for d in last_days]
        check_statements(api, result)
        for s, payment in zip(reversed(result), paid, strict=True):
            assert {r["payment_id"] for r in csv_rows(api, s)} == {payment}


def test_concurrent_clock_moves_settle_each_transaction_once(server: Server) -> None:
    merchant = server.merchant("Racing Settlements")
    settings(merchant, settlement_schedule="daily")
    with merchant.client() as api:
        for _ in range(8):
            pay(api, 1000)
            pay(api, 300, "EUR")
            merchant.move_clock(advance_seconds=6 * 3600)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            moves = [pool.submit(merchant.move_clock, advance_seconds=3 * 86400) for _ in range(4)]
            for move in moves:
                move.result()
        shown = all_settlements(api)
        listed = {**transactions(api), **transactions(api, "EUR")}
        assert check_statements(api, shown) == set(listed)  # all settled, each once
        assert all(t["settlement"] for t in listed.values())
        assert len({(s["currency"], s["cutoff_time"]) for s in shown}) == len(shown)
        assert sorted(e["data"]["id"] for e in events_of(api)) == sorted(s["id"] for s in shown)
        assert api.get("/balances/EUR").json()["unsettled_balance_cents"] == 0


def test_downloads_and_unknown_settlements(server: Server) -> None:
    merchant = server.merchant("Download Settlements")
    with merchant.client() as api:
        pay(api, 1000)
        cutoff = parse_time(settings(merchant)["next_cutoff_at"])
        merchant.move_clock(now=(cutoff + timedelta(seconds=1)).isoformat())
        (settlement,) = all_settlements(api)
        sid = settlement["id"]
        for kind in ("pdf", "xls"):
            body = assert_error(api.get(f"/settlements/{sid}/{kind}"), 404, "format_unavailable")
            assert "CSV" in body["error"]["message"]
        for suffix in ("", "/csv", "/pdf", "/xls"):
            assert_error(api.get(f"/settlements/{UNKNOWN_ID}{suffix}"), 404, "not_found")
            assert_error(api.get(f"/settlements/not-an-id{suffix}"), 404, "not_found")
        with server.merchant("Other Settlements").client() as other:
            assert_error(other.get(f"/settlements/{sid}"), 404, "not_found")
            assert_error(other.get(f"/settlements/{sid}/csv"), 404, "not_found")
            assert other.get("/settlements").json()["data"] == []
        with merchant.client(merchant.publishable_key) as public:
            for path in ("/settlements", f"/settlements/{sid}", f"/settlements/{sid}/csv"):
                assert_error(public.get(path), 403, "forbidden")
        page = api.get("/settlements", params={"per_page": 1, "page": 2}).json()
        assert page["data"] == [] and page["total"] == 1 and page["last_page"] == 1
        assert_error(
            api.get("/settlements", params={"per_page": 0}), 422, "invalid_parameter", "per_page"
        )


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"settlement_schedule": "hourly"}, "settlement_schedule"),
        ({"settlement_schedule": 7}, "settlement_schedule"),
        ({"fees": "cheap"}, "fees"),
    ],
)
def test_bad_settings_are_named(server: Server, change: dict[str, Any], param: str) -> None:
    merchant = server.merchant("Settings Errors")
    url = f"{server.base_url}/kessai/v1/ledger/settings"
    resp = httpx.patch(url, json=change, auth=(merchant.secret_key, ""))
    assert_error(resp, 422, "invalid_parameter", param)
    assert settings(merchant)["settlement_schedule"] == "weekly"
    public = httpx.get(url, auth=(merchant.publishable_key, ""))
    assert_error(public, 403, "forbidden")
