"""`kessai events tail`: a payment made through the API shows up as its event and its
delivery attempt while the tail runs; Ctrl-C ends it quietly; bad input is one line."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import CARD, KESSAI, Merchant, Server, wait_for
from tests.hooked import cli, hooked
from tests.webhooks.receiver import Receiver


@pytest.fixture(scope="module")
def shop(server: Server) -> Iterator[tuple[Merchant, Receiver]]:
    with hooked(server, "Tail Shop") as found:
        yield found


@dataclass
class Tail:
    """A running `kessai events tail`, its output read as it comes."""

    process: subprocess.Popen[str]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def read(self) -> None:
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=_pump, args=(stream, lines), daemon=True).start()

    def stop(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)


def _pump(stream: Any, lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


def start_tail(server: Server, *args: str) -> Tail:
    process = subprocess.Popen(
        [*KESSAI, "events", "tail", *args],
        env={**server.env()},
        cwd=server.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C must reach it: a background job of a shell may have SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    tail = Tail(process)
    tail.read()
    wait_for(lambda: any("tailing" in line for line in tail.err), what="the tail to start")
    return tail


def pay(merchant: Merchant) -> str:
    with merchant.client() as api:
        body = {"amount": 1200, "currency": "JPY", "payment_details": CARD}
        resp = api.post("/payments", json=body)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id"])


def event_of(receiver: Receiver, payment_id: str) -> str:
    """The id of the payment's `payment.captured` event, once the receiver has it."""

    def find() -> str | None:
        for request in receiver.snapshot():
            body = request.json()
            if body["type"] == "payment.captured" and body["data"]["id"] == payment_id:
                return str(body["id"])
        return None

    return wait_for(find, what="the payment's webhook")


def test_a_payment_shows_as_its_event_and_its_delivery(shop, merchant: Merchant) -> None:
    mine, receiver = shop
    tail = start_tail(mine.server, "--merchant", mine.id)
    try:
        others = pay(merchant)  # another merchant's: never shown
        payment_id = pay(mine)
        event_id = event_of(receiver, payment_id)
        delivery = re.compile(
            rf"^\S+Z  delivery  payment\.captured\s+{event_id}  {re.escape(receiver.url)} "
            r"200 \d+ ms attempt 1$"
        )
        wait_for(
            lambda: any(delivery.match(line) for line in tail.out),
            what=f"the delivery line in {tail.out}",
        )
        [line] = [line for line in tail.out if " event " in line and event_id in line]
        assert re.match(
            rf"^\d{{4}}-\d\d-\d\dT\S+Z  event     payment\.captured\s+{event_id}  "
            rf"merchant {mine.id} test$",
            line,
        ), line
        assert not any(others in line for line in tail.out)
    finally:
        status = tail.stop()
    assert status == 0
    assert not any("Traceback" in line for line in tail.err), tail.err
    assert not any(line.strip() for line in tail.err[1:]), tail.err  # only its first line


def test_json_lines_and_a_replay_of_what_just_happened(shop) -> None:
    mine, receiver = shop
    payment_id = pay(mine)
    event_id = event_of(receiver, payment_id)
    tail = start_tail(mine.server, "--merchant", mine.id, "--json", "--since", "60")
    try:

        def replayed() -> list[dict[str, Any]] | None:
            lines = [json.loads(line) for line in tail.out]
            found = [line for line in lines if event_id in (line.get("id"), line.get("event"))]
            return found if {line["kind"] for line in found} == {"event", "attempt"} else None

        found = wait_for(replayed, what="the replayed event and attempt")
    finally:
        assert tail.stop() == 0
    event = next(line for line in found if line["kind"] == "event")
    assert (event["type"], event["merchant"], event["mode"]) == (
        "payment.captured",
        mine.id,
        "test",
    )
    attempt = next(line for line in found if line["kind"] == "attempt")
    assert attempt["url"] == receiver.url
    assert (attempt["status_code"], attempt["attempt"], attempt["delivered"]) == (200, 1, True)
    assert isinstance(attempt["latency_ms"], int) and attempt["error"] is None


def test_bad_input_is_one_line_and_exit_2(server: Server) -> None:
    for args in (
        ("--merchant", "a" * 25),
        ("--merchant", "nope"),
        ("--interval", "0"),
        ("--since", "soon"),
    ):
        status, out, err = cli(server, "events", "tail", *args)
        assert (status, out) == (2, ""), args
        assert len(err.splitlines()) == 1 and err.startswith("kessai: "), (args, err)
