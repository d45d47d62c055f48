"""Small request helpers shared by the API tests (no fixtures: those live in conftest.py)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import CARD, assert_schema

ID_RE = re.compile(r"^[a-z0-9]{25}$")

# A well-formed id that no server will ever have handed out.
UNKNOWN_ID = "zzzzzzzzzzzzzzzzzzzzzzzzz"

GOOD_CARD = CARD
DECLINES = {
    "4123111111111000": "insufficient_funds",
    "4123111111111018": "exceeds_limit",
    "4123111111111034": "bad_verification_value",
    "4123111111111042": "card_expired",
    "4123111111111059": "card_declined",
    "4123111111111067": "invalid_number",
    "4123111111111075": "invalid_number",
}


def card(number: str, **overrides: Any) -> dict[str, Any]:
    cvv = "1234" if number.startswith(("34", "37")) else CARD["verification_value"]
    return {**CARD, "number": number, "verification_value": cvv, **overrides}


def create_session(client: httpx.Client, **params: Any) -> dict[str, Any]:
    """POST /sessions with a valid JPY payment session plus `params`; fail unless it works."""
    body = {"amount": 1000, "currency": "JPY", **params}
    resp = client.post("/sessions", json=body)
    assert resp.status_code == 200, (body, resp.status_code, resp.text)
    data = resp.json()
    assert_schema(data, "Session")
    return data


def pay(
    client: httpx.Client, session_id: str, details: dict[str, Any] | None = None, **extra: Any
) -> httpx.Response:
    return client.post(
        f"/sessions/{session_id}/pay", json={"payment_details": details or CARD, **extra}
    )


def pay_ok(
    client: httpx.Client, session_id: str, details: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    resp = pay(client, session_id, details, **extra)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert_schema(data, "PaySessionResponse")
    assert_schema(data["payment"], "Payment")
    return data


def get_session(client: httpx.Client, session_id: str) -> dict[str, Any]:
    resp = client.get(f"/sessions/{session_id}")
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert_schema(data, "Session")
    return data


def parse_time(value: str) -> datetime:
    """Parse an ISO 8601 timestamp; fail unless it carries a UTC offset."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None, f"timestamp without offset: {value!r}"
    return parsed


def all_values(obj: Any) -> list[Any]:
    """Every scalar (and every key) inside a JSON document."""
    out: list[Any] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.append(key)
            out.extend(all_values(value))
    elif isinstance(obj, list):
        for value in obj:
            out.extend(all_values(value))
    else:
        out.append(obj)
    return out
