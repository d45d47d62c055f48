"""The dashboard's balances and settlements, against a real server: every figure a page
shows is the one the API gives for the same balance or settlement, the lists page by
position without losing or repeating a transaction, the CSV download is the API's CSV byte
for byte, and another merchant's key sees none of it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from typing import Any

import httpx
import pytest

from tests.api.helpers import parse_time
from tests.conftest import CARD, Merchant, Server
from tests.dashboard.helpers import sign_in

FIELD = re.compile(r'data-field="([a-z_.]+)" data-cents="(-?\d+)"')
ROW_ID = re.compile(r'<tr data-id="([0-9a-z]+)"')
OLDER = re.compile(r'<a rel="next" href="([^"]+)"')
SECTION = re.compile(r'data-testid="balance-([A-Z]{3})"(.*?)</section>', re.S)


@dataclass
class Shop:
    merchant: Merchant
    payments: list[str]
    settlement: dict[str, Any]


def pay(api: httpx.Client, amount: int, currency: str = "JPY") -> str:
    body = {"amount": amount, "currency": currency, "payment_details": CARD}
    resp = api.post("/payments", json=body)
    assert resp.status_code == 200 and resp.json()["status"] == "captured", resp.text
    return str(resp.json()["id"])


def ledger_settings(merchant: Merchant) -> dict[str, Any]:
    url = f"{merchant.server.base_url}/kessai/v1/ledger/settings"
    resp = httpx.get(url, auth=(merchant.secret_key, ""))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


@pytest.fixture(scope="module")
def shop(server: Server) -> Shop:
    """Payments in two currencies, a refund, one settled week and then more payments: 15
    JPY payments make 30+ JPY transactions, more than one dashboard page."""
    merchant = server.merchant("Ledger Pages")
    cutoff = parse_time(ledger_settings(merchant)["next_cutoff_at"])
    merchant.move_clock(now=(cutoff + timedelta(hours=1)).isoformat())
    with merchant.client() as api:
        paid = [pay(api, 1000 + i) for i in range(3)]
        paid.append(pay(api, 1250, "USD"))
        assert api.post(f"/payments/{paid[0]}/refund", json={"amount": 300}).status_code == 200
        merchant.move_clock(advance_seconds=8 * 86400)  # over the weekly cut-off
        paid += [pay(api, 500 + i) for i in range(12)]
        listed = api.get("/settlements").json()["data"]
        assert len(listed) == 2, listed  # JPY and USD
        jpy = next(s for s in listed if s["currency"] == "JPY")
        shown = api.get(f"/settlements/{jpy['id']}").json()
    return Shop(merchant, paid, shown)


@pytest.fixture(scope="module")
def dash(shop: Shop) -> Iterator[httpx.Client]:
    with contextlib.closing(sign_in(shop.merchant)) as client:
        yield client


@pytest.fixture(scope="module")
def api(shop: Shop) -> Iterator[httpx.Client]:
    with shop.merchant.client() as client:
        yield client


def fields(html: str) -> dict[str, int]:
    return {name: int(cents) for name, cents in FIELD.findall(html)}


def api_value(body: dict[str, Any], path: str) -> int:
    value: Any = body
    for part in path.split("."):
        value = value[part]
    return int(value)


def every_page(client: httpx.Client, url: str) -> list[str]:
    """The row ids of a list, following "Older" links to the end."""
    ids: list[str] = []
    while url:
        resp = client.get(url)
        assert resp.status_code == 200, resp.text
        ids += ROW_ID.findall(resp.text)
        older = OLDER.search(resp.text)
        url = unescape(older.group(1)) if older else ""
    return ids


def api_transactions(api: httpx.Client, currency: str) -> list[str]:
    resp = api.get(f"/balances/{currency}/transactions", params={"per_page": 100})
    assert resp.status_code == 200 and resp.json()["last_page"] == 1, resp.text
    return [t["id"] for t in resp.json()["data"]]


def test_each_balance_shows_the_apis_figures(dash: httpx.Client, api: httpx.Client) -> None:
    page = dash.get("/dashboard/balances")
    assert page.status_code == 200, page.text
    sections = dict(SECTION.findall(page.text))
    assert set(sections) == {"JPY", "USD"}
    for currency, html in sections.items():
        body = api.get(f"/balances/{currency}").json()
        shown = fields(html)
        assert "total_balance_cents" in shown and "payments.processing_fees_cents" in shown
        assert shown == {name: api_value(body, name) for name in shown}, currency
    usd = fields(sections["USD"])
    assert usd["total_balance_cents"] == 1250 - 45  # the card fee, 3.6 %
    assert fields(sections["JPY"])["refunds.total_cents"] == -300
    assert "$12.50" in sections["USD"] or "US$12.50" in sections["USD"]


def test_transactions_page_by_position_newest_first(
    shop: Shop, dash: httpx.Client, api: httpx.Client
) -> None:
    first = dash.get("/dashboard/balances")
    assert len(ROW_ID.findall(first.text)) == 25  # a full page, and an "Older" link
    assert OLDER.search(first.text)
    assert every_page(dash, "/dashboard/balances") == api_transactions(api, "JPY")
    usd = every_page(dash, "/dashboard/balances?currency=usd")
    assert usd == api_transactions(api, "USD") and len(usd) == 2
    # Each row links its payment's page.
    assert f'href="/dashboard/payments/{shop.payments[-1]}"' in first.text
    # "Newer" from the second page leads back to the first page's rows.
    second = dash.get(unescape(OLDER.search(first.text).group(1)))  # type: ignore[union-attr]
    newer = re.search(r'<a rel="prev" href="([^"]+)"', second.text)
    assert newer is not None
    back = dash.get(unescape(newer.group(1)))
    assert ROW_ID.findall(back.text) == ROW_ID.findall(first.text)


@pytest.mark.parametrize("value", ["XYZ", "yen", "J1Y"])
def test_an_unknown_currency_is_named(dash: httpx.Client, value: str) -> None:
    resp = dash.get("/dashboard/balances", params={"currency": value})
    assert resp.status_code == 422, resp.text
    assert "currency" in resp.text


def test_a_currency_without_transactions_is_an_empty_list(dash: httpx.Client) -> None:
    resp = dash.get("/dashboard/balances", params={"currency": "EUR", "before": "nonsense"})
    assert resp.status_code == 200, resp.text
    assert ROW_ID.findall(resp.text) == []


def test_the_settlement_shows_the_apis_totals_and_transactions(
    shop: Shop, dash: httpx.Client, api: httpx.Client
) -> None:
    s = shop.settlement
    listed = dash.get("/dashboard/settlements")
    assert listed.status_code == 200
    assert f'href="/dashboard/settlements/{s["id"]}"' in listed.text
    assert s["reference"] in listed.text
    assert len(ROW_ID.findall(listed.text)) == 2
    page = dash.get(f"/dashboard/settlements/{s['id']}")
    assert page.status_code == 200, page.text
    shown = fields(page.text)
    assert shown["settlement_amount_cents"] == s["settlement_amount_cents"] != 0
    assert shown == {name: api_value(s, name) for name in shown}
    assert shown["refunds.total_cents"] == -300
    csv_ids = [line.split(",")[0] for line in api.get(f"/settlements/{s['id']}/csv").text.split()]
    assert sorted(ROW_ID.findall(page.text)) == sorted(csv_ids[1:])
    assert f'href="/dashboard/settlements/{s["id"]}/csv"' in page.text


def test_the_csv_download_is_the_apis_csv(
    shop: Shop, dash: httpx.Client, api: httpx.Client
) -> None:
    settlement_id = shop.settlement["id"]
    mine = dash.get(f"/dashboard/settlements/{settlement_id}/csv")
    theirs = api.get(f"/settlements/{settlement_id}/csv")
    assert mine.status_code == theirs.status_code == 200
    assert mine.content == theirs.content and mine.content.count(b"\r\n") == 8
    assert mine.headers["content-type"] == theirs.headers["content-type"]
    assert mine.headers["content-disposition"] == (
        f'attachment; filename="settlement-{settlement_id}.csv"'
    )


def test_another_merchant_sees_none_of_it(shop: Shop, server: Server, api: httpx.Client) -> None:
    other = server.merchant("Other Ledger")
    settlement_id = shop.settlement["id"]
    theirs = api_transactions(api, "JPY")
    with contextlib.closing(sign_in(other)) as them:
        page = f"/dashboard/settlements/{settlement_id}"
        for path in (page, f"{page}/csv"):
            resp = them.get(path)
            assert resp.status_code == 404, (path, resp.text[:300])
            assert "Ledger Pages" not in resp.text
        listed = them.get("/dashboard/settlements")
        assert ROW_ID.findall(listed.text) == []
        balances = them.get("/dashboard/balances?currency=JPY")
        assert balances.status_code == 200
        assert ROW_ID.findall(balances.text) == [] and 'data-testid="balance-' not in balances.text
        # Another merchant's transaction id as a cursor shows nothing of theirs.
        paged = them.get(f"/dashboard/balances?currency=JPY&before={theirs[3]}")
        assert paged.status_code == 200 and ROW_ID.findall(paged.text) == []


@pytest.mark.parametrize("bad", ["zzzzzzzzzzzzzzzzzzzzzzzzz", "not-an-id", "x" * 300])
def test_an_unknown_settlement_is_404(dash: httpx.Client, bad: str) -> None:
    for path in (f"/dashboard/settlements/{bad}", f"/dashboard/settlements/{bad}/csv"):
        assert dash.get(path).status_code == 404


def test_signed_out_pages_go_to_the_sign_in_page(shop: Shop, server: Server) -> None:
    settlement_id = shop.settlement["id"]
    with httpx.Client(base_url=server.base_url) as anon:
        for path in ("/dashboard/balances", f"/dashboard/settlements/{settlement_id}/csv"):
            resp = anon.get(path)
            assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/login"
