"""The committed demo fixture (fixtures/demo.json, made by tests/make_demo_fixture.py):
`kessai import` of it into an empty store gives the known API answers CI relies on (the
known keys, ids and webhook endpoint of docs/export-format.md), its ledger checks, and an
export of it gives the file back. Also `kessai reset` at a terminal: it asks first.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kessai.ids import key_digest
from kessai.store.state import schema_head
from tests.conftest import (
    KESSAI,
    ROOT,
    Server,
    free_port,
    fresh_database,
    start_server,
    stop_server,
)
from tests.make_demo_fixture import (
    MERCHANT_ID,
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    WEBHOOK_URL,
)
from tests.state_shop import card, cli, ok, text
from tests.test_cli_failures import assert_one_line_failure

FIXTURE = ROOT / "fixtures" / "demo.json"
REMAKE = ".venv/bin/python -m tests.make_demo_fixture fixtures/demo.json"


def fixture() -> dict[str, Any]:
    return dict(json.loads(FIXTURE.read_text()))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server on a store that was empty before the fixture was imported."""
    workdir = tmp_path_factory.mktemp("demo")
    with fresh_database(workdir) as url:
        out = cli(url, "import", stdin=FIXTURE.read_bytes())
        assert out.returncode == 0, out.stderr
        server = start_server(url, workdir)
        try:
            yield server
        finally:
            stop_server(server)


def test_the_fixture_is_current_and_holds_the_known_keys() -> None:
    document = fixture()
    assert document["schema"] == schema_head(), f"the schema changed: remake it ({REMAKE})"
    assert (document["format"], document["version"], document["mode"]) == (
        "kessai-export",
        1,
        "test",
    )
    assert document["merchant"]["id"] == MERCHANT_ID
    digests = {row["kind"]: row["key_digest"] for row in document["tables"]["api_keys"]}
    assert digests == {
        "secret": key_digest(SECRET_KEY),
        "publishable": key_digest(PUBLISHABLE_KEY),
    }
    [endpoint] = document["tables"]["webhook_endpoints"]
    assert (endpoint["url"], endpoint["secret"]) == (WEBHOOK_URL, WEBHOOK_SECRET)
    assert "4111111111111111" not in FIXTURE.read_text()


def test_the_imported_fixture_gives_the_known_answers(demo: Server) -> None:
    with httpx.Client(base_url=f"{demo.base_url}/api/v1", auth=(SECRET_KEY, "")) as api:
        captured = ok(api.get("/payments/demopayments0000000000001"))
        assert (captured["status"], captured["amount"], captured["tax"]) == ("captured", 5000, 500)
        assert captured["amount_refunded"] == 1000 and len(captured["refunds"]) == 1
        assert captured["external_order_num"] == "demo-order-1"
        assert captured["payment_details"]["last_four_digits"] == "1111"
        states = {p["id"][-2:]: p["status"] for p in ok(api.get("/payments"))["data"]}
        assert states == {
            "01": "captured", "02": "refunded", "03": "cancelled", "04": "failed",
            "05": "captured", "06": "captured", "07": "captured",
        }  # fmt: skip
        assert ok(api.get("/payments/demopayments0000000000005"))["payment_details"]["type"] == (
            "konbini"
        )
        session = ok(api.get("/sessions/demosessions0000000000001"))
        assert session["status"] == "completed"
        assert session["payment"]["id"] == "demopayments0000000000006"
        customer = ok(api.get("/customers/democustomers000000000001"))
        assert (customer["email"], customer["metadata"]) == ("demo@example.com", {"plan": "gold"})
        subscription = ok(api.get("/subscriptions/demosubscription000000001"))
        assert (subscription["status"], subscription["amount"]) == ("deleted", 1980)
        assert ok(api.get("/events"))["total"] == 18
        [settlement] = ok(api.get("/settlements"))["data"]
        assert settlement["id"] == "demosettlements0000000001"
    admin = f"{demo.base_url}/kessai/v1/webhook_endpoints"
    [endpoint] = ok(httpx.get(admin, auth=(SECRET_KEY, "")))["data"]
    assert endpoint["url"] == WEBHOOK_URL
    with httpx.Client(base_url=f"{demo.base_url}/api/v1", auth=(PUBLISHABLE_KEY, "")) as public:
        assert ok(public.post("/tokens", json={"payment_details": card()}))["id"]
    check = cli(demo.database_url, "ledger", "check", "--merchant", MERCHANT_ID)
    assert check.returncode == 0, check.stdout.decode()
    # A test-mode file makes a whole merchant: live mode has the default ledger settings.
    live = cli(demo.database_url, "ledger", "settings", "--merchant", MERCHANT_ID,
               "--mode", "live", "--json")  # fmt: skip
    assert json.loads(live.stdout)["settlement_schedule"] == "weekly", live.stderr


def test_an_export_of_the_imported_fixture_is_the_fixture(demo: Server) -> None:
    out = cli(demo.database_url, "export", "--merchant", MERCHANT_ID, "--mode", "test")
    assert out.returncode == 0, out.stderr
    again, expected = json.loads(out.stdout), fixture()
    assert again["merchant"] == expected["merchant"]
    assert list(again["tables"]) == list(expected["tables"])
    for name, rows in expected["tables"].items():
        if name == "tokens":
            continue  # the test above made one
        assert sorted_rows(again["tables"][name]) == sorted_rows(rows), name


def sorted_rows(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


def test_a_failed_import_leaves_an_empty_store_empty(tmp_path: Path) -> None:
    document = fixture()
    document["tables"]["refunds"][0]["amount"] = -0.5
    with fresh_database(tmp_path) as url:
        out = text(cli(url, "import", stdin=json.dumps(document).encode()))
        assert_one_line_failure(out, "tables.refunds[0].amount must be a whole number")
        listed = cli(url, "merchant", "list", "--json")
        assert json.loads(listed.stdout) == []


def at_a_terminal(url: str, *args: str, answer: bytes) -> subprocess.CompletedProcess[str]:
    """`kessai ARGS` with a terminal for its input, answering `answer` to what it asks."""
    parent, child = pty.openpty()
    try:
        process = subprocess.Popen(
            [*KESSAI, *args],
            env={**os.environ, "KESSAI_DATABASE_URL": url},
            stdin=child,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(child)
        os.write(parent, answer)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        os.close(parent)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_reset_asks_at_a_terminal(demo: Server) -> None:
    url = demo.database_url
    out = at_a_terminal(url, "reset", "--merchant", MERCHANT_ID, answer=b"n\n")
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "7 payments" in out.stdout and "Delete them? [y/N]" in out.stdout
    assert "nothing was deleted" in out.stderr
    with httpx.Client(base_url=f"{demo.base_url}/api/v1", auth=(SECRET_KEY, "")) as api:
        assert ok(api.get("/payments"))["total"] == 7
        out = at_a_terminal(url, "reset", "--merchant", MERCHANT_ID, answer=b"y\n")
        assert out.returncode == 0, (out.stdout, out.stderr)
        assert "deleted: " in out.stdout and "7 payments" in out.stdout
        assert ok(api.get("/payments"))["total"] == 0
        assert api.get("/customers/democustomers000000000001").status_code == 404


@pytest.mark.parametrize("command", ["export", "import", "reset"])
def test_an_unreachable_store_is_one_line(command: str, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/kessai"
    args = {
        "export": ["--merchant", MERCHANT_ID],
        "import": [],
        "reset": ["--merchant", MERCHANT_ID, "--yes"],
    }
    out = text(cli(url, command, *args[command], stdin=FIXTURE.read_bytes(), workdir=tmp_path))
    line = assert_one_line_failure(out, f"127.0.0.1:{port}", "Connection refused")
    assert "hunter2" not in line and out.stdout == ""
