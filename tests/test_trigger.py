"""`kessai trigger EVENT`: every documented event type, made through the services against
a running server's store, reaches the merchant's webhook receiver; bad inputs are one line
and exit 2."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kessai.services.webhooks import EVENT_TYPES
from tests.conftest import Merchant, Server, fresh_database, kessai
from tests.hooked import cli, hooked
from tests.webhooks.receiver import Receiver

# The types made by moving the merchant's test clock to when their object falls due.
MOVING = (
    "payment.expired",
    "subscription.suspended",
    "settlement.created",
    "chargeback.cancelled",
    "chargeback.lost",
    "chargeback.expired",
    "disbursement.paid",
    "disbursement.failed",
)


@pytest.fixture(scope="module")
def shop(server: Server) -> Iterator[tuple[Merchant, Receiver]]:
    with hooked(server, "Trigger Shop") as found:
        yield found


def trigger(merchant: Merchant, event_type: str) -> dict[str, Any]:
    status, out, err = cli(
        merchant.server, "trigger", event_type, "--merchant", merchant.id, "--json"
    )
    assert status == 0, f"{event_type}: {err}"
    return dict(json.loads(out))


def test_every_event_type_reaches_the_webhook_receiver(shop) -> None:
    merchant, receiver = shop
    timeless = [t for t in EVENT_TYPES if t not in MOVING]
    made: dict[str, dict[str, Any]] = {}
    # Side by side: first those that need no time (a clock moved meanwhile could expire an
    # authorization before its cancel), then those that move the clock.
    with ThreadPoolExecutor(4) as pool:
        for group in (timeless, MOVING):
            made |= zip(group, pool.map(lambda t: trigger(merchant, t), group), strict=True)
    assert set(made) == set(EVENT_TYPES)

    wanted: dict[str, str] = {}
    for event_type, shown in made.items():
        assert shown["merchant"] == merchant.id and shown["livemode"] is False
        assert shown["triggered"], shown
        assert {e["type"] for e in shown["events"] if e["id"] in shown["triggered"]} == {event_type}
        assert shown["deliveries_queued"] >= len(shown["triggered"]), shown
        if event_type not in MOVING:  # (one that does may find another moved it already)
            assert shown["clock_moved_seconds"] == 0, shown
        wanted |= dict.fromkeys(shown["triggered"], event_type)

    deadline = time.monotonic() + 60
    while True:
        got = {r.event_id: r for r in receiver.snapshot() if r.event_id in wanted}
        if len(got) == len(wanted) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    missing = sorted({wanted[e] for e in wanted if e not in got})
    assert not missing, f"never delivered: {missing}"
    for event_id, request in got.items():
        body = request.json()
        assert request.headers["x-komoju-event"] == body["type"] == wanted[event_id]
        assert body["id"] == event_id


def test_the_text_output_names_what_was_made_and_that_the_clock_moved(server: Server) -> None:
    merchant = server.merchant("Trigger Text Shop")  # no webhook endpoint
    status, out, err = cli(server, "trigger", "disbursement.paid", "--merchant", merchant.id)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == f"triggered disbursement.paid for merchant {merchant.id} (test mode)"
    assert any(line.split()[0] == "disbursement" for line in lines[1:])
    paid = [line for line in lines if line.endswith("disbursement.paid  <-")]
    assert len(paid) == 1 and paid[0].split()[0] == "event"
    assert any("test clock moved forward 1d" in line for line in lines), out
    assert "no webhook endpoint" in lines[-1]
    # the object is real: the API shows it paid
    with merchant.client() as api:
        [made] = api.get("/disbursements").json()["data"]
    assert made["status"] == "paid"


def test_bad_input_is_one_line_and_exit_2(server: Server, merchant: Merchant) -> None:
    status, out, err = cli(server, "trigger", "payment.teleported", "--merchant", merchant.id)
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1 and "payment.teleported" in err
    assert all(t in err for t in EVENT_TYPES)  # the valid types are listed
    assert "Traceback" not in err

    for unknown in ("a" * 25, "not-an-id"):
        status, out, err = cli(server, "trigger", "ping", "--merchant", unknown)
        assert (status, out) == (2, "")
        assert len(err.splitlines()) == 1 and unknown in err and "kessai merchant list" in err

    # the shared store has several merchants: which one must be said
    status, out, err = cli(server, "trigger", "payment.captured")
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1 and "--merchant" in err


def test_the_only_merchant_is_the_default(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        env = {"KESSAI_DATABASE_URL": url}

        def run(*args: str) -> tuple[int, str, str]:
            done = kessai(*args, env=env, cwd=tmp_path)
            return done.returncode, done.stdout, done.stderr

        status, _, err = run("trigger", "payment.captured")
        assert status == 2 and len(err.splitlines()) == 1 and "no merchant" in err
        status, out, err = run("merchant", "create", "--name", "Only Shop", "--json")
        assert status == 0, err
        only = json.loads(out)["id"]
        status, out, err = run("trigger", "customer.created", "--json")
        assert status == 0, err
        shown = json.loads(out)
        assert shown["merchant"] == only
        assert [e["type"] for e in shown["events"]] == ["customer.created"]
        assert shown["deliveries_queued"] == 0  # recorded all the same, for a later endpoint
        status, out, err = run("trigger", "ping")  # a ping needs an endpoint to go to
        assert (status, out) == (2, "") and "no webhook endpoint" in err
        assert run("merchant", "create", "--name", "Second Shop")[0] == 0
        status, _, err = run("trigger", "payment.captured")
        assert status == 2 and len(err.splitlines()) == 1 and "2 merchants" in err
