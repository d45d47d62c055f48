"""GET /api/v1/payment_methods (contract section 6, and section 1 on publishable keys)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import ALL_TYPES, WALLETS
from tests.conftest import Merchant, assert_error, assert_schema

JPY_ONLY = {"konbini", "bank_transfer", "pay_easy", *WALLETS} - {"alipay", "wechatpay"}


def methods_of(resp: httpx.Response) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert isinstance(body, list), body
    for entry in body:
        assert_schema(entry, "AvailablePaymentMethod")
    return body


def test_every_type_is_listed_with_names(public_api: httpx.Client) -> None:
    methods = methods_of(public_api.get("/payment_methods"))
    slugs = {m["type_slug"] for m in methods}
    assert slugs == set(ALL_TYPES), slugs
    for m in methods:
        assert m["name_en"].strip() and m["name_ja"].strip() and m["name_ko"].strip(), m
        assert m["currency"] == m["currency"].upper() and len(m["currency"]) == 3, m
    by_slug = {m["type_slug"]: m for m in methods}
    assert by_slug["credit_card"]["name_ja"] == "クレジットカード"
    assert by_slug["konbini"]["name_ja"] == "コンビニ"
    assert any("\uac00" <= ch <= "\ud7a3" for ch in by_slug["credit_card"]["name_ko"]), by_slug[
        "credit_card"
    ]
    jpy = {(m["type_slug"]) for m in methods if m["currency"] == "JPY"}
    assert jpy == set(ALL_TYPES), jpy


def test_no_duplicate_entries(public_api: httpx.Client) -> None:
    methods = methods_of(public_api.get("/payment_methods"))
    pairs = [(m["type_slug"], m["currency"]) for m in methods]
    assert len(pairs) == len(set(pairs))


def test_usd_lists_only_types_serving_usd(public_api: httpx.Client) -> None:
    methods = methods_of(public_api.get("/payment_methods", params={"currency": "USD"}))
    assert methods
    assert {m["currency"] for m in methods} == {"USD"}
    slugs = {m["type_slug"] for m in methods}
    assert "credit_card" in slugs
    assert not slugs & JPY_ONLY, slugs


def test_usd_types_are_accepted_by_usd_session(public_api: httpx.Client, api: httpx.Client) -> None:
    slugs = sorted(
        {m["type_slug"] for m in methods_of(public_api.get("/payment_methods?currency=USD"))}
    )
    resp = api.post("/sessions", json={"amount": 100, "currency": "USD", "payment_types": slugs})
    assert resp.status_code == 200, resp.text
    assert sorted(m["type"] for m in resp.json()["payment_methods"]) == slugs


def test_jpy_lists_every_type(public_api: httpx.Client) -> None:
    methods = methods_of(public_api.get("/payment_methods", params={"currency": "JPY"}))
    assert {m["currency"] for m in methods} == {"JPY"}
    assert {m["type_slug"] for m in methods} == set(ALL_TYPES)


def test_lowercase_currency(public_api: httpx.Client) -> None:
    methods = methods_of(public_api.get("/payment_methods", params={"currency": "usd"}))
    assert {m["currency"] for m in methods} == {"USD"}


def test_cny_lists_chinese_wallets(public_api: httpx.Client) -> None:
    methods = methods_of(public_api.get("/payment_methods", params={"currency": "CNY"}))
    slugs = {m["type_slug"] for m in methods}
    assert {"alipay", "wechatpay", "credit_card"} <= slugs
    assert not slugs & JPY_ONLY


@pytest.mark.parametrize("currency", ["XYZ", "US", "dollars"])
def test_unknown_currency_is_422(public_api: httpx.Client, currency: str) -> None:
    assert_error(
        public_api.get("/payment_methods", params={"currency": currency}),
        422,
        "invalid_currency",
        "currency",
    )


def test_secret_key_may_list_too(api: httpx.Client) -> None:
    assert {m["type_slug"] for m in methods_of(api.get("/payment_methods"))} == set(ALL_TYPES)


def test_without_key_is_401(merchant: Merchant) -> None:
    with httpx.Client(base_url=f"{merchant.server.base_url}/api/v1", timeout=30) as anon:
        assert_error(anon.get("/payment_methods"), 401, "unauthorized")
    with merchant.client("pk_test_" + "0" * 32) as unknown:
        assert_error(unknown.get("/payment_methods"), 401, "unauthorized")
