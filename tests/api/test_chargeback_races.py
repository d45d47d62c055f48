"""Chargebacks under concurrency, against the real server: racing answers leave exactly one
outcome, one event and one ledger line; racing test-tool calls open one chargeback; a
refund racing the opening never takes, with the chargeback, more than was paid."""

from __future__ import annotations

import concurrent.futures
import time
from collections import Counter

import httpx

from tests.api.chargeback_helpers import (
    DAY,
    WON_CARD,
    answer,
    balance,
    chargeback_events,
    detail,
    kessai_url,
    ledger_lines,
    listed,
    open_now,
    paid,
    refund,
    shop,
)
from tests.api.helpers import get_payment
from tests.conftest import Server, assert_error

GOOD = "4111111111111111"


def test_racing_accepts_and_defends_leave_one_outcome(server: Server) -> None:
    with shop(server, "Chargeback Answer Race") as (merchant, api):
        chargebacks = [open_now(api, paid(api, GOOD)["id"]) for _ in range(4)]
        hows = ["accept", "defend"] * 5
        with concurrent.futures.ThreadPoolExecutor(len(hows)) as pool:
            for found in chargebacks:
                clients = [merchant.client() for _ in hows]
                try:
                    futures = [
                        pool.submit(answer, c, found["id"], how)
                        for c, how in zip(clients, hows, strict=True)
                    ]
                    results = [(how, f.result()) for how, f in zip(hows, futures, strict=True)]
                finally:
                    for c in clients:
                        c.close()
                status = detail(api, found["id"])["status"]
                assert status in ("accepted", "defended")
                winner = "accept" if status == "accepted" else "defend"
                for how, resp in results:
                    if how == winner:
                        assert resp.status_code == 204, resp.text
                    else:
                        code = "not_acceptable" if how == "accept" else "not_defendable"
                        assert_error(resp, 422, code)
                assert chargeback_events(api, found["id"]) == [
                    "chargeback.created",
                    f"chargeback.{status}",
                ]
        lines = ledger_lines(api, "chargeback")
        assert Counter(line["source"] for line in lines) == Counter(cb["id"] for cb in chargebacks)


def test_racing_tool_calls_open_one_chargeback(server: Server) -> None:
    with shop(server, "Chargeback Tool Race") as (merchant, api):
        payment = paid(api, GOOD)
        clients = [merchant.client() for _ in range(8)]
        url = kessai_url(api, "/chargebacks")
        try:
            with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
                futures = [
                    pool.submit(c.post, url, json={"payment_id": payment["id"]}) for c in clients
                ]
                responses = [f.result() for f in futures]
        finally:
            for c in clients:
                c.close()
        assert sorted(r.status_code for r in responses) == [200] + [422] * 7
        for resp in responses:
            if resp.status_code == 422:
                assert_error(resp, 422, "not_disputable", "payment_id")
        [found] = listed(api)
        assert [line["source"] for line in ledger_lines(api, "chargeback")] == [found["id"]]


def test_a_refund_racing_the_opening_never_takes_more_than_was_paid(server: Server) -> None:
    with shop(server, "Chargeback Refund Race") as (merchant, api):
        payments = [paid(api, WON_CARD, amount=1000 + i) for i in range(16)]
        clients = [merchant.client() for _ in payments]

        def late_refund(i: int, c: httpx.Client, payment_id: str) -> httpx.Response:
            time.sleep(i * 0.01)  # spread over the clock's move: some before, some after
            return refund(c, payment_id, 500 if i % 2 else None)

        merchant.move_clock(advance_seconds=DAY - 2)  # the openings are 2 s away
        try:
            with concurrent.futures.ThreadPoolExecutor(len(payments) + 1) as pool:
                move = pool.submit(merchant.move_clock, advance_seconds=4)  # the opening
                refunds = [
                    pool.submit(late_refund, i, c, p["id"])
                    for i, (c, p) in enumerate(zip(clients, payments, strict=True))
                ]
                move.result()
                answers = [f.result() for f in refunds]
        finally:
            for c in clients:
                c.close()
        for resp in answers:
            if resp.status_code != 200:
                assert_error(resp, 422, "not_refundable")
        merchant.move_clock(advance_seconds=2 * 3600)  # one put off by a refund opens now
        expected = 0
        for before in payments:
            payment = get_payment(api, before["id"])
            found = listed(api, payment_id=payment["id"])
            disputed = sum(cb["amount"] for cb in found)
            assert payment["amount_refunded"] + disputed <= payment["total"], (payment, found)
            if payment["status"] == "captured":  # something was left: it is disputed
                assert [cb["amount"] for cb in found] == [
                    payment["total"] - payment["amount_refunded"]
                ]
            else:
                assert found == []  # refunded in full before the opening: none
            expected += payment["total"] - payment["processing_fee"]
            expected -= payment["amount_refunded"] + disputed
        assert balance(api) == expected
