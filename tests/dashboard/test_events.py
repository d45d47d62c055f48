"""The dashboard's event log and event pages: newest first in keyset pages, filtered by type,
each event's deliveries and attempts from a real local receiver, and Redeliver."""

from __future__ import annotations

import html
import json
import re

from tests.conftest import CARD, Merchant, Server, wait_for
from tests.dashboard.events_helpers import (
    add_endpoint,
    api_events,
    attempts,
    by_testid,
    deliveries,
    link,
    make_customers,
    receiver,
    rows,
    sections,
    signed_in,
    text,
)
from tests.dashboard.helpers import csrf_of
from tests.webhooks.receiver import Receiver

__all__ = ["receiver"]  # the fixture


def pay(merchant: Merchant) -> str:
    with merchant.client() as client:
        resp = client.post(
            "/payments", json={"amount": 1200, "currency": "JPY", "payment_details": CARD}
        )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id"])


def test_events_newest_first_in_pages_of_25_and_by_type(server: Server) -> None:
    shop = server.merchant("Events Paging Shop")
    make_customers(shop, 27)
    payment_id = pay(shop)
    every = api_events(shop)
    assert len(every) > 25
    newest = every[0]  # the API lists newest first too
    assert newest["data"]["id"] == payment_id

    with signed_in(shop) as dash:
        first = dash.get("/dashboard/events")
        assert first.status_code == 200, first.text
        shown = rows(first.text)
        assert len(shown) == 25
        assert shown[0][0] == newest["id"]
        assert link(first.text, "prev") is None
        older = link(first.text, "next")
        assert older is not None and "before=" in older
        second = dash.get(older)
        assert second.status_code == 200
        rest = rows(second.text)
        assert link(second.text, "next") is None
        ids = [i for i, _ in shown] + [i for i, _ in rest]
        assert len(ids) == len(set(ids)) == len(every)
        assert set(ids) == {e["id"] for e in every}
        # newest first: the times shown never increase down the list
        created = {e["id"]: e["created_at"] for e in every}
        assert [created[i] for i in ids] == sorted((created[i] for i in ids), reverse=True)
        # and back: the newer page is the first one again
        newer = link(second.text, "prev")
        assert newer is not None
        assert [i for i, _ in rows(dash.get(newer).text)] == [i for i, _ in shown]

        # each row: a link to the event, the payment as a link, no deliveries (no endpoint)
        payment_row = dict(shown)[newest["id"]]
        assert f'href="/dashboard/events/{newest["id"]}"' in payment_row
        assert f'href="/dashboard/payments/{payment_id}"' in payment_row
        assert text(by_testid(payment_row, "summary")[0]) in ("None", "なし")

        captured = dash.get("/dashboard/events", params={"type": "payment.captured"})
        assert captured.status_code == 200
        found = rows(captured.text)
        expected = [e["id"] for e in every if e["type"] == "payment.captured"]
        assert [i for i, _ in found] == expected and expected
        assert all("<code>payment.captured</code>" in r for _, r in found)
        assert 'value="payment.captured" selected' in captured.text

        nothing = dash.get("/dashboard/events", params={"type": "subscription.deleted"})
        assert nothing.status_code == 200 and rows(nothing.text) == []
        assert by_testid(nothing.text, "empty")

        bogus = dash.get("/dashboard/events", params={"type": "payment.bogus"})
        assert bogus.status_code == 422, bogus.text
        assert "type must be one of" in html.unescape(bogus.text)
        # a malformed pager position shows the newest page rather than failing
        odd = dash.get("/dashboard/events", params={"before": "x'; --\x01"})
        assert odd.status_code == 200 and rows(odd.text)[0][0] == newest["id"]


def test_delivery_summary_for_each_event(server: Server, receiver: Receiver) -> None:
    shop = server.merchant("Events Summary Shop")
    good = add_endpoint(shop, receiver.url)
    bad_url = f"{receiver.base}/broken"
    receiver.fail_paths.add("/broken")
    add_endpoint(shop, bad_url)
    make_customers(shop, 1)
    [event] = [e for e in api_events(shop) if e["type"] == "customer.created"]
    # the good endpoint takes it; the broken one answers 500 (retried 60 s later)
    receiver.wait(lambda r: r.of_event(event["id"]) and len(r.of_event(event["id"])) >= 2, 15)

    def summary() -> dict[str, int]:
        with signed_in(shop) as dash:
            page = dash.get("/dashboard/events").text
        row = dict(rows(page))[event["id"]]
        return {
            s: int(n)
            for s, n in re.findall(r'data-status="(\w+)">[^<]*<span data-count>(\d+)</span>', row)
        }

    assert wait_for(lambda: summary() == {"delivered": 1, "pending": 1}, what="the summary")
    # removing the broken endpoint ends its delivery: failed
    with signed_in(shop) as dash:
        endpoint = next(e for e in deliveries(shop, event["id"]) if e["url"] == bad_url)
        page = dash.get("/dashboard/webhooks")
        done = dash.post(
            f"/dashboard/webhooks/{endpoint['endpoint']}/remove",
            data={"csrf": csrf_of(page.text)},
        )
        assert done.status_code == 303
    assert summary() == {"delivered": 1, "failed": 1}
    assert good["id"]


def test_event_page_shows_the_request_and_every_attempt(server: Server, receiver: Receiver) -> None:
    shop = server.merchant("Events Attempts Shop")
    endpoint = add_endpoint(shop, receiver.url)
    receiver.fail_paths.add("/hook")  # answers 500 until told otherwise
    make_customers(shop, 1)
    [event] = [e for e in api_events(shop) if e["type"] == "customer.created"]
    [first] = receiver.wait(lambda r: r.of_event(event["id"]), 15, "the first attempt")

    with signed_in(shop) as dash:

        def page() -> str:
            resp = dash.get(f"/dashboard/events/{event['id']}")
            assert resp.status_code == 200, resp.text
            return resp.text

        def recorded() -> str | None:
            shown = page()
            return shown if attempts(sections(shown)[0]) else None

        shown = wait_for(recorded, what="the first attempt recorded")
        [section] = sections(shown)
        assert html.unescape(receiver.url) in text(section)
        [failed] = attempts(section)
        assert failed["attempt"] == "1"
        assert failed["code"] == "500"
        assert failed["response"] == '{"error":"receiver says no"}'
        assert re.fullmatch(r"\d+ ?(ms|ミリ秒|밀리초)", failed["latency"])
        assert text(by_testid(section, "delivery-status")[0]) in (
            "pending",
            "配信待ち",
            "전송 대기",
        )

        # the body as sent, byte for byte, and pretty-printed
        [body] = by_testid(shown, "event-body")
        assert json.loads(html.unescape(body)) == json.loads(first.body)
        assert '\n  "id": ' in html.unescape(body)
        # the request: the very headers the receiver got, and never the endpoint's secret
        [request] = by_testid(section, "request")
        lines = html.unescape(request).split("\n")
        assert lines[0] == f"POST {receiver.url}"
        headers = dict(line.split(": ", 1) for line in lines[1 : lines.index("")])
        for name, value in headers.items():
            assert first.headers[name.lower()] == value, name
        assert set(headers) == {
            "Content-Type",
            "User-Agent",
            "X-Komoju-ID",
            "X-Komoju-Event",
            "X-Komoju-Signature",
        }
        assert lines[lines.index("") + 1].encode() == first.body
        assert endpoint["secret"] not in shown

        # Redeliver: the receiver now answers 200; the new attempt shows on reload
        before = deliveries(shop, event["id"])[0]["next_attempt_at"]
        forged = dash.post(f"/dashboard/events/{event['id']}/redeliver", data={})
        assert forged.status_code == 403
        assert deliveries(shop, event["id"])[0]["next_attempt_at"] == before
        assert len(receiver.of_event(event["id"])) == 1

        receiver.fail_paths.clear()
        done = dash.post(
            f"/dashboard/events/{event['id']}/redeliver", data={"csrf": csrf_of(shown)}
        )
        assert done.status_code == 303
        assert done.headers["location"] == f"/dashboard/events/{event['id']}?notice=redelivered"
        noticed = dash.get(done.headers["location"])
        assert by_testid(noticed.text, "notice")

        def second_attempt() -> list[dict[str, str]] | None:
            found = attempts(sections(page())[0])
            return found if len(found) == 2 else None

        old, new = wait_for(second_attempt, what="the redelivered attempt")
        assert old["code"] == "500" and new["code"] == "200" and new["response"] == "ok"
        final = page()
        assert text(by_testid(final, "delivery-status")[0]) in (
            "delivered",
            "配信済み",
            "전송 완료",
        )
        assert [r.body for r in receiver.of_event(event["id"])] == [first.body] * 2


def test_event_without_endpoints_and_redeliver_with_none(server: Server) -> None:
    shop = server.merchant("Events Lonely Shop")
    make_customers(shop, 1)
    [event] = api_events(shop)
    with signed_in(shop) as dash:
        shown = dash.get(f"/dashboard/events/{event['id']}")
        assert shown.status_code == 200
        assert by_testid(shown.text, "no-deliveries")
        done = dash.post(
            f"/dashboard/events/{event['id']}/redeliver", data={"csrf": csrf_of(shown.text)}
        )
        assert done.status_code == 303
        assert done.headers["location"].endswith("?notice=nothing_queued")
        assert dash.get("/dashboard/events/nope-nope").status_code == 404
        assert dash.get("/dashboard/events/%00").status_code == 404


def test_another_merchant_and_the_live_mode_see_none_of_it(
    server: Server, receiver: Receiver
) -> None:
    shop = server.merchant("Events Owner Shop")
    add_endpoint(shop, receiver.url)
    make_customers(shop, 2)
    mine = {e["id"] for e in api_events(shop)}
    event_id = sorted(mine)[0]
    other = server.merchant("Events Other Shop")
    make_customers(other, 1)
    theirs = {e["id"] for e in api_events(other)}

    with signed_in(other) as dash:
        listed = {i for i, _ in rows(dash.get("/dashboard/events").text)}
        assert listed == theirs
        assert dash.get(f"/dashboard/events/{event_id}").status_code == 404
        page = dash.get("/dashboard/events")
        refused = dash.post(
            f"/dashboard/events/{event_id}/redeliver", data={"csrf": csrf_of(page.text)}
        )
        assert refused.status_code == 404
    assert shop.live_secret_key is not None
    with signed_in(shop, shop.live_secret_key) as live:
        assert rows(live.get("/dashboard/events").text) == []
        assert live.get(f"/dashboard/events/{event_id}").status_code == 404
    with signed_in(shop) as dash:
        assert {i for i, _ in rows(dash.get("/dashboard/events").text)} == mine
