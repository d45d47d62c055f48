"""Chargebacks, black-box, on the test clock: opened a day after capture by the chargeback
test cards and `Komoju-Scenario`, at once by the test tool; accepted, defended (won ->
cancelled, the money back; lost), expired; with their events and ledger lines. Each test
has a merchant of its own (its own clock and balance)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.api.chargeback_helpers import (
    DAY,
    LOST_CARD,
    PNG,
    answer,
    balance,
    chargeback_events,
    defense,
    detail,
    kessai_url,
    ledger_lines,
    listed,
    only_chargeback,
    open_now,
    paid,
    refund,
    shop,
)
from tests.api.helpers import parse_time, pay_ok, payment_of
from tests.conftest import CARD, Merchant, Server, assert_error


def test_won_card_opens_a_day_after_capture_and_a_won_defense_gives_the_money_back(
    server: Server,
) -> None:
    with shop(server, "Chargeback Won") as (merchant, api):
        _won_timeline(merchant, api)


def _won_timeline(merchant: Merchant, api: httpx.Client) -> None:
    payment = paid(api)
    before = balance(api)  # the capture less its fee
    assert before == payment["total"] - payment["processing_fee"]

    merchant.move_clock(advance_seconds=DAY - 60)
    assert listed(api) == []  # planned, not opened yet: not shown
    merchant.move_clock(advance_seconds=120)
    found = only_chargeback(api, payment["id"])
    assert found["status"] == "pending"
    assert found["amount"] == payment["total"]
    assert found["reason_code"] == "CB_Fraud" and found["reason"]
    opened = parse_time(found["created_at"])
    assert opened - parse_time(payment["captured_at"]) >= timedelta(days=1)
    assert parse_time(found["due_date"]) == opened + timedelta(days=7)
    assert [e["type"] for e in found["timeline"]] == ["created"]
    assert found["payment"]["id"] == payment["id"]
    assert found["payment"]["masked_card_number"] == "************1208"
    assert found["payment"]["payment_method"] == {
        "type": "credit_card",
        "brand": "visa",
        "last_four_digits": "1208",
    }
    assert found["customer"]["name"] == "Taro Yamada"
    assert found["defense"]["reason"] == "" and found["defense"]["documents"] == []
    assert balance(api) == before - payment["total"]
    [line] = ledger_lines(api, "chargeback")
    assert line["amount"] == -payment["total"]

    refused = refund(api, payment["id"], 100)  # the money is with the cardholder already
    assert "disputed" in assert_error(refused, 422, "not_refundable")["error"]["message"]

    assert answer(api, found["id"], "defend").status_code == 204
    defended = detail(api, found["id"])
    assert defended["status"] == "defended"
    assert defended["defense"]["reason"] == defense()["description"]
    [document] = defended["defense"]["documents"]
    assert document["file_name"] == "receipt.png"
    assert (document["content_type"], document["file_size"]) == ("image/png", len(PNG))
    served = api.get(document["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content == PNG
    assert merchant.client(merchant.publishable_key).get(document["url"]).status_code == 403

    # One defense: a second one is answered as done and changes nothing; accepting is refused.
    other = defense(description="Something else entirely.")
    assert answer(api, found["id"], "defend", other).status_code == 204
    assert detail(api, found["id"])["defense"] == defended["defense"]
    assert_error(answer(api, found["id"], "accept"), 422, "not_acceptable")

    merchant.move_clock(advance_seconds=5 * DAY - 120)
    assert detail(api, found["id"])["status"] == "defended"
    merchant.move_clock(advance_seconds=240)
    won = detail(api, found["id"])
    assert won["status"] == "cancelled"
    assert [e["type"] for e in won["timeline"]] == ["created", "defended", "won"]
    assert balance(api) == before
    [reversal] = ledger_lines(api, "chargeback_reversal")
    assert reversal["amount"] == payment["total"]
    assert chargeback_events(api, found["id"]) == [
        "chargeback.created",
        "chargeback.defended",
        "chargeback.cancelled",
    ]
    assert refund(api, payment["id"], 100).status_code == 200  # refundable again


def test_lost_card_defense_is_lost_and_the_money_stays_taken(server: Server) -> None:
    with shop(server, "Chargeback Lost") as (merchant, api):
        payment = paid(api, LOST_CARD, amount=2500)
        merchant.move_clock(advance_seconds=DAY + 1)
        found = only_chargeback(api, payment["id"])
        assert found["payment"]["masked_card_number"] == "************1216"
        after_opening = balance(api)
        assert answer(api, found["id"], "defend").status_code == 204
        merchant.move_clock(advance_seconds=5 * DAY + 1)
        lost = detail(api, found["id"])
        assert lost["status"] == "lost"
        assert [e["type"] for e in lost["timeline"]] == ["created", "defended", "lost"]
        assert balance(api) == after_opening
        assert ledger_lines(api, "chargeback_reversal") == []
        assert_error(refund(api, payment["id"]), 422, "not_refundable")
        assert chargeback_events(api, found["id"]) == [
            "chargeback.created",
            "chargeback.defended",
            "chargeback.lost",
        ]


def test_scenario_header_on_payments_sessions_and_customers(server: Server) -> None:
    with shop(server, "Chargeback Scenario") as (merchant, api):
        won = paid(api, "4111111111111111", headers={"Komoju-Scenario": "chargeback"})
        headers = {"Komoju-Scenario": "chargeback_lost"}
        made = api.post("/sessions", json={"amount": 700, "currency": "JPY"}, headers=headers)
        assert made.status_code == 200, made.text
        lost = pay_ok(api, made.json()["id"])["payment"]
        assert lost["status"] == "captured"
        headers = {"Komoju-Scenario": "chargeback"}
        customer = api.post("/customers", json={"payment_details": CARD}, headers=headers)
        assert customer.status_code == 200, customer.text
        saved = payment_of(
            api.post(
                "/payments",
                json={"amount": 900, "currency": "JPY", "customer": customer.json()["id"]},
            )
        )
        merchant.move_clock(advance_seconds=DAY + 1)
        assert only_chargeback(api, saved["id"])["amount"] == 900
        for payment in (won, lost):
            found = only_chargeback(api, payment["id"])
            assert found["amount"] == payment["total"]
            assert answer(api, found["id"], "defend").status_code == 204
        merchant.move_clock(advance_seconds=5 * DAY + 1)
        for payment, outcome in ((won, "cancelled"), (lost, "lost")):
            assert only_chargeback(api, payment["id"])["status"] == outcome


def test_an_ordinary_card_is_never_charged_back(server: Server) -> None:
    with shop(server, "Chargeback None") as (merchant, api):
        paid(api, "4111111111111111")
        merchant.move_clock(advance_seconds=10 * DAY)
        assert listed(api) == []


def test_accept_keeps_the_money_taken_and_is_idempotent(server: Server) -> None:
    with shop(server, "Chargeback Accept") as (merchant, api):
        payment = paid(api, "4111111111111111", amount=1200)
        refund(api, payment["id"], 200)
        found = open_now(api, payment["id"], outcome="won", reason_code="CB_NotReceived")
        assert found["status"] == "pending"
        assert found["amount"] == payment["total"] - 200  # what is left of the payment
        assert found["reason_code"] == "CB_NotReceived"
        assert listed(api, status="pending")[0]["id"] == found["id"]
        before = balance(api)
        for _ in range(2):
            resp = answer(api, found["id"], "accept")
            assert resp.status_code == 204 and resp.content == b""
        accepted = detail(api, found["id"])
        assert accepted["status"] == "accepted"
        assert [e["type"] for e in accepted["timeline"]] == ["created", "accepted"]
        assert_error(answer(api, found["id"], "defend"), 422, "not_defendable")
        merchant.move_clock(advance_seconds=30 * DAY)  # nothing more happens to it
        assert detail(api, found["id"])["status"] == "accepted"
        assert balance(api) == before
        assert_error(refund(api, payment["id"], 100), 422, "not_refundable")
        assert chargeback_events(api, found["id"]) == ["chargeback.created", "chargeback.accepted"]


def test_unanswered_chargeback_expires_at_its_due_date(server: Server) -> None:
    with shop(server, "Chargeback Expiry") as (merchant, api):
        payment = paid(api, "4111111111111111")
        found = open_now(api, payment["id"])
        before = balance(api)
        merchant.move_clock(advance_seconds=7 * DAY - 60)
        assert detail(api, found["id"])["status"] == "pending"
        merchant.move_clock(advance_seconds=120)
        expired = detail(api, found["id"])
        assert expired["status"] == "expired"
        assert [e["type"] for e in expired["timeline"]] == ["created", "expired"]
        assert balance(api) == before
        assert_error(answer(api, found["id"], "accept"), 422, "not_acceptable")
        assert_error(answer(api, found["id"], "defend"), 422, "not_defendable")
        assert chargeback_events(api, found["id"]) == ["chargeback.created", "chargeback.expired"]


def test_the_tool_opens_a_planned_chargeback_at_once(server: Server) -> None:
    with shop(server, "Chargeback Planned") as (merchant, api):
        payment = paid(api)  # the won card: planned for tomorrow
        found = open_now(api, payment["id"], outcome="lost")
        merchant.move_clock(advance_seconds=DAY + 1)  # the plan does not open a second one
        assert [c["id"] for c in listed(api)] == [found["id"]]
        assert answer(api, found["id"], "defend").status_code == 204
        merchant.move_clock(advance_seconds=5 * DAY + 1)
        assert detail(api, found["id"])["status"] == "lost"  # the tool's outcome
        assert len(ledger_lines(api, "chargeback")) == 1


def test_list_filters_and_order(server: Server) -> None:
    with shop(server, "Chargeback List") as (merchant, api):
        payments = [paid(api, "4111111111111111") for _ in range(4)]
        first, second, third, fourth = (open_now(api, p["id"]) for p in payments)
        assert answer(api, second["id"], "accept").status_code == 204
        merchant.move_clock(advance_seconds=3600)
        fifth = open_now(api, paid(api, "4111111111111111")["id"])
        assert answer(api, fifth["id"], "accept").status_code == 204
        ids = [c["id"] for c in listed(api)]
        # pending first (newest first), then the rest (newest first)
        assert ids == [fourth["id"], third["id"], first["id"], fifth["id"], second["id"]]
        assert [c["id"] for c in listed(api, status="accepted")] == [fifth["id"], second["id"]]
        assert [c["id"] for c in listed(api, payment_id=payments[2]["id"])] == [third["id"]]
        assert [c["id"] for c in listed(api, per_page=2, page=2)] == [first["id"], fifth["id"]]
        late = parse_time(fifth["due_date"]) - timedelta(seconds=1)
        assert [c["id"] for c in listed(api, due_date_start=late.isoformat())] == [fifth["id"]]
        early = [c["id"] for c in listed(api, due_date_end=late.isoformat())]
        assert sorted(early) == sorted(c["id"] for c in (first, second, third, fourth))
        since = parse_time(fifth["created_at"]).isoformat()
        assert [c["id"] for c in listed(api, start_time=since)] == [fifth["id"]]
        assert listed(api, end_time=since, status="pending") == listed(api, status="pending")


def test_other_merchants_and_live_mode_see_nothing(server: Server) -> None:
    with shop(server, "Chargeback Owner") as (merchant, api):
        found = open_now(api, paid(api, "4111111111111111")["id"])
        with shop(server, "Chargeback Stranger") as (_, stranger):
            assert listed(stranger) == []
            assert_error(stranger.get(f"/chargeback_requests/{found['id']}"), 404, "not_found")
            assert_error(answer(stranger, found["id"], "accept"), 404, "not_found")
            document = kessai_url(stranger, f"/chargebacks/{found['id']}/document")
            assert_error(stranger.get(document), 404, "not_found")
        assert merchant.live_secret_key is not None
        with merchant.client(merchant.live_secret_key) as live:
            assert listed(live) == []
            assert_error(live.get(f"/chargeback_requests/{found['id']}"), 404, "not_found")
        # Before a defense there is no document to download.
        assert_error(
            api.get(kessai_url(api, f"/chargebacks/{found['id']}/document")), 404, "not_found"
        )


def test_idempotency_key_replays_a_defense(server: Server) -> None:
    with shop(server, "Chargeback Replay") as (merchant, api):
        found = open_now(api, paid(api, "4111111111111111")["id"])
        headers = {"X-KOMOJU-IDEMPOTENCY": "defend-1"}
        path = f"/chargeback_requests/{found['id']}/defend"
        for _ in range(2):
            resp = api.post(path, json=defense(), headers=headers)
            assert resp.status_code == 204, resp.text
        assert chargeback_events(api, found["id"]) == ["chargeback.created", "chargeback.defended"]
        with httpx.Client(timeout=30) as raw:  # form encoding means the same
            form = {
                "description": "Signed for.",
                "document[document_base64]": defense()["document"]["document_base64"],
            }
            other = open_now(api, paid(api, "4111111111111111")["id"])
            resp = raw.post(
                f"{server.base_url}/api/v1/chargeback_requests/{other['id']}/defend",
                data=form,
                auth=(merchant.secret_key, ""),
            )
            assert resp.status_code == 204, resp.text
        assert detail(api, other["id"])["defense"]["documents"][0]["file_name"].endswith(".png")
