"""The test clock (`/kessai/v1/clock`, contract section 8), black-box against a real server.

Each test makes a merchant of its own, so moving its clock touches nobody else's objects.
Every deadline is seen to pass by moving the clock, never by sleeping.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    authorized_payment,
    cash_details,
    create_payment,
    create_session,
    get_payment,
    get_session,
    parse_time,
    pay,
)
from tests.conftest import CARD, Merchant, Server, assert_error, assert_schema, kessai

DAY = 86400


@pytest.fixture
def shop(server: Server) -> Merchant:
    return server.merchant("Clock Shop")


@pytest.fixture(scope="module")
def still(server: Server) -> Merchant:
    """A merchant whose clock no test of this module moves."""
    return server.merchant("Still Clock")


@pytest.fixture
def api(shop: Merchant) -> Iterator[httpx.Client]:
    with shop.client() as client:
        yield client


def clock_url(shop: Merchant) -> str:
    return f"{shop.server.base_url}/kessai/v1/clock"


def move(shop: Merchant, key: str | None = None, **body: Any) -> httpx.Response:
    return httpx.post(clock_url(shop), json=body, auth=(key or shop.secret_key, ""), timeout=120)


def show(shop: Merchant) -> dict[str, Any]:
    resp = httpx.get(clock_url(shop), auth=(shop.secret_key, ""), timeout=30)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def advance(shop: Merchant, seconds: int) -> dict[str, Any]:
    resp = move(shop, advance_seconds=seconds)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def events_of(api: httpx.Client, event_type: str) -> list[dict[str, Any]]:
    body = api.get("/events", params={"type": event_type, "per_page": 100}).json()
    for event in body["data"]:
        assert_schema(event, "Event")
    return list(body["data"])


def test_a_new_clock_is_the_real_time(still: Merchant) -> None:
    shown = show(still)
    assert shown["resource"] == "clock"
    assert shown["offset_seconds"] == 0
    assert shown["livemode"] is False


def test_advancing_moves_timestamps_of_new_objects(shop: Merchant, api: httpx.Client) -> None:
    before = parse_time(show(shop)["now"])
    moved = advance(shop, 3 * DAY)
    assert 3 * DAY - 60 < moved["offset_seconds"] <= 3 * DAY
    assert parse_time(moved["now"]) - before >= timedelta(days=3)
    session = create_session(api, amount=1000, currency="JPY")
    assert parse_time(session["created_at"]) >= before + timedelta(days=3)
    # The move is seen by every later request, and only ever forward.
    assert show(shop)["offset_seconds"] >= moved["offset_seconds"]


def test_other_merchants_keep_their_own_clock(server: Server, shop: Merchant) -> None:
    other = server.merchant("Elsewhere")
    advance(shop, 10 * DAY)
    resp = httpx.get(f"{server.base_url}/kessai/v1/clock", auth=(other.secret_key, ""))
    assert resp.json()["offset_seconds"] == 0


def test_a_session_expires_when_its_time_is_skipped(shop: Merchant, api: httpx.Client) -> None:
    session = create_session(api, amount=1000, currency="JPY", expires_in_seconds=600)
    assert get_session(api, session["id"])["expired"] is False
    advance(shop, 601)
    assert get_session(api, session["id"])["expired"] is True
    resp = pay(api, session["id"], CARD)
    assert_error(resp, 422, "session_not_payable")


def test_konbini_payments_expire_in_deadline_order(shop: Merchant, api: httpx.Client) -> None:
    payments = [
        create_payment(api, payment_details=cash_details("konbini", expiry_days=days))
        for days in (3, 1, 2)
    ]
    deadlines = {p["id"]: parse_time(p["payment_deadline"]) for p in payments}
    advance(shop, 4 * DAY)
    for payment in payments:
        assert get_payment(api, payment["id"])["status"] == "expired"
    expired = events_of(api, "payment.expired")
    assert sorted(e["data"]["id"] for e in expired) == sorted(deadlines)
    ordered = sorted(expired, key=lambda e: parse_time(e["created_at"]))
    assert [e["data"]["id"] for e in ordered] == sorted(deadlines, key=deadlines.__getitem__)
    for event in expired:  # stamped when it fell due, not at the end of the move
        at = parse_time(event["created_at"])
        assert (
            deadlines[event["data"]["id"]]
            <= at
            < deadlines[event["data"]["id"]] + timedelta(minutes=5)
        )


def test_a_payment_before_its_deadline_stays(shop: Merchant, api: httpx.Client) -> None:
    payment = create_payment(api, payment_details=cash_details("konbini", expiry_days=3))
    advance(shop, 2 * DAY)
    assert get_payment(api, payment["id"])["status"] == "authorized"
    assert events_of(api, "payment.expired") == []


def test_an_uncaptured_authorization_expires_after_seven_days(
    shop: Merchant, api: httpx.Client
) -> None:
    payment = authorized_payment(api)
    advance(shop, 6 * DAY)
    assert get_payment(api, payment["id"])["status"] == "authorized"
    advance(shop, DAY + 60)
    assert get_payment(api, payment["id"])["status"] == "expired"
    assert [e["data"]["id"] for e in events_of(api, "payment.expired")] == [payment["id"]]


def test_a_token_expires_after_a_day(shop: Merchant, api: httpx.Client) -> None:
    with shop.client(shop.publishable_key) as public:
        token = public.post("/tokens", json={"payment_details": CARD}).json()
    advance(shop, DAY + 60)
    resp = api.post(
        "/payments", json={"amount": 100, "currency": "JPY", "payment_details": token["id"]}
    )
    assert_error(resp, 422, "invalid_parameter", param="payment_details")


def test_racing_advances_expire_each_payment_once(shop: Merchant, api: httpx.Client) -> None:
    ids = {
        create_payment(api, payment_details=cash_details("konbini", expiry_days=1 + i % 3))["id"]
        for i in range(6)
    }
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: move(shop, advance_seconds=4 * DAY), range(4)))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    expired = events_of(api, "payment.expired")
    assert sorted(e["data"]["id"] for e in expired) == sorted(ids)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "missing_parameter", "advance_seconds"),
        ({"advance_seconds": 0}, "invalid_parameter", "advance_seconds"),
        ({"advance_seconds": -5}, "invalid_parameter", "advance_seconds"),
        ({"advance_seconds": 1.5}, "invalid_parameter", "advance_seconds"),
        ({"advance_seconds": True}, "invalid_parameter", "advance_seconds"),
        ({"advance_seconds": "soon"}, "invalid_parameter", "advance_seconds"),
        ({"now": "2001-01-01T00:00:00Z"}, "invalid_parameter", "now"),
        ({"now": "tomorrow"}, "invalid_parameter", "now"),
        ({"advance_seconds": 60, "now": "2999-01-01T00:00:00Z"}, "invalid_parameter", "now"),
        ({"advance_seconds": 20 * 365 * DAY}, "invalid_parameter", "advance_seconds"),
    ],
)
def test_bad_moves_are_refused(
    still: Merchant, body: dict[str, Any], code: str, param: str
) -> None:
    assert_error(move(still, **body), 422, code, param=param)
    assert show(still)["offset_seconds"] == 0


def test_moving_to_a_time(shop: Merchant) -> None:
    target = parse_time(show(shop)["now"]) + timedelta(days=2)
    resp = move(shop, now=target.isoformat().replace("+00:00", "Z"))
    assert resp.status_code == 200, resp.text
    assert parse_time(resp.json()["now"]) >= target


def test_keys_that_may_not_move_it(still: Merchant) -> None:
    assert_error(move(still, key=still.publishable_key, advance_seconds=60), 403, "forbidden")
    assert still.live_secret_key is not None
    assert_error(move(still, key=still.live_secret_key, advance_seconds=60), 403, "forbidden")
    live = httpx.get(clock_url(still), auth=(still.live_secret_key, "")).json()
    assert live["livemode"] is True and live["offset_seconds"] == 0
    assert_error(move(still, key="sk_test_nobody", advance_seconds=60), 401, "unauthorized")
    assert show(still)["offset_seconds"] == 0


def test_the_cli_moves_the_same_clock(shop: Merchant, api: httpx.Client) -> None:
    payment = create_payment(api, payment_details=cash_details("konbini", expiry_days=1))
    env = {"KESSAI_DATABASE_URL": shop.server.database_url}
    out = kessai(
        "clock",
        "advance",
        "--merchant",
        shop.id,
        "1d1h",
        "--json",
        env=env,
        cwd=shop.server.workdir,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("{")
    # The CLI ran the deadline itself: the payment is expired before any server notices.
    assert get_payment(api, payment["id"])["status"] == "expired"
    shown = kessai("clock", "show", "--merchant", shop.id, env=env, cwd=shop.server.workdir)
    assert shown.returncode == 0 and "+1.04 days" in shown.stdout, shown.stdout
    bad = kessai(
        "clock", "advance", "--merchant", shop.id, "soon", env=env, cwd=shop.server.workdir
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "duration" in bad.stderr
