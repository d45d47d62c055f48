"""`kessai ledger check` and `kessai ledger settings`, run as a user runs them, against a
real server's store (SQLite, or a fresh PostgreSQL database).

The store holds merchants with captures, refunds, a declined and an uncaptured payment, a
won chargeback, a cancelled and a paid disbursement and a settlement, all made through
the API and the test clock. The check passes on it; then each invariant is broken by hand
(SQL on the same database), each in the ledger of a merchant of its own, and one run of
the check must name exactly what was broken, merchant by merchant; once put back, it
passes again.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kessai.ids import new_id
from kessai.store import merchants
from kessai.store.db import Database, create_engine
from kessai.store.tables import balance_transactions as bt
from kessai.store.tables import balances, chargebacks, disbursements, payments, refunds
from kessai.store.tables import settlements as st
from tests.conftest import CARD, Merchant, Server, free_port, kessai, run_async, served
from tests.test_cli_failures import assert_one_line_failure

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
ACCOUNT = {
    "currency": "JPY",
    "account_number": "1234567",
    "account_type": "ordinary",
    "account_name_kana": "ﾔﾏﾀﾞ ﾀﾛｳ",
    "bank_code": "0001",
    "branch_code": "001",
}
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Tamper:
    """A hand-made change: `change` updates the rows `where` picks (None deletes them);
    `insert` adds a row instead."""

    table: sa.Table
    where: dict[str, Any]
    change: dict[str, Any] | None = None
    insert: dict[str, Any] | None = None


# (name, the change given a merchant's ids, the violation kinds it must cause, exactly)
CASES: list[tuple[str, Any, set[str]]] = [
    ("running balance", lambda i: Tamper(balances, {"merchant_id": i["m"], "type": "fee"},
     {"amount": balances.c.amount + 7}), {"balance_type", "balance"}),
    ("fee line deleted", lambda i: Tamper(bt, {"source_id": i["p5"], "type": "fee"}),
     {"missing_line", "balance_type", "balance"}),
    ("fee recorded", lambda i: Tamper(payments, {"id": i["p5"]},
     {"processing_fee": payments.c.processing_fee + 1}), {"wrong_amount"}),
    ("refund amount", lambda i: Tamper(refunds, {"id": i["r1"]},
     {"amount": refunds.c.amount + 1}), {"wrong_amount"}),
    ("refund deleted", lambda i: Tamper(refunds, {"id": i["r1"]}), {"orphan_line"}),
    ("refund unbooked", lambda i: Tamper(refunds, {}, insert={
        "id": new_id(), "payment_id": i["p5"], "amount": 5, "currency": "JPY",
        "created_at": FAR_FUTURE}), {"missing_line"}),
    ("payment not captured", lambda i: Tamper(payments, {"id": i["p5"]},
     {"status": "authorized"}), {"unexpected_line"}),
    ("line in another currency", lambda i: Tamper(bt, {"source_id": i["p5"], "type": "payment"},
     {"currency": "USD"}), {"wrong_owner", "balance_type", "balance"}),
    ("line of another payment", lambda i: Tamper(bt, {"source_id": i["p5"], "type": "fee"},
     {"payment_id": i["p1"]}), {"wrong_payment"}),
    ("unknown type", lambda i: Tamper(bt, {"source_id": i["p5"], "type": "fee"},
     {"type": "bonus"}), {"unknown_type", "missing_line", "balance_type"}),
    ("orphan line", lambda i: Tamper(bt, {}, insert={
        "id": new_id(), "merchant_id": i["m"], "livemode": False, "currency": "JPY",
        "type": "refund", "amount": -5, "source_type": "refund", "source_id": new_id(),
        "payment_id": i["p5"], "happened_at": FAR_FUTURE}),
     {"orphan_line", "balance_type", "balance"}),
    ("chargeback won, then lost", lambda i: Tamper(chargebacks, {"id": i["cb"]},
     {"status": "lost"}), {"unexpected_line"}),
    ("chargeback amount", lambda i: Tamper(chargebacks, {"id": i["cb"]},
     {"amount": chargebacks.c.amount + 1}), {"wrong_amount"}),
    ("cancelled disbursement paid", lambda i: Tamper(disbursements, {"id": i["d1"]},
     {"status": "paid"}), {"unexpected_line"}),
    ("disbursement cancelled unbooked", lambda i: Tamper(disbursements, {"id": i["d2"]},
     {"status": "cancelled"}), {"missing_line"}),
    ("settlement amount", lambda i: Tamper(st, {"id": i["s"]},
     {"amount": st.c.amount + 1}), {"settlement_amount"}),
    ("settlement count", lambda i: Tamper(st, {"id": i["s"]},
     {"transaction_count": st.c.transaction_count - 1}), {"settlement_count"}),
    ("settlement totals", lambda i: Tamper(st, {"id": i["s"]},
     {"totals": {"payment": 1}}), {"settlement_totals"}),
    ("line left its settlement", lambda i: Tamper(bt, {"source_id": i["p1"], "type": "payment"},
     {"settlement_id": new_id()}),
     {"unknown_settlement", "settlement_totals", "settlement_amount", "settlement_count"}),
    ("settled line after the cut-off", lambda i: Tamper(bt, {"source_id": i["p1"],
     "type": "payment"}, {"happened_at": FAR_FUTURE}), {"settlement_late_line"}),
    ("settlement of another ledger", lambda i: Tamper(st, {"id": i["s"]},
     {"currency": "USD"}), {"settlement_foreign_line"}),
]  # fmt: skip


def ok(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def build(merchant: Merchant) -> dict[str, str]:
    """Every kind of money move in this merchant's ledger, through the API and its clock;
    the ids the tampering needs."""
    ids = {"m": merchant.id}
    admin = f"{merchant.server.base_url}/kessai/v1"
    with merchant.client() as api:

        def pay(amount: int, number: str = CARD["number"], **params: Any) -> dict[str, Any]:
            details = {**CARD, "number": number}
            body = {"amount": amount, "currency": "JPY", "payment_details": details, **params}
            return ok(api.post("/payments", json=body))

        ids["p1"] = pay(10_000, tax=1000)["id"]
        refunded = ok(api.post(f"/payments/{ids['p1']}/refund", json={"amount": 300}))
        ids["r1"] = refunded["refunds"][0]["id"]
        declined = {**CARD, "number": "4123111111111059"}
        body = {"amount": 1000, "currency": "JPY", "payment_details": declined}
        assert api.post("/payments", json=body).status_code == 402
        assert pay(1000, capture=False)["status"] == "authorized"
        disputed = pay(2000)["id"]
        ids["cb"] = ok(api.post(f"{admin}/chargebacks", json={"payment_id": disputed}))["id"]
        document = {"document_base64": base64.b64encode(PNG).decode(), "filename": "r.png"}
        defended = api.post(
            f"/chargeback_requests/{ids['cb']}/defend",
            json={"description": "Delivered, signed for.", "document": document},
        )
        assert defended.status_code in (200, 204), defended.text
        ids["d1"] = ok(api.post("/disbursements", json={**ACCOUNT, "amount": 500}))["id"]
        ok(api.post(f"/disbursements/{ids['d1']}/cancel", json={"cancel_reason": "Wrong"}))
        ids["d2"] = ok(api.post("/disbursements", json={**ACCOUNT, "amount": 300}))["id"]
        merchant.move_clock(advance_seconds=6 * 86_400)  # the defense wins
        assert ok(api.get(f"/chargeback_requests/{ids['cb']}"))["status"] == "cancelled"
        cutoff = ok(api.get(f"{admin}/ledger/settings"))["next_cutoff_at"]
        merchant.move_clock(now=cutoff)  # everything so far is settled
        ids["p5"] = pay(700)["id"]  # and this is not
    return ids


async def make_merchants(url: str, count: int) -> list[tuple[str, dict[str, str]]]:
    """Merchants made in the store directly (`kessai merchant create` is a process each)."""
    db = Database.from_url(url, pool_size=1)
    try:
        async with db.transaction() as conn:
            now = datetime.now(UTC)
            return [await merchants.insert_merchant(conn, f"Ledger {n}", now) for n in range(count)]
    finally:
        await db.dispose()


async def settlement_of(url: str, ids: dict[str, str]) -> str:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            query = sa.select(bt.c.settlement_id).where(
                bt.c.source_id == ids["p1"], bt.c.type == "payment"
            )
            found = await conn.scalar(query)
    finally:
        await engine.dispose()
    assert found is not None, "the first payment was not settled"
    return str(found)


async def tamper_all(url: str, tampers: list[Tamper]) -> list[tuple[Tamper, list[dict]]]:
    """Apply every tamper in one transaction; each with the rows it changed, as they were."""
    engine = create_engine(url, pool_size=1)
    done = []
    try:
        async with engine.begin() as conn:
            for t in tampers:
                where = [t.table.c[k] == v for k, v in t.where.items()]
                if t.insert is not None:
                    await conn.execute(t.table.insert().values(**t.insert))
                    done.append((t, []))
                    continue
                saved = (await conn.execute(t.table.select().where(*where))).mappings().all()
                assert saved, f"nothing to tamper with in {t.table.name} where {t.where}"
                if t.change is None:
                    await conn.execute(t.table.delete().where(*where))
                else:
                    await conn.execute(t.table.update().where(*where).values(**t.change))
                done.append((t, [dict(row) for row in saved]))
    finally:
        await engine.dispose()
    return done


async def restore_all(url: str, done: list[tuple[Tamper, list[dict]]]) -> None:
    """Put every row back as it was: inserted ones deleted, deleted ones inserted again,
    changed ones updated to what they held (by primary key)."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            for t, saved in reversed(done):
                key = list(t.table.primary_key.columns)
                if t.insert is not None:
                    row = t.insert
                    await conn.execute(t.table.delete().where(*[c == row[c.name] for c in key]))
                elif t.change is None:
                    await conn.execute(t.table.insert(), saved)
                else:
                    for row in saved:
                        where = [c == row[c.name] for c in key]
                        await conn.execute(t.table.update().where(*where).values(**row))
    finally:
        await engine.dispose()


@dataclass
class Store:
    server: Server
    control: str  # a merchant nobody tampers with
    ids: list[dict[str, str]]  # CASES[n] tampers with ids[n]

    def check(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"KESSAI_DATABASE_URL": self.server.database_url}
        return kessai("ledger", "check", *args, env=env, cwd=self.server.workdir)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with served(tmp_path_factory.mktemp("ledger-check")) as server:
        made = run_async(make_merchants(server.database_url, len(CASES) + 1))
        shops = [
            Merchant(server, m, f"Ledger {n}", keys["secret"], keys["publishable"])
            for n, (m, keys) in enumerate(made)
        ]
        ids = [build(shop) for shop in shops]
        for found in ids:
            found["s"] = run_async(settlement_of(server.database_url, found))
        yield Store(server, shops[-1].id, ids[:-1])


def test_a_consistent_store_passes(store: Store) -> None:
    out = store.check()
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"checked {len(CASES) + 1} merchant(s): ")
    assert "currencies JPY" in lines[0] and " 0 transaction(s)" not in lines[0]
    assert "no transaction in two settlements" in lines[1]
    assert lines[-1] == "every invariant holds"
    shown = json.loads(store.check("--merchant", store.control, "--json").stdout)
    assert shown["ok"] is True and shown["violations"] == []
    assert (shown["merchants"], shown["modes"], shown["currencies"]) == (1, 1, ["JPY"])
    # p1 and its fee and refund, the disputed payment, its fee, the chargeback and its
    # reversal, two disbursements and one reversal, p5 and its fee
    assert shown["transactions"] == 3 + 4 + 3 + 2
    assert shown["settlements"] >= 1


@pytest.fixture(scope="module")
def tampered(store: Store) -> dict[str, Any]:
    """Every case at once, each in its own merchant's ledger: what the check says; then
    everything put back."""
    url = store.server.database_url
    done = run_async(
        tamper_all(url, [make(i) for (_, make, _), i in zip(CASES, store.ids, strict=True)])
    )
    try:
        found = {
            "all": store.check("--json"),
            "text": store.check(),
            "control": store.check("--merchant", store.control),
            "one": store.check("--merchant", store.ids[7]["m"], "--json"),
        }
    finally:
        run_async(restore_all(url, done))
    found["after"] = store.check()
    return found


@pytest.mark.parametrize(("n", "name"), [(n, c[0]) for n, c in enumerate(CASES)])
def test_each_broken_invariant_is_named_in_its_ledger(
    store: Store, tampered: dict[str, Any], n: int, name: str
) -> None:
    out = tampered["all"]
    assert out.returncode == 1, out.stdout + out.stderr
    shown = json.loads(out.stdout)
    merchant = store.ids[n]["m"]
    kinds = {v["kind"] for v in shown["violations"] if v["merchant_id"] == merchant}
    assert kinds == CASES[n][2], (
        name,
        [v for v in shown["violations"] if v["merchant_id"] == merchant],
    )
    text = [line for line in tampered["text"].stdout.splitlines() if f": {merchant} " in line]
    assert {line.split(":")[0] for line in text} == CASES[n][2]
    assert all(" test JPY: " in line or " test USD: " in line for line in text)


def test_the_check_of_one_merchant_sees_only_its_ledger(tampered: dict[str, Any]) -> None:
    assert tampered["control"].returncode == 0, tampered["control"].stdout
    assert tampered["control"].stdout.splitlines()[-1] == "every invariant holds"
    one = tampered["one"]
    assert one.returncode == 1
    assert {v["kind"] for v in json.loads(one.stdout)["violations"]} == CASES[7][2]
    assert tampered["text"].returncode == 1
    assert f"{len(json.loads(tampered['all'].stdout)['violations'])} violation(s):" in (
        tampered["text"].stdout
    )


def test_once_put_back_the_store_passes_again(tampered: dict[str, Any]) -> None:
    after = tampered["after"]
    assert after.returncode == 0, after.stdout
    assert after.stdout.splitlines()[-1] == "every invariant holds"


# kessai ledger settings, and what a user gets wrong


def test_settings_round_trip_and_the_new_rate_is_charged(store: Store) -> None:
    server = store.server
    [(merchant_id, keys)] = run_async(make_merchants(server.database_url, 1))
    env = {"KESSAI_DATABASE_URL": server.database_url}

    def settings(*args: str) -> subprocess.CompletedProcess[str]:
        out = kessai(
            "ledger", "settings", "--merchant", merchant_id, *args, env=env, cwd=server.workdir
        )
        assert out.returncode == 0, out.stderr
        return out

    changes = ("--schedule", "monthly", "--fee", "credit_card=2.5+10", "--fee", "konbini=4")
    shown = json.loads(settings(*changes, "--fee", "konbini=default", "--json").stdout)
    assert shown["settlement_schedule"] == "monthly"
    assert shown["next_cutoff_at"].endswith("T15:00:00.000Z")  # 00:00 on a 1st in Japan
    assert shown["fees"]["credit_card"] == {"percent": "2.5", "fixed": 10}
    assert shown["fees"]["konbini"] == {"percent": "2.75", "fixed": 0}  # the last word
    assert json.loads(settings("--json").stdout) == shown
    text = settings().stdout.splitlines()
    assert text[0] == f"ledger settings of {merchant_id} (test mode)"
    assert text[1] == f"settlement schedule: monthly, next cut-off {shown['next_cutoff_at']}"
    assert "  credit_card      2.5% + 10" in text and "  paypay           3.25%" in text
    live = json.loads(settings("--mode", "live", "--json").stdout)
    assert live["settlement_schedule"] == "weekly"  # each mode its own
    assert live["fees"]["credit_card"] == {"percent": "3.6", "fixed": 0}
    shop = Merchant(server, merchant_id, "Ledger", keys["secret"], keys["publishable"])
    with shop.client() as api:
        body = {"amount": 1000, "currency": "JPY", "payment_details": CARD}
        paid = ok(api.post("/payments", json=body))
    assert run_async(lines_of(server.database_url, paid["id"])) == {"payment": 1000, "fee": -35}


async def lines_of(url: str, payment_id: str) -> dict[str, int]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            query = sa.select(bt.c.type, bt.c.amount).where(bt.c.payment_id == payment_id)
            return {t: int(a) for t, a in await conn.execute(query)}
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--fee", "credit_card=3.6%"], ["--fee credit_card", "'3.6%'", "percentage"]),
        (["--fee", "credit_card=101"], ["--fee credit_card", "0 to 100"]),
        (["--fee", "credit_card=1.5+"], ["--fee credit_card", "fixed part"]),
        (["--fee", "cash=1"], ["--fee", "'cash'", "payment type"]),
        (["--fee", "credit_card"], ["--fee", "TYPE=RATE"]),
        (["--schedule", "hourly"], ["--schedule", "daily, weekly, monthly", "'hourly'"]),
        (["--mode", "prod"], ["--mode", "test or live", "'prod'"]),
    ],
)
def test_a_bad_setting_is_one_line(tmp_path: Path, args: list[str], words: list[str]) -> None:
    env = {"KESSAI_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"}
    out = kessai("ledger", "settings", "--merchant", new_id(), *args, env=env, cwd=tmp_path)
    assert_one_line_failure(out, *words)


@pytest.mark.parametrize("command", [["check"], ["settings"]])
def test_an_unknown_merchant_is_one_line(store: Store, command: list[str]) -> None:
    env = {"KESSAI_DATABASE_URL": store.server.database_url}
    for merchant in (new_id(), "not-an-id"):
        out = kessai("ledger", *command, "--merchant", merchant, env=env, cwd=store.server.workdir)
        assert_one_line_failure(out, f"no merchant {merchant!r}", "kessai merchant list")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (f"postgresql://u@127.0.0.1:{free_port()}/x", ["cannot reach PostgreSQL"]),
        ("sqlite:////no/such/dir/k.db", ["does not exist", "KESSAI_DATABASE_URL"]),
    ],
)
def test_a_store_it_cannot_use_is_one_line(tmp_path: Path, url: str, words: list[str]) -> None:
    out = kessai("ledger", "check", env={"KESSAI_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_failure(out, *words)
