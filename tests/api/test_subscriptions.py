"""Subscriptions (contract section 7), black-box against a real server: create with the
first charge, list, show, delete, errors, idempotency. Time never moves here (the clock
tests are tests/api/test_subscription_clock.py, on a server of their own)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.helpers import card, get_payment
from tests.conftest import CARD, Merchant, Server, assert_error, assert_schema


@pytest.fixture(scope="module")
def shop(server: Server) -> Merchant:
    return server.merchant("Subscription Shop")


@pytest.fixture
def api(shop: Merchant) -> Iterator[httpx.Client]:
    with shop.client() as client:
        yield client


def new_customer(api: httpx.Client, headers: dict[str, str] | None = None, **params: Any) -> str:
    body = {"email": "sub@example.com", "payment_details": CARD, **params}
    resp = api.post("/customers", json=body, headers=headers or {})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id"])


def subscription_of(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_schema(body, "Subscription")
    return dict(body)


def subscribe(api: httpx.Client, customer: str, **params: Any) -> dict[str, Any]:
    body = {"customer": customer, "amount": 1980, "currency": "JPY", "period": "monthly"}
    return subscription_of(api.post("/subscriptions", json={**body, **params}))


def events_about(api: httpx.Client, object_id: str) -> list[str]:
    """Oldest first; events written in one transaction share a time (then `created` first,
    as the list's order among them is its ids')."""
    found = api.get("/events", params={"per_page": 100}).json()["data"]
    about = [e for e in reversed(found) if e["data"].get("id") == object_id]
    about.sort(key=lambda e: (e["created_at"], e["type"] != "subscription.created"))
    return [e["type"] for e in about]


def test_create_charges_the_saved_card_at_once(api: httpx.Client) -> None:
    customer = new_customer(api)
    made = subscribe(api, customer, metadata={"plan": "gold"})
    assert made["resource"] == "subscription"
    assert (made["status"], made["retry_count"], made["retry_at"]) == ("active", 0, None)
    assert made["customer"]["uuid"] == customer
    assert made["payment_details"]["last_four_digits"] == "1111"
    assert made["metadata"] == {"plan": "gold"} and made["ended_at"] is None
    assert made["next_capture_at"] > made["created_at"]
    [payment_id] = made["payments"]
    payment = get_payment(api, payment_id)
    assert (payment["status"], payment["amount"], payment["customer"]) == (
        "captured",
        1980,
        customer,
    )
    listed = api.get("/payments", params={"per_page": 100}).json()["data"]
    assert payment_id in [p["id"] for p in listed]
    assert events_about(api, made["id"]) == ["subscription.created", "subscription.captured"]
    for event in api.get("/events", params={"type": "subscription.created"}).json()["data"]:
        assert_schema(event, "Event")
        assert_schema(event["data"], "Subscription")


def test_show_list_and_delete(api: httpx.Client, shop: Merchant, server: Server) -> None:
    made = subscribe(api, new_customer(api), period="weekly", currency="USD", amount=500)
    shown = subscription_of(api.get(f"/subscriptions/{made['id']}"))
    assert shown == made
    listing = api.get("/subscriptions", params={"per_page": 2})
    assert listing.status_code == 200
    body = listing.json()
    assert_schema(body, "SubscriptionList")
    assert body["resource"] == "subscription_list" and body["data"][0]["id"] == made["id"]

    ended = subscription_of(api.delete(f"/subscriptions/{made['id']}"))
    assert ended["status"] == "deleted" and ended["ended_at"] is not None
    assert subscription_of(api.delete(f"/subscriptions/{made['id']}")) == ended
    assert events_about(api, made["id"]).count("subscription.deleted") == 1

    with server.merchant("Someone Else").client() as other:
        assert_error(other.get(f"/subscriptions/{made['id']}"), 404, "not_found")
        assert_error(other.delete(f"/subscriptions/{made['id']}"), 404, "not_found")
    with shop.client(shop.publishable_key) as public:
        assert_error(public.get("/subscriptions"), 403, "forbidden")


def test_bad_requests_name_the_parameter(api: httpx.Client) -> None:
    customer = new_customer(api)
    good = {"customer": customer, "amount": 1000, "currency": "JPY", "period": "monthly"}
    for missing in good:
        body = {k: v for k, v in good.items() if k != missing}
        assert_error(api.post("/subscriptions", json=body), 422, "missing_parameter", missing)
    cases = [
        ({"period": "daily"}, "invalid_parameter", "period"),
        ({"amount": 10.5}, "invalid_parameter", "amount"),
        ({"amount": True}, "invalid_parameter", "amount"),
        ({"amount": -1}, "invalid_parameter", "amount"),
        ({"currency": "XXX"}, "invalid_currency", "currency"),
        ({"metadata": {"k": {"nested": 1}}}, "invalid_parameter", "metadata"),
        ({"customer": "a" * 25}, "invalid_parameter", "customer"),
    ]
    for change, code, param in cases:
        assert_error(api.post("/subscriptions", json={**good, **change}), 422, code, param)
    without_card = api.post("/customers", json={"email": "nocard@example.com"}).json()["id"]
    resp = api.post("/subscriptions", json={**good, "customer": without_card})
    assert_error(resp, 422, "invalid_parameter", "customer")
    listed = api.get("/subscriptions", params={"per_page": 100}).json()["data"]
    assert all(s["customer"]["uuid"] not in (customer, without_card) for s in listed)
    assert_error(api.get("/subscriptions/" + "z" * 25), 404, "not_found")


def test_form_encoding_and_idempotency(api: httpx.Client) -> None:
    customer = new_customer(api)
    form = {"customer": customer, "amount": "700", "currency": "JPY", "period": "yearly"}
    headers = {"X-KOMOJU-IDEMPOTENCY": f"sub-{customer}"}
    first = api.post("/subscriptions", data=form, headers=headers)
    again = api.post("/subscriptions", data=form, headers=headers)
    assert (first.status_code, first.content) == (again.status_code, again.content)
    made = subscription_of(first)
    assert made["amount"] == 700 and made["period"] == "yearly"
    mine = [
        s
        for s in api.get("/subscriptions", params={"per_page": 100}).json()["data"]
        if s["customer"]["uuid"] == customer
    ]
    assert len(mine) == 1 and len(mine[0]["payments"]) == 1
    other = api.post("/subscriptions", data={**form, "amount": "701"}, headers=headers)
    assert_error(other, 422, "invalid_parameter", "X-KOMOJU-IDEMPOTENCY")


def test_a_declined_first_charge_subscribes_with_a_retry(api: httpx.Client) -> None:
    # The scenario makes every charge of this customer decline (decisions: "Customers").
    customer = new_customer(api, headers={"Komoju-Scenario": "card_declined"})
    made = subscribe(api, customer)
    assert (made["status"], made["retry_count"]) == ("retrying", 1)
    assert made["retry_at"] is not None
    [payment_id] = made["payments"]
    assert get_payment(api, payment_id)["status"] == "failed"
    assert events_about(api, made["id"]) == ["subscription.created", "subscription.failed"]


def test_saving_a_declining_card_is_refused_but_a_token_of_one_is_kept(
    api: httpx.Client, shop: Merchant
) -> None:
    customer = new_customer(api)
    declining = card("4123111111111059")
    resp = api.patch(f"/customers/{customer}", json={"payment_details": declining})
    assert_error(resp, 402, "card_declined")
    with shop.client(shop.publishable_key) as public:
        token = public.post("/tokens", json={"payment_details": declining}).json()["id"]
    resp = api.patch(f"/customers/{customer}", json={"payment_details": token})
    assert resp.status_code == 200, resp.text
    made = subscribe(api, customer)
    assert made["status"] == "retrying"
