"""X-KOMOJU-IDEMPOTENCY (contract section 1, Idempotency)."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.helpers import DECLINES, card, create_session, get_session, pay
from tests.conftest import CARD, Merchant, Server, assert_error, assert_schema

HEADER = "X-KOMOJU-IDEMPOTENCY"


def new_key() -> str:
    return "idem-" + secrets.token_hex(12)


@pytest.fixture(scope="module")
def other(server: Server) -> Merchant:
    return server.merchant("Idempotency Other Shop")


def test_same_key_same_body_replays(api: httpx.Client) -> None:
    key = new_key()
    body = {"amount": 1000, "currency": "JPY", "metadata": {"k": key}}
    first = api.post("/sessions", json=body, headers={HEADER: key})
    assert first.status_code == 200, first.text
    assert_schema(first.json(), "Session")
    second = api.post("/sessions", json=body, headers={HEADER: key})
    assert second.status_code == 200
    assert second.json() == first.json()
    assert second.json()["id"] == first.json()["id"]

    fresh = api.post("/sessions", json=body)
    assert fresh.status_code == 200
    assert fresh.json()["id"] != first.json()["id"]


def test_replay_is_not_a_rerun_for_pay(api: httpx.Client) -> None:
    """A replayed pay returns the first 200, not session_not_payable."""
    session = create_session(api)
    key = new_key()
    first = api.post(
        f"/sessions/{session['id']}/pay", json={"payment_details": CARD}, headers={HEADER: key}
    )
    assert first.status_code == 200, first.text
    second = api.post(
        f"/sessions/{session['id']}/pay", json={"payment_details": CARD}, headers={HEADER: key}
    )
    assert second.status_code == 200, second.text
    assert second.json() == first.json()


def test_errors_are_replayed(api: httpx.Client) -> None:
    """A declined pay replays its 402 even after the session was paid by another request."""
    session = create_session(api)
    key = new_key()
    declined = {"payment_details": card(next(iter(DECLINES)))}
    first = api.post(f"/sessions/{session['id']}/pay", json=declined, headers={HEADER: key})
    first_body = assert_error(first, 402, DECLINES[next(iter(DECLINES))])

    ok = pay(api, session["id"])
    assert ok.status_code == 200, ok.text

    again = api.post(f"/sessions/{session['id']}/pay", json=declined, headers={HEADER: key})
    assert again.status_code == 402, again.text
    assert again.json() == first_body


def test_validation_errors_are_replayed(api: httpx.Client) -> None:
    key = new_key()
    body = {"amount": -1, "currency": "JPY"}
    first = api.post("/sessions", json=body, headers={HEADER: key})
    first_body = assert_error(first, 422, "invalid_parameter", "amount")
    again = api.post("/sessions", json=body, headers={HEADER: key})
    assert again.status_code == 422
    assert again.json() == first_body


def test_same_key_different_body_is_refused(api: httpx.Client) -> None:
    key = new_key()
    first = api.post("/sessions", json={"amount": 1000, "currency": "JPY"}, headers={HEADER: key})
    assert first.status_code == 200, first.text
    resp = api.post("/sessions", json={"amount": 2000, "currency": "JPY"}, headers={HEADER: key})
    assert_error(resp, 422, "invalid_parameter", HEADER)
    # and the original still replays
    again = api.post("/sessions", json={"amount": 1000, "currency": "JPY"}, headers={HEADER: key})
    assert again.status_code == 200 and again.json() == first.json()


def test_same_key_different_path_is_refused(api: httpx.Client) -> None:
    session = create_session(api)
    key = new_key()
    first = api.post(f"/sessions/{session['id']}/cancel", headers={HEADER: key})
    assert first.status_code == 200, first.text
    other_session = create_session(api)
    resp = api.post(f"/sessions/{other_session['id']}/cancel", headers={HEADER: key})
    assert_error(resp, 422, "invalid_parameter", HEADER)
    assert get_session(api, other_session["id"])["status"] == "pending"


def test_key_length_limits(api: httpx.Client) -> None:
    body = {"amount": 1000, "currency": "JPY"}
    too_long = "k" * 101
    assert_error(
        api.post("/sessions", json=body, headers={HEADER: too_long}),
        422,
        "invalid_parameter",
        HEADER,
    )
    at_limit = secrets.token_hex(8) + "k" * 84
    assert len(at_limit) == 100
    first = api.post("/sessions", json=body, headers={HEADER: at_limit})
    assert first.status_code == 200, first.text
    second = api.post("/sessions", json=body, headers={HEADER: at_limit})
    assert second.json()["id"] == first.json()["id"]


def test_non_ascii_key_refused(api: httpx.Client) -> None:
    resp = api.post(
        "/sessions",
        json={"amount": 1000, "currency": "JPY"},
        headers={HEADER: "clé-é".encode("latin-1")},
    )
    assert_error(resp, 422, "invalid_parameter", HEADER)


def test_keys_of_different_merchants_do_not_collide(api: httpx.Client, other: Merchant) -> None:
    key = new_key()
    mine = api.post("/sessions", json={"amount": 1000, "currency": "JPY"}, headers={HEADER: key})
    assert mine.status_code == 200, mine.text
    with other.client() as other_api:
        same_body = other_api.post(
            "/sessions", json={"amount": 1000, "currency": "JPY"}, headers={HEADER: key}
        )
        assert same_body.status_code == 200, same_body.text
        assert same_body.json()["id"] != mine.json()["id"]
        assert same_body.json()["merchant"]["name"] == other.name
        get_session(other_api, same_body.json()["id"])
        diff_body = other_api.post(
            "/sessions", json={"amount": 3000, "currency": "USD"}, headers={HEADER: key + "x"}
        )
        assert diff_body.status_code == 200
    assert get_session(api, mine.json()["id"])["merchant"]["name"] != other.name


def test_concurrent_duplicates_create_one_session(merchant: Merchant) -> None:
    key = new_key()
    order = "conc-" + secrets.token_hex(6)
    body = {"amount": 1000, "currency": "JPY", "payment_data": {"external_order_num": order}}
    n = 10
    barrier = threading.Barrier(n)

    def send(_: int) -> httpx.Response:
        with merchant.client() as client:
            client.get("/sessions/zzzzzzzzzzzzzzzzzzzzzzzzz")  # open the connection first
            barrier.wait()
            return client.post("/sessions", json=body, headers={HEADER: key})

    with ThreadPoolExecutor(n) as pool:
        responses = list(pool.map(send, range(n)))

    oks = [r for r in responses if r.status_code == 200]
    assert oks, [(r.status_code, r.text) for r in responses]
    for resp in responses:
        if resp.status_code != 200:
            assert_error(resp, 409, "conflict")
    assert len({r.text for r in oks}) == 1, "different bodies for one idempotency key"
    session = oks[0].json()
    assert_schema(session, "Session")

    with merchant.client() as client:
        replay = client.post("/sessions", json=body, headers={HEADER: key})
        assert replay.status_code == 200 and replay.json() == session
        # the order number is taken exactly by that one session
        dup = client.post("/sessions", json=body)
        assert_error(dup, 422, "invalid_parameter", "payment_data[external_order_num]")


def test_keys_are_case_sensitive(api: httpx.Client) -> None:
    key = new_key()
    first = api.post("/sessions", json={"amount": 1000, "currency": "JPY"}, headers={HEADER: key})
    assert first.status_code == 200, first.text
    other_case = api.post(
        "/sessions", json={"amount": 2000, "currency": "JPY"}, headers={HEADER: key.upper()}
    )
    assert other_case.status_code == 200, other_case.text
    assert other_case.json()["id"] != first.json()["id"]


def test_rejected_credentials_do_not_consume_a_key(api: httpx.Client, merchant: Merchant) -> None:
    key = new_key()
    body = {"amount": 1000, "currency": "JPY"}
    with httpx.Client(base_url=f"{merchant.server.base_url}/api/v1", timeout=30) as anon:
        assert_error(anon.post("/sessions", json=body, headers={HEADER: key}), 401, "unauthorized")
    resp = api.post("/sessions", json=body, headers={HEADER: key})
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "Session")
