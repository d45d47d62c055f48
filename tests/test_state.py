"""`kessai export`, `kessai import` and `kessai reset`, run as a user runs them, on real
stores (SQLite files, or fresh PostgreSQL databases when KESSAI_DATABASE_URL names a
server) with real servers.

A merchant gets objects of every kind through the API and its test clock (tests/
state_shop.py); its export, imported into an empty store, gives a second server that
answers every request about them exactly as the first did, and takes new work (new
payments, new webhook deliveries: on PostgreSQL, the sequences stay right). A second
import is refused, a bad or mismatched file changes nothing, `--replace` puts the file's
state back, and `reset` empties test mode but keeps the keys, settings and live mode.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from kessai.services import state
from kessai.store.db import Database
from kessai.store.state import renumbered_table
from kessai.store.tables import metadata
from tests.api.helpers import all_values
from tests.conftest import (
    Merchant,
    Server,
    fresh_database,
    run_async,
    served,
    start_server,
    stop_server,
    wait_for,
)
from tests.state_shop import (
    CVV,
    LISTS,
    MANY,
    NUMBERS,
    OBJECTS,
    Made,
    answers,
    build,
    card,
    cli,
    delivered,
    ok,
    text,
)
from tests.test_cli_failures import assert_one_line_failure
from tests.webhooks.conftest import FAST_RETRIES
from tests.webhooks.receiver import Receiver


@dataclass
class Source:
    server: Server
    merchant: Merchant
    made: Made
    before: dict[str, Any]  # every answer about the merchant's objects
    export: bytes
    receiver: Receiver

    @property
    def document(self) -> dict[str, Any]:
        return dict(json.loads(self.export))

    def on(self, server: Server) -> Merchant:
        """The same merchant (the same keys) on another server."""
        m = self.merchant
        return Merchant(server, m.id, m.name, m.secret_key, m.publishable_key,
                        live_secret_key=m.live_secret_key)  # fmt: skip


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    receiver = Receiver()
    receiver.fail_first = 1  # every event's first attempt fails: two attempts each
    receiver.up()
    try:
        with served(tmp_path_factory.mktemp("state-source"), env=FAST_RETRIES) as server:
            merchant = server.merchant("State Shop")
            made = build(merchant, receiver.url)
            made.ids["event"] = delivered(merchant)
            before = answers(server, merchant, made)
            out = cli(server.database_url, "export", "--merchant", merchant.id)
            assert out.returncode == 0, out.stderr
            yield Source(server, merchant, made, before, out.stdout, receiver)
    finally:
        receiver.down()


@pytest.fixture(scope="module")
def target(source: Source, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server on a store that was empty before the source's export was imported."""
    workdir = tmp_path_factory.mktemp("state-target")
    with fresh_database(workdir) as url:
        out = cli(url, "import", stdin=source.export)
        assert out.returncode == 0, out.stderr
        assert f"imported merchant 'State Shop' ({source.merchant.id})" in out.stdout.decode()
        server = start_server(url, workdir, env=FAST_RETRIES)
        try:
            yield server
        finally:
            stop_server(server)


def test_every_table_is_exported_or_named_as_left_out() -> None:
    exported = set(state.exported_tables())
    left_out = set(state.NOT_EXPORTED)
    assert exported | left_out | {"merchants"} == set(metadata.tables), (
        "a table is neither exported nor named in services/state.py NOT_EXPORTED"
    )
    assert not exported & left_out
    assert left_out == {"server_secrets"}
    # Tables whose integer ids the store numbers itself: renumbered on import.
    serial = {table.name for table in state.walk().tables if renumbered_table(table)}
    assert serial == {"webhook_deliveries", "webhook_attempts", "idempotency_keys"}
    # What reset keeps is a decision too: everything else of test mode goes.
    assert {
        "api_keys", "webhook_endpoints", "processor_configs", "ledger_settings", "clocks",
    } == state.KEPT_BY_RESET  # fmt: skip
    assert exported >= state.KEPT_BY_RESET


def test_the_export_holds_every_kind_of_row_and_no_card_data(source: Source) -> None:
    document = source.document
    assert (document["format"], document["version"], document["mode"]) == (
        "kessai-export", 1, "all",
    )  # fmt: skip
    assert document["merchant"]["id"] == source.merchant.id
    tables = document["tables"]
    assert list(tables) == state.exported_tables()
    assert [name for name, rows in tables.items() if not rows] == []
    # The secrets a file holds: say so in docs/export-format.md.
    [komoju] = tables["processor_configs"]
    assert komoju["config"]["secret_key"] == "sk_live_state_test_1234"
    assert all(row["secret"] for row in tables["webhook_endpoints"])
    assert {row["livemode"] for row in tables["customers"]} == {False, True}
    assert len(tables["webhook_attempts"]) >= 2 * len(tables["webhook_deliveries"])
    [document_row] = tables["chargeback_documents"]
    assert document_row["content"].startswith("iVBORw0KGgo")  # the PNG, base64
    # The exact bytes of every event as webhooks got them.
    got = {r.event_id: r.body.decode() for r in source.receiver.snapshot()}
    test_events = [event for event in tables["events"] if not event["livemode"]]
    assert len(test_events) == len(source.made.ids["event"])
    for event in test_events:
        assert got[event["id"]] == event["body"]
    # Never a card number or a verification value, in any form.
    text = source.export.decode()
    for number in NUMBERS:
        assert number not in text and number[:-4] not in text, number
    assert CVV not in all_values(document) and int(CVV) not in all_values(document)


def test_export_of_one_mode(source: Source) -> None:
    url = source.server.database_url
    test = json.loads(cli(url, "export", "--merchant", source.merchant.id, "--mode", "test").stdout)
    live = json.loads(cli(url, "export", "--merchant", source.merchant.id, "--mode", "live").stdout)
    assert (test["mode"], live["mode"]) == ("test", "live")
    for name, rows in test["tables"].items():
        assert all(row.get("livemode", False) is False for row in rows), name
    for name, rows in live["tables"].items():
        assert all(row.get("livemode", True) is True for row in rows), name
    assert test["tables"]["clocks"] and not live["tables"]["clocks"]
    assert [c["email"] for c in live["tables"]["customers"]] == ["live@example.com"]
    assert len(live["tables"]["api_keys"]) == 2 and not live["tables"]["payments"]
    everything = source.document["tables"]
    for name in everything:
        assert len(test["tables"][name]) + len(live["tables"][name]) == len(everything[name])


def test_the_imported_store_answers_every_request_the_same(source: Source, target: Server) -> None:
    after = answers(target, source.on(target), source.made)
    assert after.keys() == source.before.keys()
    different = [path for path in after if after[path] != source.before[path]]
    assert not different, [(p, source.before[p][:500], after[p][:500]) for p in different[:3]]
    # The keys are the same strings: kept as digests, they work unchanged.
    shown = httpx.get(f"{target.base_url}/api/v1/payments", auth=(source.merchant.secret_key, ""))
    assert shown.status_code == 200
    # And every row is there as it was, but the numbers the new store gave its own serials.
    rows = run_async(_rows(target.database_url, source.merchant.id))
    document = source.document
    assert rows.pop("merchant") == document["merchant"]
    for name, expected in document["tables"].items():
        assert comparable(name, rows[name]) == comparable(name, expected), name


SERIALS = {"webhook_deliveries": ("id",), "webhook_attempts": ("id", "delivery_id"),
           "idempotency_keys": ("id",)}  # fmt: skip


def comparable(table: str, rows: list[dict[str, Any]]) -> list[str]:
    """The rows as sorted JSON texts, without the integer ids a store numbers itself."""
    dropped = SERIALS.get(table, ())
    return sorted(
        json.dumps({k: v for k, v in row.items() if k not in dropped}, sort_keys=True)
        for row in rows
    )


def test_a_second_import_is_refused(source: Source, target: Server) -> None:
    out = cli(target.database_url, "import", stdin=source.export)
    assert_one_line_failure(text(out), "already in this store", "--replace", "nothing was written")


def corrupted(document: dict[str, Any], clash: str) -> list[tuple[str, bytes, list[str]]]:
    """(what, file, words its one-line failure must hold): files import must refuse."""

    def variant(change: Any) -> bytes:
        doc = copy.deepcopy(document)
        change(doc)
        return json.dumps(doc).encode()

    def clashing(doc: dict[str, Any]) -> None:
        # A payment of another merchant's id: refused by the database, after the deletes
        # and most of the inserts.
        row = dict(doc["tables"]["payments"][0], id=clash, completes_session=None)
        doc["tables"]["payments"].append(row)

    def setter(*path: Any, value: Any) -> Any:
        def change(doc: Any) -> None:
            for step in path[:-1]:
                doc = doc[step]
            doc[path[-1]] = value

        return change

    return [
        ("not JSON", b'{"format": "kessai-export", ', ["not JSON", "line 1"]),
        ("not an object", b"[1, 2]", ["one JSON object"]),
        ("another format", variant(setter("format", value="other")), ["not a kessai export"]),
        ("version", variant(setter("version", value=2)), ["version 2", "reads version 1"]),
        ("schema", variant(setter("schema", value="0004")), ['schema revision "0004"']),
        ("no table", variant(lambda d: d["tables"].pop("refunds")), ["tables.refunds is missing"]),
        ("bad amount", variant(setter("tables", "payments", 1, "amount", value="12")),
         ["tables.payments[1].amount must be a whole number"]),
        ("bad time", variant(setter("tables", "events", 0, "created_at", value="yesterday")),
         ["tables.events[0].created_at"]),
        ("bad bytes", variant(setter("tables", "chargeback_documents", 0, "content", value="%%")),
         ["tables.chargeback_documents[0].content must be base64"]),
        ("deep JSON", variant(setter("tables", "payments", 0, "metadata", value=deep(200))),
         ["tables.payments[0].metadata is JSON nested more than 64 levels deep"]),
        ("null", variant(setter("tables", "customers", 0, "metadata", value=None)),
         ["tables.customers[0].metadata must not be null"]),
        ("unknown column", variant(setter("tables", "refunds", 0, "extra", value=1)),
         ["tables.refunds[0] has a column"]),
        ("another merchant's row", variant(setter("tables", "events", 0, "merchant_id",
                                                  value="z" * 25)),
         ["tables.events[0].merchant_id is not the file's merchant"]),
        ("a row the file lacks", variant(setter("tables", "refunds", 0, "payment_id",
                                                value="z" * 25)),
         ["tables.refunds[0].payment_id names a row of payments the file does not hold"]),
        ("a clash in the store", variant(clashing), ["tables.payments", "clashes",
                                                     "nothing was written"]),
    ]  # fmt: skip


async def _rows(url: str, merchant_id: str) -> dict[str, Any]:
    """Every row of the merchant in the store at `url`, as an export holds them."""
    db = Database.from_url(url, pool_size=1)
    try:
        async with db.snapshot() as conn:
            found = await state.export(conn, merchant_id, "all", "-", datetime.now(UTC))
    finally:
        await db.dispose()
    return {"merchant": found["merchant"], **found["tables"]}


def deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


def test_a_bad_or_mismatched_file_changes_nothing(source: Source, target: Server) -> None:
    other = target.merchant("Other Shop")
    with other.client() as api:
        theirs = ok(api.post("/payments", json={"amount": 100, "currency": "JPY",
                                                "payment_details": card()}))["id"]  # fmt: skip
    merchant = source.on(target)
    before = answers(target, merchant, source.made)
    rows = run_async(_rows(target.database_url, merchant.id))
    for what, data, words in corrupted(source.document, theirs):
        out = text(cli(target.database_url, "import", "--replace", stdin=data))
        line = assert_one_line_failure(out, "cannot import", *words)
        assert "Traceback" not in out.stderr, (what, out.stderr)
        assert run_async(_rows(target.database_url, merchant.id)) == rows, (what, line)
    assert answers(target, merchant, source.made) == before
    with other.client() as api:
        assert ok(api.get(f"/payments/{theirs}"))["amount"] == 100


def test_the_imported_store_takes_new_work(source: Source, target: Server) -> None:
    """New payments and webhook deliveries after an import: the integer ids the store
    numbers itself (deliveries, attempts, idempotency keys) do not collide."""
    merchant = source.on(target)
    with merchant.client() as api:
        for n in range(3):
            headers = {"X-KOMOJU-IDEMPOTENCY": f"after-import-{n}"}
            body = {"amount": 321 + n, "currency": "JPY", "payment_details": card()}
            made = ok(api.post("/payments", json=body, headers=headers))
            assert ok(api.post("/payments", json=body, headers=headers)) == made
            assert made["status"] == "captured"
        events = ok(api.get("/events", params={"per_page": 3}))["data"]
    key = (merchant.secret_key, "")
    for event in events:
        url = f"{target.base_url}/kessai/v1/events/{event['id']}/deliveries"

        def delivered_once(url: str = url) -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = ok(httpx.get(url, auth=key))["deliveries"]
            return found if found and found[0]["status"] == "delivered" else None

        [found] = wait_for(delivered_once, what=f"{event['id']} delivered", timeout=60)
        assert len(found["attempts"]) == 2  # the receiver fails each event's first attempt
        assert source.receiver.of_event(event["id"])


def test_replace_puts_the_file_back(source: Source, target: Server) -> None:
    out = cli(target.database_url, "import", "--replace", stdin=source.export)
    assert out.returncode == 0, out.stderr
    after = answers(target, source.on(target), source.made)
    different = [path for path in after if after[path] != source.before[path]]
    assert not different, different[:5]


def test_reset_empties_test_mode_and_keeps_keys_settings_and_live_mode(
    source: Source, target: Server
) -> None:
    merchant = source.on(target)
    before = answers(target, merchant, source.made)
    out = cli(target.database_url, "reset", "--merchant", merchant.id)
    assert_one_line_failure(text(out), "--yes")
    out = cli(target.database_url, "reset", "--merchant", merchant.id, "--yes", "--json")
    assert out.returncode == 0, out.stderr
    deleted = json.loads(out.stdout)["deleted"]
    tables = source.document["tables"]
    test_events = [event for event in tables["events"] if not event["livemode"]]
    assert (deleted["payments"], deleted["events"]) == (len(tables["payments"]), len(test_events))
    assert not set(deleted) & state.KEPT_BY_RESET
    with merchant.client() as api:
        for listing in LISTS:
            assert ok(api.get(f"/{listing}", params=dict(MANY)))["data"] == [], listing
        for kind, path in OBJECTS:
            for object_id in source.made.ids[kind]:
                assert api.get(f"/{path}/{object_id}").status_code == 404, (path, object_id)
        assert ok(api.get("/balances/JPY"))["total_balance_cents"] == 0
    after = answers(target, merchant, Made({"live_customer": source.made.ids["live_customer"]}))
    kept = [path for path in after if path.startswith(("live ", "/kessai/v1/"))]
    assert len(kept) == 4 and "clock offset" in after
    for path in [*kept, "clock offset"]:
        assert after[path] == before[path], path
    # The keys work, and test mode starts again from nothing.
    with merchant.client() as client:
        made = ok(client.post("/payments", json={"amount": 999, "currency": "JPY",
                                                 "payment_details": card()}))  # fmt: skip
        assert ok(client.get("/payments"))["total"] == 1
        assert made["status"] == "captured"


def test_unknown_merchant_and_mode(source: Source, tmp_path: Path) -> None:
    url = source.server.database_url
    out = text(cli(url, "export", "--merchant", "z" * 25))
    assert_one_line_failure(out, "no merchant")
    out = text(cli(url, "export", "--merchant", source.merchant.id, "--mode", "both"))
    assert_one_line_failure(out, "--mode is test, live or all")
    out = text(cli(url, "reset", "--merchant", "z" * 25, "--yes"))
    assert_one_line_failure(out, "no merchant")
