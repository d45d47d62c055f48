"""What a webhook receiver gets: the ping, one signed POST per payment event, the same
objects through /api/v1/events; and the same bytes again on every retry (API.md section 5)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import CARD, Server, assert_schema
from tests.webhooks.conftest import (
    HookMerchant,
    Received,
    Receiver,
    add_endpoint,
    create_merchant,
    create_payment,
    deliveries,
    recorded,
    signature,
    wait_until,
)

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def check_request(req: Received, secret: str, path: str = "/hook") -> dict[str, Any]:
    """The KOMOJU delivery headers on one request; its body parsed."""
    assert req.method == "POST", req
    assert req.path == path, req
    body = req.json()
    assert isinstance(body, dict), body
    assert req.headers.get("x-komoju-id") == body["id"], (req.headers, body["id"])
    assert req.headers.get("x-komoju-event") == body["type"], (req.headers, body["type"])
    sig = req.headers.get("x-komoju-signature", "")
    assert HEX64.match(sig), f"X-Komoju-Signature is not lowercase hex SHA-256: {sig!r}"
    assert sig == signature(secret, req.body), "signature is not HMAC-SHA256(secret, body)"
    assert req.headers.get("user-agent") == "Komoju-Webhook", req.headers
    media = req.headers.get("content-type", "").split(";")[0].strip().lower()
    assert media == "application/json", req.headers
    assert body["resource"] == "event", body
    assert re.fullmatch(r"[a-z0-9]{25}", body["id"]), body["id"]
    parse_time(body["created_at"])
    return dict(body)


# --------------------------------------------------------------------------- test 1


@dataclass
class Flow:
    merchant: HookMerchant
    receiver: Receiver
    expected: list[tuple[str, str | None]]  # (event type, payment id), in causal order
    received: dict[str, tuple[Received, dict[str, Any]]]  # event id -> request, body


@pytest.fixture(scope="module")
def flow(hooks_server: Server) -> Any:
    """A merchant made with --webhook-url; its ping; then pay, capture, refund, cancel."""
    receiver = Receiver()
    receiver.up()
    try:
        merchant = create_merchant(hooks_server, "Hooks Flow Shop", webhook_url=receiver.url)
        receiver.wait(lambda r: r.ids(status=200), 15, "the ping")
        expected: list[tuple[str, str | None]] = [("ping", None)]
        with merchant.client() as api:
            # a session paid through /pay: captured
            resp = api.post("/sessions", json={"amount": 1000, "currency": "JPY"})
            assert resp.status_code == 200, resp.text
            session = resp.json()
            resp = api.post(f"/sessions/{session['id']}/pay", json={"payment_details": CARD})
            assert resp.status_code == 200, resp.text
            paid = resp.json()["payment"]
            assert paid["status"] == "captured", paid
            expected.append(("payment.captured", paid["id"]))
            # authorize, then capture
            held = create_payment(api, capture=False)
            assert held["status"] == "authorized", held
            expected.append(("payment.authorized", held["id"]))
            resp = api.post(f"/payments/{held['id']}/capture")
            assert resp.status_code == 200, resp.text
            expected.append(("payment.captured", held["id"]))
            # refund the session's payment in full
            resp = api.post(f"/payments/{paid['id']}/refund")
            assert resp.status_code == 200, resp.text
            assert resp.json()["status"] == "refunded", resp.text
            expected += [("payment.refund.created", paid["id"]), ("payment.refunded", paid["id"])]
            # authorize, then cancel
            dropped = create_payment(api, capture=False)
            expected.append(("payment.authorized", dropped["id"]))
            resp = api.post(f"/payments/{dropped['id']}/cancel")
            assert resp.status_code == 200, resp.text
            expected.append(("payment.cancelled", dropped["id"]))
        receiver.wait(
            lambda r: len(r.ids(status=200)) >= len(expected), 20, f"{len(expected)} events"
        )
        # Recorded as delivered after one attempt each: no round sends them again.
        for event_id in receiver.ids():
            found = wait_until(lambda e=event_id: recorded(merchant, e), 15, f"{event_id} recorded")
            [delivery] = found["deliveries"]
            assert delivery["status"] == "delivered", delivery
            assert [a["attempt"] for a in delivery["attempts"]] == [1], delivery
        received = {}
        for req in receiver.snapshot():
            body = check_request(req, merchant.webhook_secret or "")
            received[body["id"]] = (req, body)
        yield Flow(merchant, receiver, expected, received)
    finally:
        receiver.down()


def test_ping_arrives_first(flow: Flow) -> None:
    first = flow.receiver.snapshot()[0]
    body = check_request(first, flow.merchant.webhook_secret or "")
    assert body["type"] == "ping", body
    assert first.headers["x-komoju-event"] == "ping"
    # the ping's data is kessai's own (not a payment): only the envelope is checked here
    assert set(body) >= {"id", "resource", "type", "created_at", "reason", "data"}, body


def test_every_payment_change_is_delivered_once_signed(flow: Flow) -> None:
    requests = flow.receiver.snapshot()
    ids = [r.event_id for r in requests]
    assert len(ids) == len(set(ids)), f"an event was delivered twice: {Counter(ids)}"
    got = Counter(
        (body["type"], None if body["type"] == "ping" else body["data"]["id"])
        for _, body in flow.received.values()
    )
    assert got == Counter(flow.expected), (got, flow.expected)
    for req, body in flow.received.values():
        assert req.status == 200
        if body["type"] != "ping":
            assert_schema(body, "Event")
            assert body["reason"] is None, body


def test_event_data_is_the_payment_after_the_change(flow: Flow) -> None:
    wanted = {
        "payment.authorized": "authorized",
        "payment.captured": "captured",
        "payment.refund.created": "refunded",  # a full refund: refund.created and refunded
        "payment.refunded": "refunded",
        "payment.cancelled": "cancelled",
    }
    for _, body in flow.received.values():
        if body["type"] == "ping":
            continue
        data = body["data"]
        assert data["resource"] == "payment", body
        assert data["status"] == wanted[body["type"]], body
        if body["type"].startswith("payment.refund"):
            assert data["amount_refunded"] == data["amount"], data
            assert len(data["refunds"]) == 1, data


def test_get_event_returns_the_delivered_object(flow: Flow) -> None:
    with flow.merchant.client() as api:
        for event_id, (_, body) in flow.received.items():
            resp = api.get(f"/events/{event_id}")
            assert resp.status_code == 200, resp.text
            assert resp.json() == body
            if body["type"] != "ping":
                assert_schema(resp.json(), "Event")


def test_event_list_is_newest_first(flow: Flow) -> None:
    with flow.merchant.client() as api:
        resp = api.get("/events", params={"per_page": 100})
    assert resp.status_code == 200, resp.text
    listing = resp.json()
    assert listing["resource"] == "list", listing
    assert listing["total"] == len(flow.expected), listing["total"]
    data = listing["data"]
    assert {e["id"] for e in data} == set(flow.received)
    for event in data:
        assert event == flow.received[event["id"]][1]
    times = [parse_time(e["created_at"]) for e in data]
    assert times == sorted(times, reverse=True), [e["type"] for e in data]
    # the causally last change comes first, the ping (made with the merchant) last
    assert data[-1]["type"] == "ping"
    assert (data[0]["type"], data[0]["data"]["id"]) == flow.expected[-1]
    # page 2 of 3 per page continues where page 1 ended
    with flow.merchant.client() as api:
        second = api.get("/events", params={"per_page": 3, "page": 2}).json()
    assert [e["id"] for e in second["data"]] == [e["id"] for e in data[3:6]]
    # the SDK's Event schema types `data` as a payment, so the ping is left out of this check
    assert_schema({**listing, "data": [e for e in data if e["type"] != "ping"]}, "EventList")


# --------------------------------------------------------------------------- test 2


def test_failed_deliveries_are_retried_with_the_same_bytes(
    hooks_server: Server, receiver: Receiver
) -> None:
    failures = 3
    receiver.fail_first = failures  # 500 to the first three requests of every event
    merchant = create_merchant(hooks_server, "Hooks Retry Shop", webhook_url=receiver.url)
    with merchant.client() as api:
        payments = [create_payment(api)["id"] for _ in range(2)]
    # ping + one payment.captured each; 1 + 2 + 4 s of backoff (plus up to 25% jitter)
    receiver.wait(lambda r: len(r.ids(status=200)) >= 3, 40, "three events delivered")
    ids = receiver.ids()
    assert len(ids) == 3, ids
    secret = merchant.webhook_secret or ""
    data_ids = set()
    for event_id in ids:
        copies = receiver.of_event(event_id)
        assert [c.status for c in copies] == [500] * failures + [200], [c.status for c in copies]
        first = copies[0]
        for copy in copies:
            assert copy.body == first.body, "a retry sent different bytes"
            assert copy.headers["x-komoju-id"] == event_id
            assert copy.headers["x-komoju-signature"] == first.headers["x-komoju-signature"]
            check_request(copy, secret)
        body = first.json()
        if body["type"] != "ping":
            data_ids.add(body["data"]["id"])
        with merchant.client() as api:
            assert api.get(f"/events/{event_id}").json() == body

        # the attempts, as kessai recorded them
        def delivered(event_id: str = event_id) -> dict[str, Any] | None:
            found = deliveries(merchant, event_id)
            done = found["deliveries"] and found["deliveries"][0]["status"] == "delivered"
            return found if done else None

        found = wait_until(delivered, 10, f"{event_id} recorded as delivered")
        assert found["event"] == event_id
        assert len(found["deliveries"]) == 1, found
        delivery = found["deliveries"][0]
        assert delivery["endpoint"] == merchant.webhook_endpoint_id, delivery
        assert delivery["url"] == receiver.url, delivery
        assert delivery["delivered_at"] is not None, delivery
        assert delivery["next_attempt_at"] is None, delivery
        attempts = delivery["attempts"]
        assert [a["attempt"] for a in attempts] == list(range(1, failures + 2)), attempts
        assert [a["status_code"] for a in attempts] == [500] * failures + [200], attempts
        for a in attempts[:failures]:
            assert "receiver says no" in (a["response"] or ""), a
        assert all(a["error"] is None for a in attempts), attempts
        # exponential backoff: at least 1, 2, 4 s between attempts (base 1 s, doubling)
        starts = [parse_time(a["at"]) for a in attempts]
        gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
        for n, gap in enumerate(gaps):
            low = 2**n
            assert low - 0.01 <= gap <= low * 1.25 + 3.0, (n, gaps)  # + polling, load
    assert data_ids == set(payments)


def test_event_body_is_json_utf8(hooks_server: Server, receiver: Receiver) -> None:
    """Non-ASCII merchant strings travel as UTF-8 inside the signed bytes."""
    merchant = create_merchant(hooks_server, "Hooks UTF-8 Shop", webhook_url=receiver.url)
    with merchant.client() as api:
        payment = create_payment(api, description="お茶 ☕", metadata={"note": "ünïcode"})
    receiver.wait(lambda r: len(r.ids(status=200)) >= 2, 15, "ping and payment.captured")
    [req] = [r for r in receiver.snapshot() if r.json()["type"] == "payment.captured"]
    body = check_request(req, merchant.webhook_secret or "")
    assert body["data"]["id"] == payment["id"]
    assert body["data"]["description"] == "お茶 ☕"
    assert body["data"]["metadata"] == {"note": "ünïcode"}
    assert json.loads(req.body.decode("utf-8")) == body


def test_any_2xx_is_success_and_redirects_are_not_followed(
    hooks_server: Server, receiver: Receiver
) -> None:
    receiver.status_by_path = {"/created": 201, "/empty": 204, "/moved": 302}
    merchant = create_merchant(hooks_server, "Hooks Status Shop")
    endpoints = {
        path: add_endpoint(merchant, f"{receiver.base}{path}") for path in receiver.status_by_path
    }
    with merchant.client() as api:
        create_payment(api)
    # a 302 is not a success: ping and payment.captured are both sent again a second later
    receiver.wait(lambda r: len(r.snapshot("/moved")) >= 4, 15, "retries at /moved")
    assert receiver.snapshot("/elsewhere") == [], "a webhook followed a redirect"
    [captured] = {r.event_id for r in receiver.snapshot("/moved") if r.json()["type"] != "ping"}

    def settled() -> dict[str, Any] | None:
        found = deliveries(merchant, captured)["deliveries"]
        by_url = {d["url"]: d for d in found}
        done = all(by_url.get(e["url"], {}).get("status") == "delivered"
                   for p, e in endpoints.items() if p != "/moved")  # fmt: skip
        return by_url if done else None

    by_url = wait_until(settled, 10, "the 2xx deliveries recorded")
    for path, code in (("/created", 201), ("/empty", 204)):
        assert len(receiver.snapshot(path)) == 2, path  # ping + payment.captured, once each
        delivery = by_url[endpoints[path]["url"]]
        assert [a["status_code"] for a in delivery["attempts"]] == [code], delivery
    moved = by_url[endpoints["/moved"]["url"]]
    assert moved["status"] == "pending", moved
    assert moved["delivered_at"] is None, moved
    assert moved["attempts"] and all(a["status_code"] == 302 for a in moved["attempts"]), moved
