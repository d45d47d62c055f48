"""CORS for the publishable-key endpoints (contract section 1, Browsers)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import UNKNOWN_ID, card, create_session
from tests.conftest import CARD, Merchant, assert_error

ORIGIN = "https://merchant-shop.example"


def allows_origin(resp: httpx.Response, origin: str = ORIGIN) -> bool:
    return resp.headers.get("access-control-allow-origin") in ("*", origin)


def header_list(resp: httpx.Response, name: str) -> set[str]:
    return {h.strip().lower() for h in resp.headers.get(name, "").split(",") if h.strip()}


@pytest.fixture(scope="module")
def session_id(merchant: Merchant) -> str:
    with merchant.client() as client:
        return str(create_session(client)["id"])


@pytest.mark.parametrize(
    "path,method",
    [
        ("/api/v1/sessions/{sid}", "GET"),
        ("/api/v1/sessions/{sid}/pay", "POST"),
        ("/api/v1/sessions/" + UNKNOWN_ID, "GET"),
        ("/api/v1/tokens", "POST"),
        ("/api/v1/payment_methods", "GET"),
    ],
    ids=["show", "pay", "unknown-session", "tokens", "payment-methods"],
)
@pytest.mark.parametrize("origin", [ORIGIN, "http://localhost:5173", "null"])
def test_preflight(merchant: Merchant, session_id: str, path: str, method: str, origin: str):
    resp = httpx.options(
        merchant.server.base_url + path.format(sid=session_id),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=30,
    )
    assert 200 <= resp.status_code < 300, (resp.status_code, resp.text)
    assert allows_origin(resp, origin), resp.headers
    allowed_headers = header_list(resp, "access-control-allow-headers")
    assert {"authorization", "content-type"} <= allowed_headers, resp.headers
    allowed_methods = header_list(resp, "access-control-allow-methods")
    assert method.lower() in allowed_methods or "*" in allowed_methods, resp.headers


def test_get_carries_allow_origin(merchant: Merchant, session_id: str) -> None:
    with merchant.client(merchant.publishable_key, headers={"Origin": ORIGIN}) as client:
        resp = client.get(f"/sessions/{session_id}")
        assert resp.status_code == 200, resp.text
        assert allows_origin(resp), resp.headers


def test_pay_responses_carry_allow_origin(merchant: Merchant) -> None:
    with merchant.client() as secret:
        sid = create_session(secret)["id"]
    with merchant.client(merchant.publishable_key, headers={"Origin": ORIGIN}) as client:
        declined = client.post(
            f"/sessions/{sid}/pay", json={"payment_details": card("4123111111111059")}
        )
        assert_error(declined, 402, "card_declined")
        assert allows_origin(declined), declined.headers
        invalid = client.post(
            f"/sessions/{sid}/pay", json={"payment_details": {**CARD, "number": "4111111111111112"}}
        )
        assert_error(invalid, 422, "invalid_parameter")
        assert allows_origin(invalid), invalid.headers
        ok = client.post(f"/sessions/{sid}/pay", json={"payment_details": CARD})
        assert ok.status_code == 200, ok.text
        assert allows_origin(ok), ok.headers
        again = client.post(f"/sessions/{sid}/pay", json={"payment_details": CARD})
        assert_error(again, 422, "session_not_payable")
        assert allows_origin(again), again.headers


def test_error_responses_carry_allow_origin(merchant: Merchant) -> None:
    """A browser script must be able to read the JSON of any error."""
    with merchant.client(merchant.publishable_key, headers={"Origin": ORIGIN}) as client:
        missing = client.get(f"/sessions/{UNKNOWN_ID}")
        assert_error(missing, 404, "not_found")
        assert allows_origin(missing), missing.headers
    with merchant.client("pk_test_" + "0" * 32, headers={"Origin": ORIGIN}) as client:
        bad_key = client.get(f"/sessions/{UNKNOWN_ID}")
        assert_error(bad_key, 401, "unauthorized")
        assert allows_origin(bad_key), bad_key.headers
