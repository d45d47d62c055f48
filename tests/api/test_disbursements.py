"""Disbursements, black-box against a real server: create (drawn from the balance, refused
when it does not cover it), show, list, cancel, the CSV report, every bad input naming its
parameter, idempotency, live mode; and, on merchants of their own, the test clock paying
one and failing the one to the failing test account (its money given back)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.helpers import UNKNOWN_ID, create_payment
from tests.conftest import CARD, Merchant, Server, assert_error, assert_schema

ACCOUNT = {
    "currency": "JPY",
    "account_number": "1234567",
    "account_type": "ordinary",
    "account_name_kana": "ﾔﾏﾀﾞ ﾀﾛｳ",
    "bank_code": "0001",
    "branch_code": "001",
}
FAILING_ACCOUNT = "9999999"
DAY = 86400


@pytest.fixture(scope="module")
def shop(server: Server) -> Merchant:
    return server.merchant("Disbursement Shop")


@pytest.fixture
def api(shop: Merchant) -> Iterator[httpx.Client]:
    with shop.client() as client:
        yield client


def fund(api: httpx.Client, amount: int = 10_000) -> None:
    """Money in: a captured card payment (the balance grows by it, less its fee)."""
    create_payment(api, amount=amount, currency="JPY", payment_details=CARD, capture=True)


def balance(api: httpx.Client) -> int:
    resp = api.get("/balances/JPY")
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "ShowBalance200Response")
    return int(resp.json()["total_balance_cents"])


def transactions(api: httpx.Client, source: str) -> list[tuple[str, int]]:
    """The balance transactions of `source`, as (type, signed amount)."""
    resp = api.get("/balances/JPY/transactions", params={"per_page": 100})
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "BalanceTransactionList")
    return sorted((t["type"], t["amount"]) for t in resp.json()["data"] if t["source"] == source)


def disburse(api: httpx.Client, amount: int, **params: Any) -> httpx.Response:
    return api.post("/disbursements", json={**ACCOUNT, "amount": amount, **params})


def body_of(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_schema(body, "Disbursement")
    return dict(body)


def events_of(api: httpx.Client, disbursement_id: str) -> list[dict[str, Any]]:
    found = api.get("/events", params={"per_page": 100}).json()["data"]
    mine = [e for e in found if e["data"].get("id") == disbursement_id]
    for event in mine:
        assert_schema(event["data"], "Disbursement")
    return mine


def test_create_show_list_and_book_once(api: httpx.Client) -> None:
    fund(api)
    before = balance(api)
    made = body_of(disburse(api, 1500, external_id="payout-1"))
    assert made["resource"] == "disbursement" and made["status"] == "pending"
    assert (made["amount"], made["fee"], made["fee_tax"], made["currency"]) == (1500, 0, 0, "JPY")
    assert {k: made[k] for k in ACCOUNT} == ACCOUNT
    assert (made["external_id"], made["error"], made["cancel_reason"]) == ("payout-1", "", "")
    assert made["created_at"] == made["last_updated_at"]
    assert balance(api) == before - 1500
    assert transactions(api, made["id"]) == [("disbursement", -1500)]
    assert body_of(api.get(f"/disbursements/{made['id']}")) == made
    assert [e["type"] for e in events_of(api, made["id"])] == ["disbursement.created"]

    listed = api.get("/disbursements", params={"per_page": 100, "currency": "JPY"})
    assert listed.status_code == 200, listed.text
    assert_schema(listed.json(), "DisbursementList")
    assert listed.json()["resource"] == "disbursement_list"
    assert made in listed.json()["data"]
    other = api.get("/disbursements", params={"currency": "USD"}).json()
    assert (other["total"], other["data"]) == (0, [])
    later = api.get("/disbursements", params={"start_time": "2999-01-01T00:00:00Z"}).json()
    assert later["data"] == []


@pytest.mark.parametrize(
    "name", ["ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ", "ｶ)ｺﾓｼﾞｭ", "カ）ＡＢＣ　ショウジ", "ABC(ｶ"]
)
def test_kana_names_are_kept_as_given(api: httpx.Client, name: str) -> None:
    fund(api, 1000)
    made = body_of(disburse(api, 10, account_name_kana=name))
    assert made["account_name_kana"] == name


def test_a_form_encoded_request_is_the_same(api: httpx.Client) -> None:
    fund(api, 1000)
    form = {**ACCOUNT, "amount": "20", "account_type": "checking"}
    made = body_of(api.post("/disbursements", data=form))
    assert (made["amount"], made["account_type"], made["external_id"]) == (20, "checking", "")


def test_refused_when_the_balance_does_not_cover_it(server: Server) -> None:
    shop = server.merchant("Small Balance Shop")
    with shop.client() as api:
        error = assert_error(disburse(api, 1), 422, "insufficient_balance", "amount")
        assert error["error"]["details"] == {"available_balance": 0, "requested": 1}
        fund(api, 1000)
        available = balance(api)
        refused = assert_error(disburse(api, available + 1), 422, "insufficient_balance", "amount")
        assert str(available) in refused["error"]["message"]
        assert balance(api) == available
        body_of(disburse(api, available))
        assert balance(api) == 0
        assert_error(disburse(api, 1), 422, "insufficient_balance", "amount")


GOOD = {**ACCOUNT, "amount": 100}
BAD_INPUTS = [
    ({"amount": 0}, "amount", "invalid_parameter"),
    ({"amount": -5}, "amount", "invalid_parameter"),
    ({"amount": 10.5}, "amount", "invalid_parameter"),
    ({"amount": True}, "amount", "invalid_parameter"),
    ({"amount": "ten"}, "amount", "invalid_parameter"),
    ({"currency": "USD"}, "currency", "invalid_currency"),
    ({"currency": "XYZ"}, "currency", "invalid_currency"),
    ({"account_number": "12345678"}, "account_number", "invalid_parameter"),
    ({"account_number": "12a4"}, "account_number", "invalid_parameter"),
    ({"account_number": ""}, "account_number", "invalid_parameter"),
    ({"account_number": "１２３"}, "account_number", "invalid_parameter"),
    ({"account_type": "savings"}, "account_type", "invalid_parameter"),
    ({"account_name_kana": "Taro Yamada"}, "account_name_kana", "invalid_parameter"),
    ({"account_name_kana": "山田太郎"}, "account_name_kana", "invalid_parameter"),
    ({"account_name_kana": "やまだ"}, "account_name_kana", "invalid_parameter"),
    ({"account_name_kana": "   "}, "account_name_kana", "invalid_parameter"),
    ({"account_name_kana": "()-."}, "account_name_kana", "invalid_parameter"),
    ({"account_name_kana": "ﾀﾞ" * 16}, "account_name_kana", "invalid_parameter"),
    ({"account_name_kana": "ダ" * 16}, "account_name_kana", "invalid_parameter"),
    ({"account_name_kana": "ﾔﾏﾀﾞ\nﾀﾛｳ"}, "account_name_kana", "invalid_parameter"),
    ({"account_name_kana": 7}, "account_name_kana", "invalid_parameter"),
    ({"bank_code": "001"}, "bank_code", "invalid_parameter"),
    ({"bank_code": "00a1"}, "bank_code", "invalid_parameter"),
    ({"branch_code": "01"}, "branch_code", "invalid_parameter"),
    ({"branch_code": "0001"}, "branch_code", "invalid_parameter"),
    ({"external_id": "x" * 256}, "external_id", "invalid_parameter"),
    ({"external_id": ["a"]}, "external_id", "invalid_parameter"),
]


@pytest.mark.parametrize(("change", "param", "code"), BAD_INPUTS)
def test_a_bad_input_names_its_parameter(
    api: httpx.Client, change: dict[str, Any], param: str, code: str
) -> None:
    assert_error(api.post("/disbursements", json={**GOOD, **change}), 422, code, param)


@pytest.mark.parametrize("missing", [k for k in GOOD])
def test_a_missing_parameter_is_named(api: httpx.Client, missing: str) -> None:
    body = {k: v for k, v in GOOD.items() if k != missing}
    assert_error(api.post("/disbursements", json=body), 422, "missing_parameter", missing)


def test_cancel_gives_the_money_back_once(api: httpx.Client) -> None:
    fund(api, 1000)
    before = balance(api)
    made = body_of(disburse(api, 300))
    path = f"/disbursements/{made['id']}/cancel"
    assert_error(api.post(path, json={}), 422, "missing_parameter", "cancel_reason")
    assert_error(api.post(path, json={"cancel_reason": ""}), 422, "invalid_parameter")
    cancelled = body_of(api.post(path, json={"cancel_reason": "Wrong account"}))
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "Wrong account")
    assert cancelled["last_updated_at"] >= made["created_at"]
    assert balance(api) == before
    again = body_of(api.post(path, json={"cancel_reason": "Twice"}))
    assert again == cancelled
    assert balance(api) == before
    assert transactions(api, made["id"]) == [("disbursement", -300), ("disbursement_reversal", 300)]
    types = sorted(e["type"] for e in events_of(api, made["id"]))
    assert types == ["disbursement.cancelled", "disbursement.created"]


def test_unknown_and_malformed_ids_are_not_found(api: httpx.Client) -> None:
    assert_error(api.get(f"/disbursements/{UNKNOWN_ID}"), 404, "not_found")
    assert_error(api.get("/disbursements/nope"), 404, "not_found")
    cancel = api.post(f"/disbursements/{UNKNOWN_ID}/cancel", json={"cancel_reason": "x"})
    assert_error(cancel, 404, "not_found")


def test_another_merchant_sees_none_of_them(api: httpx.Client, server: Server) -> None:
    fund(api, 1000)
    made = body_of(disburse(api, 10))
    with server.merchant("Nosy Shop").client() as other:
        assert_error(other.get(f"/disbursements/{made['id']}"), 404, "not_found")
        assert other.get("/disbursements").json()["total"] == 0


def report(api: httpx.Client, **params: str) -> list[dict[str, str]]:
    resp = api.get("/disbursements/report", params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in resp.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(resp.text)))
    assert lines[0] == [
        "id", "status", "currency", "amount", "fee", "fee_tax", "bank_code", "branch_code",
        "account_type", "account_number", "account_name_kana", "external_id", "error",
        "cancel_reason", "created_at", "last_updated_at",
    ]  # fmt: skip
    assert resp.text.endswith("\r\n")
    return [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]


def test_report_is_csv_of_what_was_asked(server: Server) -> None:
    shop = server.merchant("Report Shop")
    with shop.client() as api:
        assert report(api) == []
        fund(api, 5000)
        first = body_of(disburse(api, 100, external_id="=HYPERLINK(1)"))
        second = body_of(disburse(api, 200, account_name_kana="ｶ)ｺﾓｼﾞｭ"))
        path = f"/disbursements/{second['id']}/cancel"
        second = body_of(api.post(path, json={"cancel_reason": "Duplicate"}))
        rows = report(api)
        assert [r["id"] for r in rows] == [first["id"], second["id"]]  # oldest first
        assert rows[0]["external_id"] == "'=HYPERLINK(1)"  # never run as a formula
        assert rows[1] == {k: str(v) for k, v in second.items() if k != "resource"}
        assert [r["id"] for r in report(api, status="cancelled")] == [second["id"]]
        assert [r["id"] for r in report(api, status="pending")] == [first["id"]]
        assert report(api, currency="USD") == []
        assert report(api, start_time="2999-01-01T00:00:00Z") == []
        window = {"start_time": first["created_at"], "end_time": second["created_at"]}
        assert len(report(api, **window)) == 2
        bad_status = api.get("/disbursements/report", params={"status": "x"})
        assert_error(bad_status, 422, "invalid_parameter", "status")
        bad_time = api.get("/disbursements/report", params={"start_time": "yesterday"})
        assert_error(bad_time, 422, "invalid_parameter", "start_time")


def test_a_repeated_idempotency_key_disburses_once(api: httpx.Client) -> None:
    fund(api, 1000)
    before = balance(api)
    headers = {"X-KOMOJU-IDEMPOTENCY": f"disburse-{before}"}
    first = api.post("/disbursements", json={**GOOD, "amount": 50}, headers=headers)
    again = api.post("/disbursements", json={**GOOD, "amount": 50}, headers=headers)
    assert body_of(first) == body_of(again)
    assert balance(api) == before - 50
    other = api.post("/disbursements", json={**GOOD, "amount": 51}, headers=headers)
    assert_error(other, 422, "invalid_parameter", "X-KOMOJU-IDEMPOTENCY")


def test_live_mode_refuses_disbursements(shop: Merchant) -> None:
    assert shop.live_secret_key
    with shop.client(shop.live_secret_key) as live:
        assert_error(disburse(live, 100), 403, "forbidden", None)
        assert live.get("/disbursements").json()["total"] == 0


def test_the_clock_pays_one_and_fails_the_failing_account(server: Server) -> None:
    shop = server.merchant("Payout Clock Shop")
    with shop.client() as api:
        fund(api, 10_000)
        before = balance(api)
        good = body_of(disburse(api, 1000))
        failing = body_of(disburse(api, 2000, account_number=FAILING_ACCOUNT))
        assert balance(api) == before - 3000
        shop.move_clock(advance_seconds=DAY - 60)
        for made in (good, failing):
            assert body_of(api.get(f"/disbursements/{made['id']}"))["status"] == "pending"
        shop.move_clock(advance_seconds=120)
        paid = body_of(api.get(f"/disbursements/{good['id']}"))
        failed = body_of(api.get(f"/disbursements/{failing['id']}"))
        assert (paid["status"], paid["error"]) == ("paid", "")
        assert (failed["status"], failed["error"]) == ("failed", "account_not_found")
        assert paid["last_updated_at"] > paid["created_at"]
        assert balance(api) == before - 1000
        assert transactions(api, good["id"]) == [("disbursement", -1000)]
        assert transactions(api, failing["id"]) == [
            ("disbursement", -2000),
            ("disbursement_reversal", 2000),
        ]
        assert sorted(e["type"] for e in events_of(api, good["id"])) == [
            "disbursement.created",
            "disbursement.paid",
        ]
        assert sorted(e["type"] for e in events_of(api, failing["id"])) == [
            "disbursement.created",
            "disbursement.failed",
        ]
        for made in (paid, failed):
            cancel = api.post(f"/disbursements/{made['id']}/cancel", json={"cancel_reason": "x"})
            assert_error(cancel, 422, "not_cancellable", None)
        shop.move_clock(advance_seconds=3 * DAY)
        assert balance(api) == before - 1000  # nothing moves twice
