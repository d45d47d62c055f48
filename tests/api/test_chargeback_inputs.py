"""Every bad input to the chargeback endpoints and the test tool gets a KOMOJU error naming
the parameter (or the state that refuses it), never a 500; documents are typed by their
bytes and may be up to 15 MB (the edge lets the defend route's bodies through)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.api.chargeback_helpers import (
    GIF,
    JPEG,
    PDF,
    answer,
    defense,
    detail,
    kessai_url,
    listed,
    open_now,
    paid,
    refund,
)
from tests.api.helpers import UNKNOWN_ID, authorized_payment, captured_cash_payment
from tests.conftest import Merchant, assert_error

GOOD = "4111111111111111"
MAX_DOCUMENT = 15 * 1024 * 1024


@pytest.fixture
def pending(api: httpx.Client) -> dict[str, Any]:
    """A pending chargeback of the shared merchant."""
    return open_now(api, paid(api, GOOD)["id"])


def tool(api: httpx.Client, body: Any, key: str | None = None) -> httpx.Response:
    auth = (key, "") if key else None
    return api.post(kessai_url(api, "/chargebacks"), json=body, **({"auth": auth} if auth else {}))


def test_the_tool_refuses_what_cannot_be_disputed(api: httpx.Client, merchant: Merchant) -> None:
    card_payment = paid(api, GOOD)
    cases: list[tuple[Any, int, str, str | None]] = [
        ({}, 422, "missing_parameter", "payment_id"),
        ({"payment_id": ""}, 422, "invalid_parameter", "payment_id"),
        ({"payment_id": UNKNOWN_ID}, 422, "invalid_parameter", "payment_id"),
        ({"payment_id": ["x"]}, 422, "invalid_parameter", "payment_id"),
        (
            {"payment_id": card_payment["id"], "outcome": "maybe"},
            422,
            "invalid_parameter",
            "outcome",
        ),
        (
            {"payment_id": card_payment["id"], "reason_code": "CB_Whatever"},
            422,
            "invalid_parameter",
            "reason_code",
        ),
    ]
    for body, status, code, param in cases:
        assert_error(tool(api, body), status, code, param)
    konbini = captured_cash_payment(api, str(merchant.server.base_url))
    authorized = authorized_payment(api)
    refunded = paid(api, GOOD)
    assert refund(api, refunded["id"]).status_code == 200
    disputed = paid(api, GOOD)
    open_now(api, disputed["id"])
    for payment in (konbini, authorized, refunded, disputed):
        resp = tool(api, {"payment_id": payment["id"]})
        assert_error(resp, 422, "not_disputable", "payment_id")
    assert "card payments" in tool(api, {"payment_id": konbini["id"]}).json()["error"]["message"]
    assert (
        "already disputed" in tool(api, {"payment_id": disputed["id"]}).json()["error"]["message"]
    )
    # Secret test keys only.
    assert_error(
        tool(api, {"payment_id": card_payment["id"]}, merchant.publishable_key), 403, "forbidden"
    )
    assert merchant.live_secret_key is not None
    assert_error(
        tool(api, {"payment_id": card_payment["id"]}, merchant.live_secret_key), 403, "forbidden"
    )
    bad = api.post(
        kessai_url(api, "/chargebacks"),
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert_error(bad, 400, "bad_request")
    assert listed(api, payment_id=card_payment["id"]) == []  # nothing was opened on the way


def _document(content: bytes, **extra: Any) -> dict[str, Any]:
    return {"document_base64": base64.b64encode(content).decode(), **extra}


def test_defend_refuses_every_bad_input(api: httpx.Client, pending: dict[str, Any]) -> None:
    good = defense()
    text = base64.b64encode(b"just some text, not a document").decode()
    cases: list[tuple[Any, str, str]] = [
        ({**good, "description": None}, "invalid_parameter", "description"),
        ({k: v for k, v in good.items() if k != "description"}, "missing_parameter", "description"),
        ({**good, "description": ""}, "invalid_parameter", "description"),
        ({**good, "description": "x" * 10_001}, "invalid_parameter", "description"),
        ({"description": "x"}, "missing_parameter", "document"),
        ({**good, "document": "receipt.pdf"}, "invalid_parameter", "document"),
        (
            {**good, "document": {"filename": "a.pdf"}},
            "missing_parameter",
            "document[document_base64]",
        ),
        (
            {**good, "document": {"document_base64": ""}},
            "invalid_parameter",
            "document[document_base64]",
        ),
        (
            {**good, "document": {"document_base64": 12}},
            "invalid_parameter",
            "document[document_base64]",
        ),
        (
            {**good, "document": {"document_base64": "not*base64!"}},
            "invalid_parameter",
            "document[document_base64]",
        ),
        (
            {**good, "document": {"document_base64": text}},
            "invalid_parameter",
            "document[document_base64]",
        ),
        (
            {**good, "document": _document(PDF, filename="x" * 256)},
            "invalid_parameter",
            "document[filename]",
        ),
        ({**good, "product_name": {"a": 1}}, "invalid_parameter", "product_name"),
        ({**good, "shipping_info": "by post"}, "invalid_parameter", "shipping_info"),
        (
            {**good, "shipping_info": {"shipping_date": "20 May"}},
            "invalid_parameter",
            "shipping_info[shipping_date]",
        ),
        (
            {**good, "shipping_info": {"shipping_date": "2026-02-30"}},
            "invalid_parameter",
            "shipping_info[shipping_date]",
        ),
        (
            {**good, "recipient_info": {"email": "nobody"}},
            "invalid_parameter",
            "recipient_info[email]",
        ),
        (
            {**good, "recipient_info": {"phone": "0" * 31}},
            "invalid_parameter",
            "recipient_info[phone]",
        ),
    ]
    for body, code, param in cases:
        assert_error(answer(api, pending["id"], "defend", body), 422, code, param)
    assert detail(api, pending["id"])["status"] == "pending"  # none of them moved it
    assert_error(answer(api, UNKNOWN_ID, "defend"), 404, "not_found")
    assert_error(answer(api, "not-an-id", "accept"), 404, "not_found")
    assert_error(answer(api, UNKNOWN_ID, "accept"), 404, "not_found")
    # A bad defense of a defended chargeback is still refused for what it is.
    assert answer(api, pending["id"], "defend").status_code == 204
    bad = answer(api, pending["id"], "defend", {"description": "x"})
    assert_error(bad, 422, "missing_parameter", "document")


def test_document_types_come_from_the_bytes(api: httpx.Client) -> None:
    for content, mime in ((PDF, "application/pdf"), (JPEG, "image/jpeg"), (GIF, "image/gif")):
        found = open_now(api, paid(api, GOOD)["id"])
        document = _document(content, filename="claimed.png", content_type="image/png")
        body = {**defense(), "document": document, "shipping_info": {"shipping_date": "2026-05-20"}}
        assert answer(api, found["id"], "defend", body).status_code == 204
        [stored] = detail(api, found["id"])["defense"]["documents"]
        assert (stored["content_type"], stored["file_size"]) == (mime, len(content))
        served = api.get(stored["url"])
        assert served.headers["content-type"] == mime and served.content == content
    # Line-wrapped base64 (as the `base64` tool writes it) and missing padding are fine.
    found = open_now(api, paid(api, GOOD)["id"])
    wrapped = base64.encodebytes(PDF).decode().rstrip("=\n")
    body = {**defense(), "document": {"document_base64": wrapped}}
    assert answer(api, found["id"], "defend", body).status_code == 204
    [stored] = detail(api, found["id"])["defense"]["documents"]
    assert stored["file_name"] == f"defense-{found['id']}.pdf"
    assert api.get(stored["url"]).content == PDF


def test_a_document_of_15_mb_is_taken_and_a_byte_more_is_refused(api: httpx.Client) -> None:
    largest = PDF + b"\0" * (MAX_DOCUMENT - len(PDF))
    found = open_now(api, paid(api, GOOD)["id"])
    too_large = {**defense(), "document": _document(largest + b"\0")}
    resp = answer(api, found["id"], "defend", too_large)
    assert (
        "15 MB"
        in assert_error(resp, 422, "invalid_parameter", "document[document_base64]")["error"][
            "message"
        ]
    )
    assert (
        answer(
            api, found["id"], "defend", {**defense(), "document": _document(largest)}
        ).status_code
        == 204
    )
    [stored] = detail(api, found["id"])["defense"]["documents"]
    assert stored["file_size"] == MAX_DOCUMENT
    served = api.get(stored["url"])
    assert served.status_code == 200 and len(served.content) == MAX_DOCUMENT
    # Only the defend route takes bodies that large.
    big = b'{"padding":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    headers = {"content-type": "application/json"}
    assert_error(
        api.post(f"/chargeback_requests/{found['id']}/accept", content=big, headers=headers),
        413,
        "request_too_large",
    )


def test_list_refuses_bad_filters(api: httpx.Client) -> None:
    cases = [
        ({"status": "bogus"}, "status"),
        ({"status": "scheduled"}, "status"),  # kessai's own plan: never a filter
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "101"}, "per_page"),
        ({"page": "first"}, "page"),
        ({"due_date_start": "yesterday"}, "due_date_start"),
        ({"due_date_end": "2026-13-01T00:00:00Z"}, "due_date_end"),
        ({"start_time": "soon"}, "start_time"),
        ({"payment_id": "x" * 26}, "payment_id"),
    ]
    for params, param in cases:
        resp = api.get("/chargeback_requests", params=params)
        assert_error(resp, 422, "invalid_parameter", param)
    assert_error(api.get("/chargeback_requests/zzz"), 404, "not_found")
    assert_error(api.get(f"/chargeback_requests/{UNKNOWN_ID}"), 404, "not_found")


def test_keys_the_endpoints_take(merchant: Merchant, pending: dict[str, Any]) -> None:
    with merchant.client(merchant.publishable_key) as public:
        assert_error(public.get("/chargeback_requests"), 403, "forbidden")
        assert_error(public.get(f"/chargeback_requests/{pending['id']}"), 403, "forbidden")
        assert_error(answer(public, pending["id"], "accept"), 403, "forbidden")
        assert_error(answer(public, pending["id"], "defend"), 403, "forbidden")
    with merchant.client("sk_test_unknown") as stranger:
        assert_error(stranger.get("/chargeback_requests"), 401, "unauthorized")
