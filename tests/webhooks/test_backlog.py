"""A receiver that is down while 1,000 events happen gets every one of them once it is back."""

from __future__ import annotations

import time

from tests.conftest import Server
from tests.webhooks.conftest import (
    Receiver,
    all_events,
    create_merchant,
    create_payments,
    recorded,
    wait_until,
)

COUNT = 1000


def test_a_thousand_events_survive_the_receiver_being_down(
    hooks_server: Server, receiver: Receiver
) -> None:
    receiver.down()  # connections to its port are refused from now on
    merchant = create_merchant(hooks_server, "Hooks Backlog Shop", webhook_url=receiver.url)
    started = time.monotonic()
    payment_ids = create_payments(merchant, COUNT, concurrency=8)
    created = time.monotonic()
    assert len(set(payment_ids)) == COUNT
    assert receiver.snapshot() == []
    receiver.up()

    # every delivery was retried with backoff while the receiver was down; the longest
    # wait now is about the time the receiver was down (plus jitter)
    receiver.wait(lambda r: len(r.ids(status=200)) >= COUNT + 1, 90, f"{COUNT + 1} events")
    arrived = time.monotonic()
    print(
        f"\n{COUNT} payments in {created - started:.1f}s; "
        f"all events delivered {arrived - created:.1f}s after the receiver came back"
    )

    events = all_events(merchant)
    assert len(events) == COUNT + 1
    event_ids = {e["id"] for e in events}
    assert receiver.ids(status=200) == event_ids
    assert receiver.ids() == event_ids  # nothing that is not an event of this merchant
    bodies = {r.event_id: r.json() for r in receiver.snapshot() if r.status == 200}
    assert sorted(b["type"] for b in bodies.values()).count("payment.captured") == COUNT
    assert {b["data"]["id"] for b in bodies.values() if b["type"] != "ping"} == set(payment_ids)
    for event in events:
        assert bodies[event["id"]] == event

    # every refused attempt was recorded: the oldest events (the newest may have gone out
    # only after the receiver came back)
    for event in events[-5:]:
        found = wait_until(
            lambda e=event: recorded(merchant, e["id"]), 15, f"{event['id']} recorded"
        )
        attempts = found["deliveries"][0]["attempts"]
        assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1)), attempts
        assert len(attempts) >= 2, attempts  # refused at least once, then delivered
        for failed in attempts[:-1]:
            assert failed["status_code"] is None and failed["error"], failed
        assert attempts[-1]["status_code"] == 200, attempts
