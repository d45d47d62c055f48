"""Disbursements under concurrency, against a real server: many at once never take more
than the balance holds, and a cancel racing the clock's payout ends in exactly one of the
two, with the money given back at most once."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tests.api.test_disbursements import DAY, balance, body_of, disburse, fund
from tests.conftest import Merchant, Server, assert_error, assert_schema

T = TypeVar("T")
THREADS = 24
RACERS = 2


def at_once(merchant: Merchant, tasks: list[Callable[[httpx.Client], T]]) -> list[T]:
    """Run each task on a thread and client of its own, all released together."""
    clients = [merchant.client() for _ in tasks]
    start = threading.Barrier(len(tasks))

    def run(task: Callable[[httpx.Client], T], client: httpx.Client) -> T:
        start.wait()
        return task(client)

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(tasks)) as pool:
            return list(pool.map(run, tasks, clients))
    finally:
        for client in clients:
            client.close()


def all_disbursements(api: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        resp = api.get("/disbursements", params={"per_page": 100, "page": page})
        assert resp.status_code == 200, resp.text
        assert_schema(resp.json(), "DisbursementList")
        found += resp.json()["data"]
        if page >= resp.json()["last_page"]:
            return found
        page += 1


def ledger_lines(api: httpx.Client, type_: str) -> list[dict[str, Any]]:
    resp = api.get("/balances/JPY/transactions", params={"per_page": 100, "type": type_})
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "BalanceTransactionList")
    assert resp.json()["total"] <= 100
    return list(resp.json()["data"])


def test_concurrent_disbursements_never_overdraw(server: Server) -> None:
    shop = server.merchant("Rush Payout Shop")
    with shop.client() as api:
        for _ in range(3):
            fund(api, 10_000)
        available = balance(api)
        amount = 2_000
        assert THREADS * amount > available  # more is asked than there is

        responses = at_once(shop, [lambda c: disburse(c, amount)] * THREADS)

        assert {r.status_code for r in responses} <= {200, 422}, [r.text for r in responses]
        accepted = [body_of(r) for r in responses if r.status_code == 200]
        for refused in (r for r in responses if r.status_code != 200):
            assert_error(refused, 422, "insufficient_balance", "amount")
        taken = sum(d["amount"] for d in accepted)
        assert taken <= available
        # One at a time under the balance's lock: every request that fitted was accepted.
        assert len(accepted) == available // amount
        left = balance(api)
        assert left == available - taken >= 0
        booked = ledger_lines(api, "disbursement")
        assert sorted(t["source"] for t in booked) == sorted(d["id"] for d in accepted)
        assert all(t["amount"] == -amount for t in booked)
        assert sorted(d["id"] for d in all_disbursements(api)) == sorted(d["id"] for d in accepted)


def test_cancels_racing_the_clock_end_in_one_or_the_other(server: Server) -> None:
    shop = server.merchant("Race Payout Shop")
    with shop.client() as api:
        fund(api, 10_000)
        before = balance(api)
        made = [body_of(disburse(api, 100 + i)) for i in range(30)]
        shop.move_clock(advance_seconds=DAY - 2)

        def cancel_each(chunk: list[dict[str, Any]]) -> Callable[[httpx.Client], Any]:
            """One racer: cancels its disbursements one after another."""
            return lambda c: [
                (d, c.post(f"/disbursements/{d['id']}/cancel", json={"cancel_reason": "No"}))
                for d in chunk
            ]

        def move(c: httpx.Client) -> list[Any]:
            shop.move_clock(advance_seconds=5)  # pays every one not cancelled yet
            return []

        chunks = [made[i::RACERS] for i in range(RACERS)]
        results = at_once(shop, [move, *(cancel_each(chunk) for chunk in chunks)])

        outcomes: dict[str, str] = {}
        for d, resp in (pair for racer in results for pair in racer):
            if resp.status_code == 200:
                assert body_of(resp)["status"] == "cancelled"
                outcomes[d["id"]] = "cancelled"
            else:
                error = assert_error(resp, 422, "not_cancellable", None)
                assert error["error"]["details"] == {"status": "paid"}
                outcomes[d["id"]] = "paid"
        shown = {d["id"]: d["status"] for d in all_disbursements(api)}
        assert shown == outcomes
        debits = {t["source"]: t["amount"] for t in ledger_lines(api, "disbursement")}
        assert debits == {d["id"]: -d["amount"] for d in made}
        given_back = {t["source"]: t["amount"] for t in ledger_lines(api, "disbursement_reversal")}
        cancelled = {d["id"]: d["amount"] for d in made if outcomes[d["id"]] == "cancelled"}
        assert given_back == cancelled
        assert len(ledger_lines(api, "disbursement_reversal")) == len(cancelled)  # once each
        paid = sum(d["amount"] for d in made if outcomes[d["id"]] == "paid")
        assert balance(api) == before - paid
        found = api.get("/events", params={"per_page": 100}).json()["data"]
        moved = [e["data"]["id"] for e in found if e["type"] != "disbursement.created"]
        assert sorted(i for i in moved if i in outcomes) == sorted(outcomes)  # one move each
