"""GET and cancel of sessions, and expiry (contract section 2, Lifecycle)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.helpers import (
    UNKNOWN_ID,
    create_session,
    get_session,
    parse_time,
    pay,
    pay_ok,
)
from tests.conftest import Merchant, Server, assert_error, assert_schema


def test_get_with_secret_and_publishable_key(api: httpx.Client, public_api: httpx.Client) -> None:
    created = create_session(
        api,
        return_url="https://shop.example/done",
        metadata={"order": "42"},
        line_items=[{"amount": 1000, "description": "Tea"}],
        email="taro@example.com",
    )
    by_secret = get_session(api, created["id"])
    by_public = get_session(public_api, created["id"])
    assert by_secret == created
    assert by_public["id"] == created["id"]
    assert by_public["amount"] == 1000 and by_public["status"] == "pending"
    assert by_public["return_url"] == "https://shop.example/done"


@pytest.mark.parametrize(
    "session_id",
    [UNKNOWN_ID, "ZZZZZZZZZZZZZZZZZZZZZZZZZ", "short", "a" * 200, "..%2F..%2Fetc"],
    ids=["unknown", "upper", "short", "long", "dots"],
)
def test_get_unknown_is_404(api: httpx.Client, session_id: str) -> None:
    assert_error(api.get(f"/sessions/{session_id}"), 404, "not_found")


def test_get_unknown_with_publishable_key_is_404(public_api: httpx.Client) -> None:
    assert_error(public_api.get(f"/sessions/{UNKNOWN_ID}"), 404, "not_found")


def test_cancel_pending_then_again(api: httpx.Client) -> None:
    session = create_session(api)
    resp = api.post(f"/sessions/{session['id']}/cancel")
    assert resp.status_code == 200, resp.text
    cancelled = resp.json()
    assert_schema(cancelled, "Session")
    assert cancelled["id"] == session["id"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] is not None
    assert parse_time(cancelled["cancelled_at"]) >= parse_time(session["created_at"])
    assert cancelled["completed_at"] is None
    assert get_session(api, session["id"]) == cancelled

    again = api.post(f"/sessions/{session['id']}/cancel")
    assert again.status_code == 200, again.text
    assert again.json() == cancelled


def test_cancel_completed_is_not_cancellable(api: httpx.Client) -> None:
    session = create_session(api)
    pay_ok(api, session["id"])
    assert_error(api.post(f"/sessions/{session['id']}/cancel"), 422, "not_cancellable")
    after = get_session(api, session["id"])
    assert after["status"] == "completed" and after["cancelled_at"] is None


def test_cancel_unknown_is_404(api: httpx.Client) -> None:
    assert_error(api.post(f"/sessions/{UNKNOWN_ID}/cancel"), 404, "not_found")


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "application/json", None],
    ids=["form", "json", "none"],
)
def test_cancel_with_empty_body(api: httpx.Client, content_type: str | None) -> None:
    """KOMOJU's SDK POSTs cancel with no body (and a form content type)."""
    session = create_session(api)
    headers = {"Content-Type": content_type} if content_type else {}
    resp = api.post(f"/sessions/{session['id']}/cancel", content=b"", headers=headers)
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "Session")
    assert resp.json()["status"] == "cancelled"


def test_cancelled_session_cannot_be_paid(api: httpx.Client) -> None:
    session = create_session(api)
    assert api.post(f"/sessions/{session['id']}/cancel").status_code == 200
    assert_error(pay(api, session["id"]), 422, "session_not_payable")
    after = get_session(api, session["id"])
    assert after["status"] == "cancelled" and after["payment"] is None


def advance_clock(merchant: Merchant, seconds: int) -> None:
    """Move `merchant`'s test clock forward (`POST /kessai/v1/clock`): a deadline is seen
    to pass by moving the clock, never by waiting for it."""
    merchant.move_clock(advance_seconds=seconds)


@pytest.fixture
def expiring(server: Server) -> Merchant:
    """A merchant of its own, whose clock a test may move without touching anyone else's."""
    return server.merchant("Expiry Shop")


@pytest.fixture
def expiring_api(expiring: Merchant) -> Iterator[httpx.Client]:
    with expiring.client() as client:
        yield client


@pytest.fixture
def expiring_public_api(expiring: Merchant) -> Iterator[httpx.Client]:
    with expiring.client(expiring.publishable_key) as client:
        yield client


def test_expiry(
    expiring: Merchant, expiring_api: httpx.Client, expiring_public_api: httpx.Client
) -> None:
    """`expired` turns true after expires_at on an unpaid session; a paid one never expires."""
    api, public_api = expiring_api, expiring_public_api
    paid = create_session(api, expires_in_seconds=600)
    pay_ok(api, paid["id"])
    session = create_session(api, expires_in_seconds=600)
    cancelled = create_session(api, expires_in_seconds=600)
    assert api.post(f"/sessions/{cancelled['id']}/cancel").status_code == 200
    advance_clock(expiring, 540)  # not yet: nothing expires before its expires_at
    assert get_session(api, session["id"])["expired"] is False
    assert get_session(api, cancelled["id"])["expired"] is False
    advance_clock(expiring, 61)  # past the expires_at of all three

    expired = get_session(api, session["id"])
    assert expired["expired"] is True
    assert expired["status"] == "pending"
    assert get_session(public_api, session["id"])["expired"] is True
    assert_error(pay(public_api, session["id"]), 422, "session_not_payable")
    assert_error(pay(api, session["id"]), 422, "session_not_payable")
    still = get_session(api, session["id"])
    assert still["status"] == "pending" and still["payment"] is None

    done = get_session(api, paid["id"])
    assert done["status"] == "completed"
    assert done["expired"] is False

    # "expired turns true once expires_at passes while the session is not completed"
    gone = get_session(api, cancelled["id"])
    assert gone["status"] == "cancelled"
    assert gone["expired"] is True
