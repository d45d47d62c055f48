"""kessai's own webhook management API (/kessai/v1, secret key): endpoints with event types,
removal, redelivery, and who may do what."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Server, assert_error, assert_schema
from tests.webhooks.conftest import (
    HookMerchant,
    Receiver,
    add_endpoint,
    create_merchant,
    create_payment,
    deliveries,
    recorded,
    signature,
    wait_until,
)

UNKNOWN_ID = "zzzzzzzzzzzzzzzzzzzzzzzzz"


def list_endpoints(merchant: HookMerchant) -> list[dict[str, Any]]:
    with merchant.admin() as admin:
        resp = admin.get("/webhook_endpoints")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


def send_marker(merchant: HookMerchant, receiver: Receiver) -> str:
    """A new payment's event, once it has arrived and been recorded. Anything queued before
    it (a redelivery, say) is due earlier, so it is claimed in the same round or an earlier
    one: when the marker is in, whatever was queued before has arrived too."""
    with merchant.client() as api:
        payment = create_payment(api)

    def arrived(r: Receiver) -> str | None:
        return next(
            (x.event_id for x in r.snapshot() if x.json()["data"].get("id") == payment["id"]), None
        )

    event_id: str = receiver.wait(arrived, 15, "the marker event")
    wait_until(lambda: recorded(merchant, event_id), 15, "the marker recorded")
    return event_id


def types_at(receiver: Receiver, path: str) -> list[str]:
    return [r.json()["type"] for r in receiver.snapshot(path)]


def test_endpoint_receives_only_its_event_types(hooks_server: Server, receiver: Receiver) -> None:
    merchant = create_merchant(hooks_server, "Hooks Filter Shop")
    every = add_endpoint(merchant, f"{receiver.base}/all")
    assert every["event_types"] is None
    captured = add_endpoint(merchant, f"{receiver.base}/captured", event_types=["payment.captured"])
    assert captured["event_types"] == ["payment.captured"]
    assert every["secret"] != captured["secret"]

    listed = {e["id"]: e for e in list_endpoints(merchant)}
    assert set(listed) == {every["id"], captured["id"]}
    assert listed[captured["id"]]["event_types"] == ["payment.captured"]
    assert all("secret" not in e for e in listed.values()), "the list shows endpoint secrets"

    with merchant.client() as api:
        held = create_payment(api, capture=False)
        assert api.post(f"/payments/{held['id']}/capture").status_code == 200
        assert api.post(f"/payments/{held['id']}/refund").status_code == 200
    wanted_all = [
        "ping",
        "payment.authorized",
        "payment.captured",
        "payment.refund.created",
        "payment.refunded",
    ]
    receiver.wait(lambda r: len(r.ids("/all", status=200)) >= 5, 20, "five events at /all")
    receiver.wait(lambda r: len(r.ids("/captured", status=200)) >= 2, 10, "two at /captured")
    # Deliveries are written with their event, so every event's are known at once: wait
    # until all are recorded (none pending), and which endpoint got which is final.
    for event_id in receiver.ids("/all"):
        found = wait_until(lambda e=event_id: recorded(merchant, e), 15, f"{event_id} recorded")
        urls = sorted(d["url"] for d in found["deliveries"])
        wanted = [every["url"]]
        if receiver.of_event(event_id)[0].json()["type"] == "payment.captured":
            wanted = sorted([every["url"], captured["url"]])
        assert urls == wanted, (event_id, found)
        assert all(d["status"] == "delivered" for d in found["deliveries"]), found
    assert sorted(types_at(receiver, "/all")) == sorted(wanted_all)
    # a new endpoint gets its own ping, whatever types it asked for; then only its types
    assert sorted(types_at(receiver, "/captured")) == ["payment.captured", "ping"]
    for path, endpoint in (("/all", every), ("/captured", captured)):
        for req in receiver.snapshot(path):
            expected = signature(endpoint["secret"], req.body)
            assert req.headers["x-komoju-signature"] == expected, (path, "signed with another key")
    # the captured event reached both endpoints as the same event
    [at_captured] = [r for r in receiver.snapshot("/captured") if r.json()["type"] != "ping"]
    [at_all] = [r for r in receiver.snapshot("/all") if r.event_id == at_captured.event_id]
    assert at_all.body == at_captured.body


def test_deleted_endpoint_gets_nothing_more(hooks_server: Server, receiver: Receiver) -> None:
    receiver.fail_paths = {"/flaky"}  # always 500: its deliveries keep being retried
    merchant = create_merchant(hooks_server, "Hooks Delete Shop")
    keeper = add_endpoint(merchant, f"{receiver.base}/keeper")
    flaky = add_endpoint(merchant, f"{receiver.base}/flaky")
    with merchant.client() as api:
        create_payment(api)
    # round 1 at once, round 2 a second later (retry base 1 s)
    receiver.wait(lambda r: len(r.snapshot("/flaky")) >= 3, 15, "retries at /flaky")
    with merchant.admin() as admin:
        resp = admin.delete(f"/webhook_endpoints/{flaky['id']}")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"id": flaky["id"], "resource": "webhook_endpoint", "deleted": True}
    flaky_events = receiver.ids("/flaky")

    def settled() -> int | None:
        """Every delivery to /flaky failed, and every request it got recorded (an attempt
        in flight at DELETE is recorded too): the number of requests, once so."""
        found = [
            d
            for event_id in flaky_events
            for d in deliveries(merchant, event_id)["deliveries"]
            if d["url"] == flaky["url"]
        ]
        attempts = sum(len(d["attempts"]) for d in found)
        done = all(d["status"] == "failed" for d in found)
        return attempts if done and attempts == len(receiver.snapshot("/flaky")) else None

    sent = wait_until(settled, 15, "the deliveries to /flaky failed and recorded")
    assert [e["id"] for e in list_endpoints(merchant)] == [keeper["id"]]

    # A failed delivery is never claimed again: the rounds that send a later event to
    # /keeper send nothing more to /flaky.
    send_marker(merchant, receiver)
    late = receiver.snapshot("/flaky")[sent:]
    assert not late, (
        f"{len(late)} request(s) reached a deleted endpoint after DELETE: "
        f"{[(r.json()['type'], r.event_id) for r in late]}"
    )

    with merchant.admin() as admin:
        again = admin.delete(f"/webhook_endpoints/{flaky['id']}")
        assert_error(again, 404, "not_found")
        assert_error(admin.delete(f"/webhook_endpoints/{UNKNOWN_ID}"), 404, "not_found")


def test_redeliver_sends_the_same_event_again(hooks_server: Server, receiver: Receiver) -> None:
    merchant = create_merchant(hooks_server, "Hooks Redeliver Shop", webhook_url=receiver.url)
    with merchant.client() as api:
        payment = create_payment(api)
    receiver.wait(lambda r: len(r.ids(status=200)) >= 2, 15, "ping and payment.captured")
    [first] = [r for r in receiver.snapshot() if r.json()["type"] == "payment.captured"]
    event_id = first.event_id
    assert first.json()["data"]["id"] == payment["id"]
    wait_until(
        lambda: deliveries(merchant, event_id)["deliveries"][0]["status"] == "delivered",
        10,
        "the first delivery recorded",
    )

    with merchant.admin() as admin:
        resp = admin.post(f"/events/{event_id}/redeliver")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"event": event_id, "queued": 1}
    receiver.wait(lambda r: len(r.of_event(event_id)) >= 2, 15, "the redelivery")
    second = receiver.of_event(event_id)[1]
    assert second.body == first.body
    for name in ("x-komoju-id", "x-komoju-event", "x-komoju-signature"):
        assert second.headers[name] == first.headers[name], name
    with merchant.client() as api:
        assert api.get(f"/events/{event_id}").json() == first.json()

    def two_attempts() -> dict[str, Any] | None:
        [delivery] = deliveries(merchant, event_id)["deliveries"]
        done = delivery["status"] == "delivered" and len(delivery["attempts"]) == 2
        return delivery if done else None

    delivery = wait_until(two_attempts, 10, "the redelivery recorded")
    assert [a["attempt"] for a in delivery["attempts"]] == [1, 2]
    assert [a["status_code"] for a in delivery["attempts"]] == [200, 200]
    assert len(receiver.of_event(event_id)) == 2

    with merchant.admin() as admin:
        assert_error(admin.post(f"/events/{UNKNOWN_ID}/redeliver"), 404, "not_found")
        assert_error(admin.get(f"/events/{UNKNOWN_ID}/deliveries"), 404, "not_found")


def test_another_merchant_gets_404(hooks_server: Server, receiver: Receiver) -> None:
    owner = create_merchant(hooks_server, "Hooks Owner Shop", webhook_url=receiver.url)
    stranger = create_merchant(hooks_server, "Hooks Stranger Shop")
    with owner.client() as api:
        create_payment(api)
    receiver.wait(lambda r: len(r.ids(status=200)) >= 2, 15, "ping and payment.captured")
    event_ids = receiver.ids()

    with stranger.client() as api, stranger.admin() as admin:
        for event_id in event_ids:
            assert_error(api.get(f"/events/{event_id}"), 404, "not_found")
            assert_error(admin.get(f"/events/{event_id}/deliveries"), 404, "not_found")
            assert_error(admin.post(f"/events/{event_id}/redeliver"), 404, "not_found")
        resp = admin.delete(f"/webhook_endpoints/{owner.webhook_endpoint_id}")
        assert_error(resp, 404, "not_found")
        listing = api.get("/events").json()
        assert listing["total"] == 0 and listing["data"] == [], listing
        assert admin.get("/webhook_endpoints").json()["data"] == []

    marker = send_marker(owner, receiver)
    assert receiver.ids() == event_ids | {marker}, (
        "a stranger's redeliver reached the owner's endpoint"
    )
    assert len(receiver.snapshot()) == 3
    assert [e["id"] for e in list_endpoints(owner)] == [owner.webhook_endpoint_id]
    with owner.client() as api:
        for event_id in event_ids:
            assert api.get(f"/events/{event_id}").status_code == 200


def test_publishable_key_is_forbidden(hooks_server: Server, receiver: Receiver) -> None:
    merchant = create_merchant(hooks_server, "Hooks Key Shop", webhook_url=receiver.url)
    [event_id] = receiver.wait(lambda r: r.ids(status=200), 15, "the ping")
    calls = [
        ("GET", "/kessai/v1/webhook_endpoints", None),
        ("POST", "/kessai/v1/webhook_endpoints", {"url": f"{receiver.base}/pk"}),
        ("DELETE", f"/kessai/v1/webhook_endpoints/{merchant.webhook_endpoint_id}", None),
        ("GET", f"/kessai/v1/events/{event_id}/deliveries", None),
        ("POST", f"/kessai/v1/events/{event_id}/redeliver", None),
        ("GET", "/api/v1/events", None),
        ("GET", f"/api/v1/events/{event_id}", None),
    ]
    base = hooks_server.base_url
    for method, path, body in calls:
        for auth, status, code in (
            ((merchant.publishable_key, ""), 403, "forbidden"),
            (None, 401, "unauthorized"),
            (("sk_test_notakeyatall000000000", ""), 401, "unauthorized"),
        ):
            resp = httpx.request(method, f"{base}{path}", json=body, auth=auth, timeout=30)
            try:
                assert_error(resp, status, code)
            except AssertionError as exc:
                raise AssertionError(f"{method} {path} with {auth}: {exc}") from None
    assert [e["id"] for e in list_endpoints(merchant)] == [merchant.webhook_endpoint_id]
    marker = send_marker(merchant, receiver)
    assert receiver.ids() == {event_id, marker}
    assert len(receiver.snapshot()) == 2, "a publishable key's redeliver was carried out"


GOOD_URL = "https://shop.example/komoju"


BAD = "invalid_parameter"


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({}, "missing_parameter", "url"),
        ({"url": ""}, BAD, "url"),
        ({"url": "ftp://shop.example/hook"}, BAD, "url"),
        ({"url": "javascript:alert(1)"}, BAD, "url"),
        ({"url": "not a url"}, BAD, "url"),
        ({"url": "/relative/hook"}, BAD, "url"),
        ({"url": "//shop.example/hook"}, BAD, "url"),
        ({"url": "https://shop.example/a\nb"}, BAD, "url"),
        ({"url": ["https://shop.example/hook"]}, BAD, "url"),
        ({"url": GOOD_URL, "event_types": ["payment.nope"]}, BAD, "event_types"),
        ({"url": GOOD_URL, "event_types": ["payment.captured", "x"]}, BAD, "event_types"),
        ({"url": GOOD_URL, "event_types": []}, BAD, "event_types"),
        ({"url": GOOD_URL, "event_types": [7]}, BAD, "event_types"),
        ({"url": GOOD_URL, "event_types": {"payment.captured": True}}, BAD, "event_types"),
    ],
)
def test_invalid_endpoint_is_422_naming_the_param(
    hooks_server: Server, params: dict[str, Any], code: str, param: str
) -> None:
    merchant = _plain_merchant(hooks_server)
    with merchant.admin() as admin:
        resp = admin.post("/webhook_endpoints", json=params)
    body = assert_error(resp, 422, code, param)
    assert_schema(body, "APIError")
    assert list_endpoints(merchant) == [], "a refused endpoint was created anyway"


_plain: dict[str, HookMerchant] = {}


def _plain_merchant(server: Server) -> HookMerchant:
    """One merchant (without endpoints) shared by the parametrized validation cases."""
    if server.base_url not in _plain:
        _plain[server.base_url] = create_merchant(server, "Hooks Validation Shop")
    return _plain[server.base_url]


def test_a_moved_test_clock_delays_no_webhook(hooks_server: Server, receiver: Receiver) -> None:
    """Events are stamped on the merchant's test clock, days ahead, but sent on the real
    one: a new event and a redelivery both arrive at once."""
    merchant = create_merchant(hooks_server, "Hooks Clock Shop", webhook_url=receiver.url)
    moved = merchant.move_clock(advance_seconds=5 * 86400)
    with merchant.client() as api:
        payment = create_payment(api)
    receiver.wait(lambda r: len(r.ids(status=200)) >= 2, 15, "ping and payment.captured")
    [first] = [r for r in receiver.snapshot() if r.json()["type"] == "payment.captured"]
    assert first.json()["data"]["id"] == payment["id"]
    assert first.json()["created_at"] >= moved["now"]  # stamped on the moved clock
    wait_until(
        lambda: deliveries(merchant, first.event_id)["deliveries"][0]["status"] == "delivered",
        10,
        "the first delivery recorded",
    )
    with merchant.admin() as admin:
        assert admin.post(f"/events/{first.event_id}/redeliver").status_code == 200
    receiver.wait(lambda r: len(r.of_event(first.event_id)) >= 2, 15, "the redelivery")
