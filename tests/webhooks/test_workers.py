"""`kessai worker` processes beside a server started with KESSAI_EMBEDDED_WORKER=0: a worker
killed mid-delivery loses nothing, and two workers never send the same attempt round."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter

from tests.webhooks.conftest import (
    Receiver,
    SplitStack,
    all_events,
    create_merchant,
    create_payments,
    deliveries,
    recorded,
    wait_until,
)

# KESSAI_WEBHOOK_LEASE_SECONDS in conftest.FAST_RETRIES: a claimed delivery comes due
# again this long after the claim
LEASE_SECONDS = 8


def worker_name(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}"


def test_sigkill_mid_delivery_loses_nothing(split_stack: SplitStack, receiver: Receiver) -> None:
    receiver.delay = 2.0  # slow receiver: the worker's requests stay in flight
    merchant = create_merchant(split_stack.server, "Hooks Kill Shop", webhook_url=receiver.url)
    payment_ids = create_payments(merchant, 80)
    event_ids = {e["id"] for e in all_events(merchant)}
    assert len(event_ids) == 81  # ping + one payment.captured each

    doomed = split_stack.start_worker()
    receiver.wait(
        lambda r: sum(x.status is None for x in r.snapshot()) >= 10, 30, "requests in flight"
    )
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.process.wait(timeout=10)
    killed_at = time.monotonic()
    before = receiver.snapshot()
    in_flight = {r.event_id for r in before if r.answered is None or r.answered > killed_at}
    in_flight |= {r.event_id for r in receiver.truncated()}  # cut off mid-body by the kill
    assert in_flight, "nothing was in flight when the worker was killed"
    receiver.delay = 0.0

    survivor = split_stack.start_worker()

    def delivered_after_kill(r: Receiver) -> bool:
        done = {x.event_id for x in r.snapshot() if x.arrived > killed_at and x.status == 200}
        return done >= event_ids

    # the killed worker's claims come due again only when their lease ends
    receiver.wait(delivered_after_kill, LEASE_SECONDS + 30, "every event after the kill")

    assert receiver.ids() == event_ids
    everything = receiver.snapshot() + receiver.truncated()
    for event_id in in_flight:
        # sent twice: once by the dead worker, then again only when its claim's lease ended
        first = min(r.arrived for r in everything if r.event_id == event_id)
        again = [r for r in receiver.of_event(event_id) if r.arrived > killed_at]
        assert again, event_id
        assert again[0].arrived - first >= LEASE_SECONDS - 1, (event_id, again[0].arrived - first)
    bodies = {r.event_id: r.body for r in receiver.snapshot()}
    for r in receiver.snapshot():
        assert r.body == bodies[r.event_id], "a redelivery sent different bytes"

    survivor_name = worker_name(survivor.pid)
    seen_payments = set()
    for event_id in event_ids:
        # the receiver answered; the worker records the attempt right after
        found = wait_until(
            lambda event_id=event_id: recorded(merchant, event_id), 15, f"{event_id} recorded"
        )
        [delivery] = found["deliveries"]
        attempts = delivery["attempts"]
        numbers = [a["attempt"] for a in attempts]
        assert len(numbers) == len(set(numbers)), attempts
        assert delivery["status"] == "delivered", (event_id, delivery)
        ok = [a for a in attempts if a["status_code"] == 200]
        assert ok and ok[-1]["worker"] == survivor_name, attempts
        assert all(a["worker"] != worker_name(doomed.pid) for a in attempts), attempts
        if event_id in in_flight:
            # the killed worker's round never got recorded; the retry is a later round
            assert ok[-1]["attempt"] >= 2, attempts
        body = receiver.of_event(event_id)[0].json()
        if body["type"] != "ping":
            seen_payments.add(body["data"]["id"])
    assert seen_payments == set(payment_ids)


def test_two_workers_never_send_the_same_attempt_round(
    split_stack: SplitStack, receiver: Receiver
) -> None:
    receiver.fail_first = 1  # every event: 500 on round 1, 200 on round 2
    receiver.delay = 0.05
    first, second = split_stack.start_workers(2)
    names = {worker_name(first.pid), worker_name(second.pid)}
    merchant = create_merchant(split_stack.server, "Hooks Pair Shop", webhook_url=receiver.url)
    payment_ids = create_payments(merchant, 80, concurrency=4)
    count = len(payment_ids) + 1
    receiver.wait(lambda r: len(r.ids(status=200)) >= count, 60, f"{count} events")
    event_ids = {e["id"] for e in all_events(merchant)}
    # Every delivery recorded as delivered is final (no round claims it again); a duplicate
    # round would have been recorded as an attempt of its own, checked below.
    for event_id in event_ids:
        wait_until(lambda event_id=event_id: recorded(merchant, event_id), 15, "recorded")
    assert receiver.ids() == event_ids
    copies = Counter(r.event_id for r in receiver.snapshot())
    extra = {event_id: n for event_id, n in copies.items() if n != 2}
    assert not extra, f"events not received exactly twice (round 1: 500, round 2: 200): {extra}"
    by_worker: Counter[str] = Counter()
    for event_id in event_ids:
        got = receiver.of_event(event_id)
        assert [r.status for r in got] == [500, 200], got
        assert got[0].body == got[1].body
        found = wait_until(
            lambda event_id=event_id: recorded(merchant, event_id), 15, f"{event_id} recorded"
        )
        [delivery] = found["deliveries"]
        attempts = delivery["attempts"]
        assert [a["attempt"] for a in attempts] == [1, 2], attempts
        assert [a["status_code"] for a in attempts] == [500, 200], attempts
        assert delivery["status"] == "delivered", delivery
        for a in attempts:
            assert a["worker"] in names, a
            by_worker[a["worker"]] += 1
    # both workers took part, or this test proved nothing about two of them
    assert set(by_worker) == names, by_worker


def test_an_endless_response_does_not_stall_delivery(
    split_stack: SplitStack, receiver: Receiver
) -> None:
    """One endpoint answering 200 with a body that never ends (a byte every 0.5 s, so no
    single read times out) must not hold up other merchants' webhooks: with a 2-second
    webhook timeout its attempt has to end, and the next round go out, within seconds."""
    receiver.trickle_paths = {"/trickle"}
    split_stack.start_workers(1, {"KESSAI_WEBHOOK_TIMEOUT_SECONDS": "2"})
    slow = create_merchant(
        split_stack.server, "Hooks Trickle Shop", webhook_url=f"{receiver.base}/trickle"
    )
    [ping] = receiver.wait(lambda r: r.snapshot("/trickle"), 15, "the ping at /trickle")
    bystander = create_merchant(
        split_stack.server, "Hooks Bystander Shop", webhook_url=receiver.url
    )
    # a correct worker ends the trickling attempt after ~2 s and sends this in its next round
    receiver.wait(
        lambda r: r.snapshot("/hook"), 8, "another merchant's ping while /trickle trickles"
    )
    assert ping.event_id is not None
    found = wait_until(
        lambda: deliveries(slow, ping.event_id)["deliveries"][0]["attempts"],
        10,
        "the trickling attempt recorded (it must end)",
    )
    assert found[0]["attempt"] == 1, found
    assert bystander.webhook_endpoint_id
