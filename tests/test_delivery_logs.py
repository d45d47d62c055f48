"""The server log says what the worker did: each webhook attempt (delivered, or not with
its error and next attempt) and each pass that made something fall due; in text and JSON."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from kessai.observe import logs
from kessai.services import clocks
from kessai.worker.delivery import log_attempt
from tests.conftest import CARD, Merchant, Server, wait_for
from tests.hooked import add_endpoint, cli, hooked
from tests.webhooks.receiver import Receiver


@pytest.fixture(scope="module")
def shop(server: Server) -> Iterator[tuple[Merchant, Receiver]]:
    with hooked(server, "Logged Shop") as found:
        yield found


def logged(server: Server, pattern: str) -> re.Match[str] | None:
    return re.search(pattern, server.log_path.read_text(errors="replace"), re.MULTILINE)


def test_a_delivery_and_a_failed_delivery_are_logged(shop) -> None:
    merchant, receiver = shop
    failing = f"{receiver.base}/refuses"
    receiver.fail_paths.add("/refuses")
    endpoint = add_endpoint(merchant, failing)
    try:
        with merchant.client() as api:
            body = {"amount": 900, "currency": "JPY", "payment_details": CARD}
            resp = api.post("/payments", json=body)
        assert resp.status_code == 200, resp.text
        payment_id = resp.json()["id"]
        found = wait_for(
            lambda: [
                r.event_id
                for r in receiver.snapshot("/hook")
                if r.json()["type"] == "payment.captured" and r.json()["data"]["id"] == payment_id
            ],
            what="the payment's webhook",
        )
        event_id = re.escape(found[0])
        server = merchant.server
        delivered = wait_for(
            lambda: logged(
                server,
                rf"INFO kessai\.webhooks .*webhook delivered: event {event_id} "
                rf"\(payment\.captured\) to {re.escape(receiver.url)}: 200 in \d+ ms "
                r"\(attempt 1\)$",
            ),
            what="the delivery's log line",
        )
        refused = wait_for(
            lambda: logged(
                server,
                rf"WARNING kessai\.webhooks .*webhook not delivered: event {event_id} "
                rf"\(payment\.captured\) to {re.escape(failing)}: status 500 after \d+ ms "
                r"\(attempt 1\); next attempt at (\S+)Z$",
            ),
            what="the failed delivery's log line",
        )
        assert delivered
        assert datetime.fromisoformat(refused[1]).replace(tzinfo=UTC) > datetime.now(UTC)
    finally:
        cli(merchant.server, "webhook", "remove", "--merchant", merchant.id, endpoint)


def test_a_clock_move_that_expires_a_payment_is_logged(shop) -> None:
    merchant, _ = shop
    konbini = {"type": "konbini", "store": "lawson", "email": "a@example.com", "expiry_days": 1}
    with merchant.client() as api:
        body = {"amount": 800, "currency": "JPY", "payment_details": konbini}
        resp = api.post("/payments", json=body)
    assert resp.status_code == 200, resp.text
    merchant.move_clock(advance_seconds=2 * 86400)
    assert logged(
        merchant.server,
        rf"INFO kessai\.clock .*test clock of {merchant.id} moved to \S+Z: "
        r"payments expired: 1(, .+)?$",
    ), "no log line for the clock's move"


def test_the_lines_carry_their_fields_as_json(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kessai")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    config = logs.config("info", "json")["formatters"]["kessai"]
    factory = config.pop("()")
    module, _, name = factory.rpartition(".")
    handler.setFormatter(getattr(__import__(module, fromlist=[name]), name)(**config))
    handler.addFilter(logs.RequestContext())
    watched = [logging.getLogger("kessai.webhooks"), logging.getLogger("kessai.clock")]
    for logger in watched:
        logger.addHandler(handler)
    try:
        row = {"event_id": "e1", "type": "ping", "merchant_id": "m1", "url": "http://u:p@h/x"}
        outcome = {
            "status_code": None,
            "error": "ConnectError: refused",
            "latency_ms": 3,
            "attempt": 2,
            "delivered": False,
            "next_attempt_at": None,
        }
        log_attempt(row, outcome)
        clocks.report("swept", {"settlements": 2, "chargebacks": 0})
        clocks.report("swept", {"settlements": 0})  # an idle pass says nothing
    finally:
        for logger in watched:
            logger.removeHandler(handler)
    attempt, swept, *rest = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rest == []
    assert attempt["level"] == "WARNING" and attempt["logger"] == "kessai.webhooks"
    assert "ConnectError: refused" in attempt["message"] and "giving up" in attempt["message"]
    assert {k: attempt[k] for k in ("event_id", "event_type", "merchant_id", "endpoint")} == {
        "event_id": "e1",
        "event_type": "ping",
        "merchant_id": "m1",
        "endpoint": "http://h/x",  # never the password
    }
    assert (attempt["attempt"], attempt["next_attempt_at"], attempt["error"]) == (
        2,
        None,
        "ConnectError: refused",
    )
    assert swept["message"] == "swept: settlements made: 2" and swept["done"] == {"settlements": 2}
