"""/api/v1/balances/{currency} and its transactions, black-box: the balance is the sum of
its transactions, signed as the merchant sees them, broken down as KOMOJU does; the
transaction list pages, filters and validates; one transaction is an array of one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.helpers import UNKNOWN_ID, parse_time
from tests.conftest import CARD, Merchant, Server, assert_error, assert_schema

# (amount, currency); the first is refunded 300. Fees: 3.6 % of each capture.
PAYMENTS = [(1000, "JPY"), (2000, "JPY"), (500, "JPY"), (1250, "USD")]


def pay(api: httpx.Client, amount: int, currency: str = "JPY") -> dict[str, Any]:
    body = {"amount": amount, "currency": currency, "payment_details": CARD}
    resp = api.post("/payments", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "captured"
    return dict(resp.json())


def every(api: httpx.Client, currency: str, **params: Any) -> list[dict[str, Any]]:
    """All the currency's transactions, page by page, each page checked."""
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        resp = api.get(
            f"/balances/{currency}/transactions", params={"per_page": 3, "page": page, **params}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert_schema(body, "BalanceTransactionList")
        assert (body["resource"], body["page"], body["per_page"]) == ("list", page, 3)
        found += body["data"]
        if page >= body["last_page"]:
            assert body["total"] == len(found)
            return found
        page += 1


@pytest.fixture(scope="module")
def shop(server: Server) -> Iterator[tuple[Merchant, httpx.Client, list[dict[str, Any]]]]:
    merchant = server.merchant("Balance Shop")
    with merchant.client() as api:
        paid = [pay(api, amount, currency) for amount, currency in PAYMENTS]
        resp = api.post(f"/payments/{paid[0]['id']}/refund", json={"amount": 300})
        assert resp.status_code == 200, resp.text
        yield merchant, api, paid


def test_a_new_merchant_has_a_zero_balance(server: Server) -> None:
    with server.merchant("Empty Balance").client() as api:
        for path in ("/balances/JPY", "/balances/jpy"):
            resp = api.get(path)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert_schema(body, "ShowBalance200Response")
            assert_schema(body, "BalanceShow")
            assert body["currency"] == "JPY"
            assert body["total_balance_cents"] == body["unsettled_balance_cents"] == 0
            assert body["payments"]["total_cents"] == body["refunds"]["total_cents"] == 0
        assert every(api, "JPY") == []


def test_the_balance_is_the_sum_of_its_transactions(shop) -> None:
    _, api, paid = shop
    resp = api.get("/balances/JPY")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_schema(body, "ShowBalance200Response")
    listed = every(api, "JPY")
    assert body["total_balance_cents"] == sum(t["amount"] for t in listed)
    assert body["total_balance_cents"] == 3500 - (36 + 72 + 18) - 300
    assert body["payments"] == {
        "captured_amount_total_cents": 3500,
        "processing_fees_cents": -126,
        "total_cents": 3374,
    }
    assert body["refunds"]["refunded_amount_total_cents"] == body["refunds"]["total_cents"]
    assert body["refunds"]["total_cents"] == -300
    assert body["corrections"]["total_cents"] == body["disbursements"]["total_cents"] == 0
    sections = ("payments", "refunds", "corrections", "komoju_card_charges", "disbursements")
    assert sum(body[s]["total_cents"] for s in (*sections, "misc")) == body["total_balance_cents"]
    # Nothing is settled yet (the merchant's clock has not passed a cut-off).
    assert body["unsettled_balance_cents"] == body["total_balance_cents"]
    assert all(t["settlement"] is None for t in listed)
    usd = api.get("/balances/USD").json()
    assert usd["total_balance_cents"] == 1250 - 45 and usd["currency"] == "USD"
    assert {t["payment"] for t in every(api, "USD")} == {paid[3]["id"]}


def test_transactions_are_signed_and_name_their_sources(shop) -> None:
    _, api, paid = shop
    listed = every(api, "JPY")
    assert sorted(t["type"] for t in listed) == ["fee"] * 3 + ["payment"] * 3 + ["refund"]
    first = [t for t in listed if t["payment"] == paid[0]["id"]]
    amounts = {t["type"]: t["amount"] for t in first}
    assert amounts == {"payment": 1000, "fee": -36, "refund": -300}
    for t in listed:
        assert_schema(t, "Transaction")
        assert t["amount_cents"] == t["amount"] and t["currency"] == "JPY"
        assert (t["amount"] > 0) == (t["type"] == "payment")
        if t["type"] == "refund":
            assert t["source_type"] == "refund" and t["source"] != t["payment"]
            assert t["source"] in {r["id"] for r in paid_refunds(api, paid[0]["id"])}
        else:
            assert t["source_type"] == "payment" and t["source"] == t["payment"]
    times = [parse_time(t["happened_at"]) for t in listed]
    assert times == sorted(times, reverse=True)  # newest first
    assert len({t["id"] for t in listed}) == len(listed)


def paid_refunds(api: httpx.Client, payment_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/payments/{payment_id}").json()["refunds"])


def test_transactions_filter_by_type_and_time(shop) -> None:
    _, api, paid = shop
    fees = every(api, "JPY", type="fee")
    assert [t["type"] for t in fees] == ["fee"] * 3
    assert sum(t["amount"] for t in fees) == -126
    listed = every(api, "JPY")
    times = sorted({t["happened_at"] for t in listed})
    middle = times[len(times) // 2]
    since = every(api, "JPY", start_time=middle)
    assert {t["id"] for t in since} == {t["id"] for t in listed if t["happened_at"] >= middle}
    until = every(api, "JPY", end_time=middle)
    assert {t["id"] for t in until} == {t["id"] for t in listed if t["happened_at"] <= middle}
    resp = api.get("/balances/JPY/transactions", params={"start_time": middle, "per_page": 1})
    body = resp.json()
    assert body["start_time"] == middle and len(body["data"]) == 1
    assert body["last_page"] == body["total"] == len(since)
    past = api.get("/balances/JPY/transactions", params={"page": 99}).json()
    assert past["data"] == [] and past["total"] == len(listed)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"type": "payout"}, "type"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": 101}, "per_page"),
        ({"page": "x"}, "page"),
        ({"start_time": "yesterday"}, "start_time"),
    ],
)
def test_bad_list_parameters_are_named(shop, params, param) -> None:
    _, api, _ = shop
    resp = api.get("/balances/JPY/transactions", params=params)
    assert_error(resp, 422, "invalid_parameter", param)


@pytest.mark.parametrize(
    "path",
    ["/balances/XYZ", "/balances/XYZ/transactions", f"/balances/yen/transactions/{UNKNOWN_ID}"],
)
def test_an_unknown_currency_is_named(shop, path) -> None:
    _, api, _ = shop
    assert_error(api.get(path), 422, "invalid_currency", "currency")


def test_one_transaction_is_an_array_of_one(shop, server: Server) -> None:
    _, api, paid = shop
    listed = every(api, "JPY")
    for t in listed[:3]:
        resp = api.get(f"/balances/JPY/transactions/{t['id']}")
        assert resp.status_code == 200, resp.text
        assert resp.json() == [t]
        assert_schema(resp.json()[0], "Transaction")
        assert api.get(f"/balances/jpy/transactions/{t['id']}").json() == [t]
        # Another currency's path, another merchant: no such transaction.
        assert_error(api.get(f"/balances/USD/transactions/{t['id']}"), 404, "not_found")
    with server.merchant("Nosy Shop").client() as other:
        assert_error(other.get(f"/balances/JPY/transactions/{listed[0]['id']}"), 404, "not_found")
        assert other.get("/balances/JPY").json()["total_balance_cents"] == 0
    for unknown in (UNKNOWN_ID, "not-an-id"):
        assert_error(api.get(f"/balances/JPY/transactions/{unknown}"), 404, "not_found")


def test_balances_need_the_secret_key(shop) -> None:
    merchant, _, _ = shop
    with merchant.client(merchant.publishable_key) as public:
        for path in ("/balances/JPY", "/balances/JPY/transactions"):
            assert_error(public.get(path), 403, "forbidden")


def test_a_changed_fee_is_booked_from_then_on(server: Server) -> None:
    merchant = server.merchant("Fee Change")
    url = f"{server.base_url}/kessai/v1/ledger/settings"
    auth = (merchant.secret_key, "")
    with merchant.client() as api:
        before = pay(api, 10_000)
        change = {"fees": {"credit_card": {"percent": "2.5", "fixed": 30}}}
        resp = httpx.patch(url, json=change, auth=auth)
        assert resp.status_code == 200, resp.text
        assert resp.json()["fees"]["credit_card"] == {"percent": "2.5", "fixed": 30}
        assert resp.json()["fees"]["konbini"] == {"percent": "2.75", "fixed": 0}
        assert httpx.get(url, auth=auth).json() == resp.json()
        after = pay(api, 10_000)
        fees = {t["payment"]: t["amount"] for t in every(api, "JPY", type="fee")}
        assert fees == {before["id"]: -360, after["id"]: -280}
        assert api.get(f"/payments/{after['id']}").json()["processing_fee"] == 280
        assert api.get("/balances/JPY").json()["total_balance_cents"] == 20_000 - 640
