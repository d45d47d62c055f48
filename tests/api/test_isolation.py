"""Objects belong to one merchant: any other key gets 404 (contract section 1, Auth)."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.api.helpers import create_session, get_session, pay, pay_ok
from tests.conftest import Merchant, Server, assert_error


@pytest.fixture(scope="module")
def other(server: Server) -> Merchant:
    return server.merchant("Other Shop")


def test_other_merchant_gets_404(api: httpx.Client, other: Merchant) -> None:
    session = create_session(api)
    sid = session["id"]
    for key in (other.secret_key, other.publishable_key):
        with other.client(key) as client:
            assert_error(client.get(f"/sessions/{sid}"), 404, "not_found")
            assert_error(pay(client, sid), 404, "not_found")
    with other.client() as client:
        assert_error(client.post(f"/sessions/{sid}/cancel"), 404, "not_found")
    assert get_session(api, sid) == session


def test_other_merchant_cannot_touch_completed_session(api: httpx.Client, other: Merchant) -> None:
    session = create_session(api)
    pay_ok(api, session["id"])
    with other.client() as client:
        assert_error(client.get(f"/sessions/{session['id']}"), 404, "not_found")
        assert_error(client.post(f"/sessions/{session['id']}/cancel"), 404, "not_found")
        assert_error(pay(client, session["id"]), 404, "not_found")


def test_merchant_a_cannot_see_merchant_b(api: httpx.Client, other: Merchant) -> None:
    with other.client() as client:
        theirs = create_session(client, amount=4321)
        assert theirs["merchant"]["name"] == other.name
    assert_error(api.get(f"/sessions/{theirs['id']}"), 404, "not_found")
    assert_error(pay(api, theirs["id"]), 404, "not_found")


def test_external_order_num_is_unique_per_merchant_only(api: httpx.Client, other: Merchant) -> None:
    order = "shared-" + secrets.token_hex(6)
    create_session(api, payment_data={"external_order_num": order})
    with other.client() as client:
        theirs = create_session(client, payment_data={"external_order_num": order})
    assert theirs["payment_data"]["external_order_num"] == order
