"""The dashboard's webhook endpoints page: add one (its secret shown once, the same URL checks
as the API), send it a ping, remove it; refusals show the page with the field marked."""

from __future__ import annotations

import html
import re

import httpx

from kessai.services.webhooks import sent_headers, without_user_info
from tests.conftest import Server, wait_for
from tests.dashboard.events_helpers import (
    DELIVERED,
    add_endpoint,
    api_events,
    attempts,
    by_testid,
    endpoints,
    receiver,
    rows,
    sections,
    signed_in,
    text,
)
from tests.dashboard.helpers import csrf_of
from tests.webhooks.conftest import signature
from tests.webhooks.receiver import Receiver

__all__ = ["receiver"]  # the fixture
PAGE = "/dashboard/webhooks"


NONCE = re.compile(r'name="nonce" value="([0-9a-f]{32})"')


def form_data(dash: httpx.Client, url: str, *types: str) -> dict[str, str | list[str]]:
    """What the add form on a freshly loaded page submits."""
    form = dash.get(PAGE)
    assert form.status_code == 200, form.text
    nonce = NONCE.search(form.text)
    assert nonce is not None, "the add form carries no nonce"
    data: dict[str, str | list[str]] = {
        "csrf": csrf_of(form.text),
        "nonce": nonce.group(1),
        "url": url,
    }
    if types:
        data["event_types"] = list(types)
    return data


def add(dash: httpx.Client, url: str, *types: str) -> httpx.Response:
    return dash.post(PAGE, data=form_data(dash, url, *types))


def test_submitting_the_same_form_again_adds_no_second_endpoint(
    server: Server, receiver: Receiver
) -> None:
    shop = server.merchant("Webhooks Reload Shop")
    secret = re.compile(r'data-testid="secret">([0-9a-f]{64})<')
    with signed_in(shop) as dash:
        data = form_data(dash, receiver.url)
        first = dash.post(PAGE, data=data)
        again = dash.post(PAGE, data=data)  # the browser's reload of the answer
        assert first.status_code == again.status_code == 200, again.text
        shown = [secret.search(r.text) for r in (first, again)]
        assert shown[0] is not None and shown[1] is not None
        assert shown[0].group(1) == shown[1].group(1)  # the same endpoint, shown again
        assert len(endpoints(shop)) == 1
        # A form loaded afresh adds another; a forged nonce adds nothing.
        assert add(dash, f"{receiver.base}/second").status_code == 200
        forged = dash.post(PAGE, data={**form_data(dash, receiver.url), "nonce": "x"})
        assert forged.status_code == 422 and not by_testid(forged.text, "added")
        assert len(endpoints(shop)) == 2


def test_add_shows_the_secret_once_and_pings_the_endpoint(
    server: Server, receiver: Receiver
) -> None:
    shop = server.merchant("Webhooks Add Shop")
    with signed_in(shop) as dash:
        empty = dash.get(PAGE)
        assert by_testid(empty.text, "empty")
        added = add(dash, receiver.url)
        assert added.status_code == 200, added.text
        assert added.headers["cache-control"] == "no-store"
        secret = re.search(r'data-testid="secret">([0-9a-f]{64})<', added.text)
        assert secret is not None, added.text
        [endpoint] = endpoints(shop)
        assert endpoint["url"] == receiver.url and endpoint["event_types"] is None
        [(row_id, row)] = rows(added.text)
        assert row_id == endpoint["id"]
        assert "All events" in text(row) and receiver.url in text(row)

        # the ping arrives, signed with the secret the page showed
        [ping] = receiver.wait(lambda r: r.snapshot(), 15, "the ping")
        assert ping.json()["type"] == "ping"
        assert ping.headers["x-komoju-signature"] == signature(secret.group(1), ping.body)
        # and it is never shown again
        again = dash.get(PAGE)
        assert secret.group(1) not in again.text
        assert not by_testid(again.text, "added")
        [(_, row)] = rows(again.text)
        assert receiver.url in text(row)

        # with chosen types: only those are listed, and stored
        narrow = add(dash, f"{receiver.base}/narrow", "payment.captured", "payment.refunded")
        assert narrow.status_code == 200, narrow.text
        stored = {e["url"]: e["event_types"] for e in endpoints(shop)}
        assert stored[f"{receiver.base}/narrow"] == ["payment.captured", "payment.refunded"]
        listed = dict(rows(narrow.text))
        narrow_id = next(e["id"] for e in endpoints(shop) if e["event_types"])
        assert "payment.captured payment.refunded" in text(listed[narrow_id])


def test_refused_urls_and_types_show_the_form_again(server: Server, receiver: Receiver) -> None:
    shop = server.merchant("Webhooks Refusal Shop")
    with signed_in(shop) as dash:
        for url, why in [
            ("not a url", "must be an absolute http or https URL"),
            ("", "url is required"),
            ("ftp://files.example/hook", "must be an absolute http or https URL"),
            ("http://10.1.2.3/hook", "private address"),
            ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ]:
            refused = add(dash, url)
            assert refused.status_code == 422, (url, refused.text)
            shown = html.unescape(refused.text)
            assert why in text(by_testid(shown, "field-problem")[0]), (url, shown)
            assert 'aria-invalid="true" aria-describedby="url-problem"' in refused.text
            assert by_testid(refused.text, "problem")
            assert f'value="{html.escape(url)}"' in refused.text  # what was typed is kept
        tampered = add(dash, receiver.url, "payment.captured", "payment.stolen")
        assert tampered.status_code == 422
        assert "event_types must name types" in html.unescape(tampered.text)
        assert 'value="payment.captured" checked' in tampered.text
        assert endpoints(shop) == []

    # a host name is looked up before anything is stored: localhost is loopback, which
    # live-mode endpoints may not use on this server
    assert shop.live_secret_key is not None
    with signed_in(shop, shop.live_secret_key) as live:
        refused = add(live, f"http://localhost:{receiver.port}/hook")
        assert refused.status_code == 422, refused.text
        assert "loopback address" in html.unescape(refused.text)
        assert endpoints(shop, shop.live_secret_key) == []
    assert receiver.snapshot() == []


def test_ping_and_remove(server: Server, receiver: Receiver) -> None:
    shop = server.merchant("Webhooks Ping Shop")
    one = add_endpoint(shop, receiver.url)
    two = add_endpoint(shop, f"{receiver.base}/two")
    receiver.wait(lambda r: len(r.snapshot()) == 2, 15, "the two pings of adding them")
    with signed_in(shop) as dash:
        page = dash.get(PAGE)
        assert {i for i, _ in rows(page.text)} == {one["id"], two["id"]}
        token = csrf_of(page.text)

        pinged = dash.post(f"{PAGE}/{two['id']}/ping", data={"csrf": token})
        assert pinged.status_code == 303
        location = pinged.headers["location"]
        event_id = re.fullmatch(r"/dashboard/events/(\w+)\?notice=pinged", location)
        assert event_id is not None, location
        [req] = receiver.wait(lambda r: r.of_event(event_id.group(1)), 15, "the ping")
        assert req.path == "/two"  # to that endpoint alone
        assert req.json()["data"] == {"webhook_endpoint": two["id"], "url": two["url"]}

        # the ping's event page shows its delivery once the worker has recorded it
        def delivered() -> str | None:
            shown = dash.get(location).text
            [section] = sections(shown)
            status = text(by_testid(section, "delivery-status")[0])
            return section if status in DELIVERED else None

        section = wait_for(delivered, what="the ping's delivery")
        assert [a["code"] for a in attempts(section)] == ["200"]

        removed = dash.post(f"{PAGE}/{one['id']}/remove", data={"csrf": token})
        assert (
            removed.status_code == 303 and removed.headers["location"] == f"{PAGE}?notice=removed"
        )
        after = dash.get(removed.headers["location"])
        assert by_testid(after.text, "notice")
        assert [i for i, _ in rows(after.text)] == [two["id"]]
        assert [e["id"] for e in endpoints(shop)] == [two["id"]]

        # an endpoint that is not there (any more): the page, with a 404
        for action in ("remove", "ping"):
            gone = dash.post(f"{PAGE}/{one['id']}/{action}", data={"csrf": token})
            assert gone.status_code == 404, gone.text
            assert "No such webhook endpoint" in html.unescape(gone.text)
            assert [i for i, _ in rows(gone.text)] == [two["id"]]
        assert dash.post(f"{PAGE}/%00/ping", data={"csrf": token}).status_code == 404


def test_another_merchant_cannot_touch_the_endpoints(server: Server, receiver: Receiver) -> None:
    shop = server.merchant("Webhooks Owner Shop")
    mine = add_endpoint(shop, receiver.url)
    other = server.merchant("Webhooks Other Shop")
    with signed_in(other) as dash:
        page = dash.get(PAGE)
        assert rows(page.text) == [] and receiver.url not in page.text
        token = csrf_of(page.text)
        for action in ("remove", "ping"):
            assert (
                dash.post(f"{PAGE}/{mine['id']}/{action}", data={"csrf": token}).status_code == 404
            )
    assert [e["id"] for e in endpoints(shop)] == [mine["id"]]
    assert [e["type"] for e in api_events(shop)] == ["ping"]  # no second ping


def test_forms_without_the_csrf_token_change_nothing(server: Server, receiver: Receiver) -> None:
    shop = server.merchant("Webhooks CSRF Shop")
    mine = add_endpoint(shop, receiver.url)
    with signed_in(shop) as dash:
        for action, data in [
            (PAGE, {"url": f"{receiver.base}/forged"}),
            (f"{PAGE}/{mine['id']}/remove", {}),
            (f"{PAGE}/{mine['id']}/ping", {}),
            (f"{PAGE}/{mine['id']}/ping", {"csrf": "0" * 64}),
        ]:
            forged = dash.post(action, data=data)
            assert forged.status_code == 403, (action, forged.text)
    assert [e["id"] for e in endpoints(shop)] == [mine["id"]]
    assert [e["type"] for e in api_events(shop)] == ["ping"]


def test_urls_with_user_info_are_shown_without_the_password() -> None:
    """Endpoints added before user info was refused may carry a password: never shown."""
    plain = "https://shop.example:8443/hook?shop=1"
    assert without_user_info(plain) == plain
    assert without_user_info("https://u:p@ss@shop.example:8443/hook?shop=1") == plain
    headers = dict(sent_headers("https://u:hunter2@shop.example/h", "ev1", "ping", "{}", "k"))
    assert "hunter2" not in repr(headers)
    assert headers["Authorization"] == "Basic ********"
    assert headers["X-Komoju-Signature"] == signature("k", b"{}")
    assert "Authorization" not in dict(sent_headers(plain, "ev1", "ping", "{}", "k"))
