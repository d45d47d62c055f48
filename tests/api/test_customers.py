"""/api/v1/customers and payments that charge a saved card (contract section 4)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    DECLINES,
    ID_RE,
    UNKNOWN_ID,
    assert_list,
    assert_no_card_secrets,
    card,
    create_payment,
    get_payment,
    parse_time,
    payment_of,
)
from tests.conftest import (
    CARD,
    CARD_YEAR,
    EXPIRED_YEAR,
    Merchant,
    Server,
    assert_error,
    assert_schema,
    moment_after,
)


def customer_of(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, (resp.request.method, resp.request.url, resp.text)
    data = resp.json()
    assert_schema(data, "Customer")
    assert data["resource"] == "customer", data
    assert ID_RE.match(data["id"]), data
    return data


def create_customer(client: httpx.Client, **body: Any) -> dict[str, Any]:
    return customer_of(client.post("/customers", json=body))


def get_customer(client: httpx.Client, customer_id: str) -> dict[str, Any]:
    return customer_of(client.get(f"/customers/{customer_id}"))


@pytest.fixture(scope="module")
def other(server: Server) -> Merchant:
    return server.merchant("Other Customer Shop")


# --- create ---------------------------------------------------------------------------------


def test_create_with_email_metadata_and_card(api: httpx.Client) -> None:
    number, cvv = "5555555555554444", "987"
    resp = api.post(
        "/customers",
        json={
            "email": "hanako@example.com",
            "metadata": {"member": "gold", "visits": 3},
            "payment_details": card(number, verification_value=cvv),
        },
    )
    customer = customer_of(resp)
    assert_no_card_secrets(resp.json(), number, cvv)
    assert customer["email"] == "hanako@example.com"
    assert customer["metadata"] == {"member": "gold", "visits": "3"}
    source = customer["source"]
    assert source is not None
    assert source["type"] == "credit_card"
    assert source["brand"] == "master"
    assert source["last_four_digits"] == "4444"
    assert (source["month"], source["year"]) == (12, CARD_YEAR)
    parse_time(customer["created_at"])
    shown = get_customer(api, customer["id"])
    assert shown == customer
    assert_no_card_secrets(shown, number, cvv)


def test_create_without_card(api: httpx.Client) -> None:
    customer = create_customer(api, email="nocard@example.com")
    assert customer["source"] is None
    assert customer["metadata"] == {}
    empty = customer_of(api.post("/customers"))
    assert empty["source"] is None
    assert empty["email"] is None


def test_create_with_locale_and_currency(api: httpx.Client) -> None:
    customer = create_customer(api, locale="en", currency="USD", email="en@example.com")
    assert customer["locale"] == "en"
    assert get_customer(api, customer["id"])["locale"] == "en"
    assert_error(api.post("/customers", json={"locale": "fr"}), 422, "invalid_parameter", "locale")


def test_create_as_form(api: httpx.Client) -> None:
    resp = api.post(
        "/customers",
        data={
            "email": "form@example.com",
            "metadata[a]": "b",
            "payment_details[type]": "credit_card",
            "payment_details[number]": "3530111333300000",
            "payment_details[month]": "7",
            "payment_details[year]": str(CARD_YEAR - 1),
        },
    )
    customer = customer_of(resp)
    assert customer["source"]["brand"] == "jcb"
    assert customer["source"]["last_four_digits"] == "0000"
    assert customer["metadata"] == {"a": "b"}


@pytest.mark.parametrize("number,code", list(DECLINES.items())[:5])
def test_create_with_declined_card_is_402(api: httpx.Client, number: str, code: str) -> None:
    before = api.get("/customers").json()["total"]
    body = assert_error(
        api.post("/customers", json={"email": "d@example.com", "payment_details": card(number)}),
        402,
        code,
    )
    assert_no_card_secrets(body, number)
    assert api.get("/customers").json()["total"] == before


@pytest.mark.parametrize(
    "body,code,param",
    [
        ({"email": "not-an-email"}, "invalid_parameter", "email"),
        ({"metadata": {"k" * 31: "v"}}, "invalid_parameter", None),
        ({"metadata": "x"}, "invalid_parameter", "metadata"),
        ({"currency": "XYZ"}, "invalid_currency", "currency"),
        (
            {"payment_details": {**CARD, "number": "4111111111111112"}},
            "invalid_parameter",
            "payment_details[number]",
        ),
        (
            {"payment_details": {**CARD, "month": 1, "year": EXPIRED_YEAR}},
            "invalid_parameter",
            "payment_details[year]",
        ),
        (
            {"payment_details": {"type": "credit_card", "number": "4111111111111111"}},
            "missing_parameter",
            "payment_details[month]",
        ),
        (
            {"payment_details": {"type": "konbini", "store": "lawson", "email": "a@b.jp"}},
            "invalid_parameter",
            "payment_details[type]",
        ),
    ],
    ids=[
        "email",
        "metadata-key",
        "metadata-string",
        "currency",
        "luhn",
        "expired",
        "no-expiry",
        "not-a-card",
    ],
)
def test_create_bad_params_are_422(
    api: httpx.Client, body: dict[str, Any], code: str, param: str | None
) -> None:
    err = assert_error(api.post("/customers", json=body), 422, code)
    if param is not None:
        assert err["error"]["param"] == param, err
    else:
        assert str(err["error"]["param"]).startswith("metadata"), err


def test_publishable_key_cannot_manage_customers(
    api: httpx.Client, public_api: httpx.Client
) -> None:
    customer = create_customer(api)
    assert_error(public_api.post("/customers", json={}), 403, "forbidden")
    assert_error(public_api.get("/customers"), 403, "forbidden")
    assert_error(public_api.get(f"/customers/{customer['id']}"), 403, "forbidden")
    assert_error(public_api.patch(f"/customers/{customer['id']}", json={}), 403, "forbidden")
    assert_error(public_api.delete(f"/customers/{customer['id']}"), 403, "forbidden")
    get_customer(api, customer["id"])


# --- show / update / delete -----------------------------------------------------------------


def test_unknown_customer_is_404(api: httpx.Client) -> None:
    assert_error(api.get(f"/customers/{UNKNOWN_ID}"), 404, "not_found")
    assert_error(api.patch(f"/customers/{UNKNOWN_ID}", json={"email": "a@b.jp"}), 404, "not_found")
    assert_error(api.delete(f"/customers/{UNKNOWN_ID}"), 404, "not_found")


def test_update_card_replaces_old(api: httpx.Client) -> None:
    customer = create_customer(api, email="swap@example.com", payment_details=CARD)
    assert customer["source"]["last_four_digits"] == "1111"
    resp = api.patch(
        f"/customers/{customer['id']}",
        json={"payment_details": card("378282246310005", month=3, year=CARD_YEAR - 2)},
    )
    updated = customer_of(resp)
    assert_no_card_secrets(resp.json(), "378282246310005", "1234")
    assert updated["source"]["last_four_digits"] == "0005"
    assert updated["source"]["brand"] == "american_express"
    assert (updated["source"]["month"], updated["source"]["year"]) == (3, CARD_YEAR - 2)
    assert updated["email"] == "swap@example.com"
    assert updated["id"] == customer["id"]
    assert updated["created_at"] == customer["created_at"]
    assert get_customer(api, customer["id"]) == updated
    payment = create_payment(api, customer=customer["id"])
    assert payment["payment_details"]["last_four_digits"] == "0005"


def test_update_email_and_metadata(api: httpx.Client) -> None:
    customer = create_customer(api, email="old@example.com", metadata={"a": "1"})
    updated = customer_of(
        api.patch(
            f"/customers/{customer['id']}",
            json={"email": "new@example.com", "metadata": {"a": "2", "b": "3"}},
        )
    )
    assert updated["email"] == "new@example.com"
    assert updated["metadata"] == {"a": "2", "b": "3"}
    assert updated["source"] is None
    only_email = customer_of(
        api.patch(f"/customers/{customer['id']}", json={"email": "newer@example.com"})
    )
    assert only_email["metadata"] == {"a": "2", "b": "3"}
    assert get_customer(api, customer["id"])["email"] == "newer@example.com"


def test_update_with_declined_card_keeps_old(api: httpx.Client) -> None:
    customer = create_customer(api, payment_details=CARD)
    resp = api.patch(
        f"/customers/{customer['id']}", json={"payment_details": card("4123111111111042")}
    )
    assert_error(resp, 402, "card_expired")
    assert get_customer(api, customer["id"])["source"]["last_four_digits"] == "1111"


def test_update_with_bad_email_is_422(api: httpx.Client) -> None:
    customer = create_customer(api, email="keep@example.com")
    resp = api.patch(f"/customers/{customer['id']}", json={"email": "nope"})
    assert_error(resp, 422, "invalid_parameter", "email")
    assert get_customer(api, customer["id"])["email"] == "keep@example.com"


def test_delete_customer(api: httpx.Client) -> None:
    customer = create_customer(api, email="bye@example.com", payment_details=CARD)
    paid = create_payment(api, customer=customer["id"])
    resp = api.delete(f"/customers/{customer['id']}")
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "Customer")
    assert resp.json()["id"] == customer["id"]
    assert_error(api.get(f"/customers/{customer['id']}"), 404, "not_found")
    assert_error(
        api.patch(f"/customers/{customer['id']}", json={"email": "x@y.jp"}), 404, "not_found"
    )
    assert_error(api.delete(f"/customers/{customer['id']}"), 404, "not_found")
    resp = api.post(
        "/payments", json={"amount": 1000, "currency": "JPY", "customer": customer["id"]}
    )
    assert_error(resp, 422, "invalid_parameter", "customer")
    # Payments made earlier are still there.
    assert get_payment(api, paid["id"])["status"] == "captured"


# --- list -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def roster(server: Server) -> dict[str, Any]:
    m = server.merchant("Customer List Shop")
    made, marks = [], []
    with m.client() as client:
        for i in range(12):
            # After customer i-1 was created, before customer i is (the server's clock).
            marks.append(moment_after(made[-1]["created_at"] if made else None))
            # ...and strictly before it: end_time is inclusive, to the millisecond.
            moment_after(marks[-1].isoformat())
            resp = client.post("/customers", json={"email": f"c{i}@example.com"})
            assert resp.status_code == 200, resp.text
            made.append(resp.json())  # checked against the schema by the list tests
    return {"merchant": m, "customers": made, "marks": marks}


def _customers(roster: dict[str, Any], **params: Any) -> dict[str, Any]:
    with roster["merchant"].client() as client:
        resp = client.get("/customers", params=params)
    assert resp.status_code == 200, (params, resp.text)
    return resp.json()


def test_list_customers_paginated_newest_first(roster: dict[str, Any]) -> None:
    newest_first = [c["id"] for c in reversed(roster["customers"])]
    first = _customers(roster)
    assert [c["id"] for c in assert_list(first, total=12, page=1, per_page=10)] == (
        newest_first[:10]
    )
    second = _customers(roster, page=2)
    assert [c["id"] for c in assert_list(second, total=12, page=2, per_page=10)] == (
        newest_first[10:]
    )
    seen = []
    for page in (1, 2, 3, 4):
        body = _customers(roster, page=page, per_page=3)
        seen += [c["id"] for c in assert_list(body, total=12, page=page, per_page=3)]
    assert seen == newest_first
    everything = _customers(roster, per_page=100)
    by_id = {c["id"]: c for c in roster["customers"]}
    for item in assert_list(everything, total=12, page=1, per_page=100):
        assert item == by_id[item["id"]]
    assert_schema(first, "CustomerList")
    assert_schema(everything, "CustomerList")


def test_list_customers_time_window(roster: dict[str, Any]) -> None:
    customers, marks = roster["customers"], roster["marks"]
    body = _customers(
        roster, start_time=marks[2].isoformat(), end_time=marks[7].isoformat(), per_page=100
    )
    assert [c["id"] for c in body["data"]] == [c["id"] for c in reversed(customers[2:7])]
    assert body["total"] == 5
    assert_schema(body, "CustomerList")


@pytest.mark.parametrize(
    "params,param",
    [({"per_page": 101}, "per_page"), ({"per_page": 0}, "per_page"), ({"page": 0}, "page")],
)
def test_list_customers_bad_params(api: httpx.Client, params: dict[str, Any], param: str) -> None:
    assert_error(api.get("/customers", params=params), 422, "invalid_parameter", param)


# --- paying with a saved card ---------------------------------------------------------------


def test_payment_with_customer_charges_saved_card(api: httpx.Client) -> None:
    customer = create_customer(
        api, email="buyer@example.com", payment_details=card("5555555555554444")
    )
    payment = create_payment(api, amount=4200, customer=customer["id"])
    assert payment["status"] == "captured"
    assert payment["customer"] == customer["id"]
    assert payment["amount"] == 4200
    details = payment["payment_details"]
    assert details["type"] == "credit_card"
    assert details["last_four_digits"] == "4444"
    assert details["brand"] == "master"
    again = create_payment(api, amount=100, customer=customer["id"], capture=False)
    assert again["status"] == "authorized"
    assert again["customer"] == customer["id"]
    assert get_payment(api, payment["id"])["customer"] == customer["id"]


def test_customer_payment_can_be_refunded(api: httpx.Client) -> None:
    customer = create_customer(api, payment_details=CARD)
    payment = create_payment(api, amount=900, customer=customer["id"])
    refunded = payment_of(api.post(f"/payments/{payment['id']}/refund"))
    assert refunded["status"] == "refunded"


def test_payment_with_customer_without_card_is_422(api: httpx.Client) -> None:
    customer = create_customer(api, email="empty@example.com")
    resp = api.post(
        "/payments", json={"amount": 1000, "currency": "JPY", "customer": customer["id"]}
    )
    assert_error(resp, 422, "invalid_parameter", "customer")


def test_other_merchant_cannot_see_or_use_customer(api: httpx.Client, other: Merchant) -> None:
    customer = create_customer(api, email="mine@example.com", payment_details=CARD)
    with other.client() as theirs:
        assert_error(theirs.get(f"/customers/{customer['id']}"), 404, "not_found")
        assert_error(
            theirs.patch(f"/customers/{customer['id']}", json={"email": "x@y.jp"}), 404, "not_found"
        )
        assert_error(theirs.delete(f"/customers/{customer['id']}"), 404, "not_found")
        resp = theirs.post(
            "/payments", json={"amount": 1000, "currency": "JPY", "customer": customer["id"]}
        )
        assert_error(resp, 422, "invalid_parameter", "customer")
        listed = theirs.get("/customers", params={"per_page": 100}).json()
        assert customer["id"] not in [c["id"] for c in listed["data"]]
    assert get_customer(api, customer["id"]) == customer


def test_customer_saved_by_session_can_be_charged_later(api: httpx.Client) -> None:
    resp = api.post(
        "/sessions", json={"mode": "customer_payment", "amount": 1000, "currency": "JPY"}
    )
    assert resp.status_code == 200, resp.text
    session = resp.json()
    paid = api.post(
        f"/sessions/{session['id']}/pay", json={"payment_details": card("5555555555554444")}
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["payment"]["customer"] == session["customer_id"]
    later = create_payment(api, amount=500, customer=session["customer_id"])
    assert later["status"] == "captured"
    assert later["customer"] == session["customer_id"]
    assert later["payment_details"]["last_four_digits"] == "4444"
    assert get_customer(api, session["customer_id"])["source"]["last_four_digits"] == "4444"
