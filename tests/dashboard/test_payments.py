"""The dashboard's payment list and payment page over HTTP against a real server: newest
first, each filter, search by id and external order number, keyset pages both ways, the
timeline, bad filters, and isolation between merchants and modes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, timedelta
from html import unescape

import httpx
import pytest

from tests.api.helpers import UNKNOWN_ID, authorized_payment, cash_details, create_payment
from tests.conftest import Merchant, Server
from tests.dashboard.helpers import sign_in
from tests.dashboard.payment_helpers import (
    NEWER,
    OLDER,
    calls,
    entries,
    ids_on,
    japan_day,
    link,
    listed,
    problem_of,
)

BULK = 27  # more than one page (25)


@dataclass
class Made:
    bulk: list[str] = field(default_factory=list)  # oldest first
    authorized: str = ""
    konbini: str = ""
    refunded: str = ""
    usd: str = ""
    twin: str = ""  # its external_order_num is bulk[0]'s id
    later: str = ""  # made a day later on the merchant's clock
    later_day: str = ""
    everything: list[str] = field(default_factory=list)  # newest first


@pytest.fixture(scope="module")
def shop(server: Server) -> Merchant:
    return server.merchant("Payments List Shop")


@pytest.fixture(scope="module")
def made(shop: Merchant) -> Made:
    m = Made()
    with shop.client() as api:
        for i in range(BULK):
            p = create_payment(api, amount=1000 + i, external_order_num=f"LIST-{i:03d}")
            m.bulk.append(p["id"])
        m.authorized = create_payment(api, capture=False, external_order_num="AUTH-1")["id"]
        m.konbini = create_payment(
            api, payment_details=cash_details("konbini"), external_order_num="KONBINI-1"
        )["id"]
        m.refunded = create_payment(api, amount=800, external_order_num="REF-1")["id"]
        resp = api.post(f"/payments/{m.refunded}/refund", json={"description": "returned"})
        assert resp.json()["status"] == "refunded", resp.text
        m.usd = create_payment(api, amount=1050, currency="USD", external_order_num="USD-1")["id"]
        m.twin = create_payment(api, external_order_num=m.bulk[0])["id"]
        shop.move_clock(advance_seconds=86400)
        later = create_payment(api, amount=4321, external_order_num="LATER-1")
        m.later, m.later_day = later["id"], japan_day(later["created_at"])
    made_ids = [*m.bulk, m.authorized, m.konbini, m.refunded, m.usd, m.twin, m.later]
    m.everything = list(reversed(made_ids))
    return m


@pytest.fixture
def dash(shop: Merchant, made: Made) -> Iterator[httpx.Client]:
    with closing(sign_in(shop, headers={"Accept-Language": "en"})) as client:
        yield client


def test_list_is_newest_first_with_its_columns(dash: httpx.Client, made: Made) -> None:
    page = dash.get("/dashboard/payments")
    assert page.status_code == 200, page.text
    assert ids_on(page.text) == made.everything[:25]
    html = unescape(page.text)
    assert f'<a href="/dashboard/payments/{made.later}">{made.later}</a>' in html
    assert "LATER-1" in html and "¥4,321" in html
    assert "VISA •••• 1111" in html  # brand and last four digits, never more
    assert "4111111111111111" not in html and "411111" not in html
    assert "$10.50" in html  # the currency's own format
    assert "Konbini" in html and 'class="status s-authorized"' in html
    refunded_row = html[html.index(made.refunded) :].split("</tr>")[0]
    assert refunded_row.count("¥800") == 2, refunded_row  # the amount and what was refunded


def test_list_in_japanese_by_default(shop: Merchant, made: Made) -> None:
    with closing(sign_in(shop)) as client:
        html = unescape(client.get("/dashboard/payments").text)
    assert '<html lang="ja">' in html
    assert "￥4,321" in html and "コンビニ" in html and "与信済み" in html


def test_pages_go_older_and_back_newer(dash: httpx.Client, made: Made) -> None:
    first = dash.get("/dashboard/payments")
    older = link(OLDER, first.text)
    assert older is not None and link(NEWER, first.text) is None
    second = dash.get(older)
    assert second.status_code == 200
    assert ids_on(second.text) == made.everything[25:]
    assert link(OLDER, second.text) is None  # the last page
    newer = link(NEWER, second.text)
    assert newer is not None
    assert ids_on(dash.get(newer).text) == made.everything[:25]


def test_pages_keep_the_filters(dash: httpx.Client, made: Made) -> None:
    first = dash.get("/dashboard/payments", params={"status": "captured"})
    captured = [made.later, made.twin, made.usd, *reversed(made.bulk)]
    assert ids_on(first.text) == captured[:25]
    older = link(OLDER, first.text)
    assert older is not None and "status=captured" in older
    assert ids_on(dash.get(older).text) == captured[25:]


def test_status_filter(dash: httpx.Client, made: Made) -> None:
    assert listed(dash, status="authorized") == [made.konbini, made.authorized]
    assert listed(dash, status="refunded") == [made.refunded]
    assert listed(dash, status="failed") == []


def test_type_filter(dash: httpx.Client, made: Made) -> None:
    assert listed(dash, type="konbini") == [made.konbini]
    assert listed(dash, type="paypay") == []
    assert listed(dash, type="konbini", status="captured") == []


def test_date_filters_use_the_japan_date(dash: httpx.Client, made: Made) -> None:
    assert listed(dash, **{"from": made.later_day}) == [made.later]
    assert listed(dash, **{"from": made.later_day, "to": made.later_day}) == [made.later]
    day_before = (date.fromisoformat(made.later_day) - timedelta(days=1)).isoformat()
    assert listed(dash, to=day_before) == made.everything[1:26]
    assert listed(dash, to=day_before, status="refunded") == [made.refunded]
    next_day = (date.fromisoformat(made.later_day) + timedelta(days=1)).isoformat()
    assert listed(dash, **{"from": next_day}) == []


def test_search_by_external_order_num_is_exact(dash: httpx.Client, made: Made) -> None:
    assert listed(dash, q="LIST-005") == [made.bulk[5]]
    assert listed(dash, q="  LIST-005 ") == [made.bulk[5]]
    assert listed(dash, q="LIST-00") == []
    assert listed(dash, q="list-005") == []


def test_search_by_id_also_finds_that_external_order_num(dash: httpx.Client, made: Made) -> None:
    assert listed(dash, q=made.konbini) == [made.konbini]
    assert listed(dash, q=made.bulk[0]) == [made.twin, made.bulk[0]]
    assert listed(dash, q=made.bulk[0], status="captured", type="credit_card") == [
        made.twin,
        made.bulk[0],
    ]
    assert listed(dash, q=UNKNOWN_ID) == []
    empty = dash.get("/dashboard/payments", params={"q": UNKNOWN_ID})
    assert "No payments match these filters." in empty.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "paid"}, "Status"),
        ({"status": "<b>x</b>"}, "Status"),
        ({"type": "cheque"}, "Payment type"),
        ({"from": "2024-13-01"}, "Created from"),
        ({"to": "yesterday"}, "Created to"),
        ({"to": "9999-12-31"}, "Created to"),
        ({"from": "0001-01-01"}, "Created from"),
        ({"from": "1999-12-31"}, "Created from"),
        ({"from": "2024-01-01", "to": "3000-01-01"}, "Created to"),
        ({"from": "٢٠٢٤-01-01"}, "Created from"),
        ({"from": "2024-05-02", "to": "2024-05-01"}, "Created to"),
        ({"q": "x" * 256}, "Search"),
        ({"q": "LIST\x00005"}, "Search"),
    ],
)
def test_bad_filters_are_422_naming_the_field(
    dash: httpx.Client, params: dict[str, str], field: str
) -> None:
    resp = dash.get("/dashboard/payments", params=params)
    assert resp.status_code == 422, resp.text[:2000]
    assert problem_of(resp.text).startswith(field), problem_of(resp.text)
    assert ids_on(resp.text) == []
    assert "<b>x</b>" not in resp.text
    assert 'id="f-status"' in resp.text  # the form is there to fix it


def test_mangled_page_positions_give_the_first_page(dash: httpx.Client, made: Made) -> None:
    assert listed(dash, before="nonsense") == made.everything[:25]
    assert listed(dash, after=UNKNOWN_ID) == made.everything[:25]  # an id of nothing: as none


def test_payment_page_shows_facts_and_timeline(dash: httpx.Client, made: Made) -> None:
    page = dash.get(f"/dashboard/payments/{made.refunded}")
    assert page.status_code == 200, page.text
    html = unescape(page.text)
    assert html.count("<h1>") == 1 and made.refunded in html
    assert 'data-testid="refunded">¥800<' in html
    assert "REF-1" in html and "VISA •••• 1111" in html and "Taro Yamada" in html
    assert "4111111111111111" not in html and '"verification_value"' not in html
    timeline = entries(page.text)
    kinds = [kind for kind, _ in timeline]
    assert "operation" not in kinds and calls(page.text) == ["authorize", "refund"], timeline
    events = [text for kind, text in timeline if kind == "event"]
    assert any("payment.captured" in t for t in events), timeline
    assert any("payment.refunded" in t for t in events), timeline
    assert 'href="/dashboard/events/' in page.text
    refund = next(text for kind, text in timeline if kind == "refund")
    assert "¥800" in refund and "returned" in refund
    ledger = [text for kind, text in timeline if kind == "ledger"]
    assert any("Ledger: payment" in t and "¥800" in t for t in ledger), ledger
    assert any("Ledger: refund" in t and "-¥800" in t for t in ledger), ledger
    assert 'data-testid="actions"' not in page.text  # nothing is left to do


def test_payment_page_of_a_cash_payment(dash: httpx.Client, made: Made) -> None:
    html = unescape(dash.get(f"/dashboard/payments/{made.konbini}").text)
    assert "Konbini" in html and "Lawson" in html and "Payment deadline" in html
    assert 'data-testid="simulate-form"' in html and 'data-testid="cancel-form"' in html
    assert 'data-testid="refund-form"' not in html and 'data-testid="capture-form"' not in html


def test_unknown_and_malformed_payment_ids_are_404(dash: httpx.Client) -> None:
    for path in (f"/dashboard/payments/{UNKNOWN_ID}", "/dashboard/payments/..%2Fx"):
        resp = dash.get(path)
        assert resp.status_code == 404, (path, resp.status_code)


def test_another_merchant_sees_none_of_it(server: Server, made: Made) -> None:
    other = server.merchant("Payments Other Shop")
    with other.client() as api:
        own = create_payment(api, external_order_num="LIST-005")["id"]
    with closing(sign_in(other)) as client:
        assert listed(client) == [own]
        assert listed(client, q="LIST-005") == [own]
        assert listed(client, q=made.bulk[0]) == []
        assert listed(client, status="authorized") == []
        for payment_id in (made.refunded, made.konbini):
            resp = client.get(f"/dashboard/payments/{payment_id}")
            assert resp.status_code == 404, resp.text[:500]
            assert "REF-1" not in resp.text and "KONBINI-1" not in resp.text


def test_live_mode_sees_none_of_test_mode(shop: Merchant, made: Made) -> None:
    assert shop.live_secret_key is not None
    with closing(sign_in(shop, shop.live_secret_key)) as client:
        assert listed(client) == []
        assert client.get(f"/dashboard/payments/{made.later}").status_code == 404


def test_signed_out_goes_to_sign_in(server: Server, made: Made) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        for path in ("/dashboard/payments", f"/dashboard/payments/{made.later}"):
            resp = client.get(path)
            assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/login"


def test_the_timeline_keeps_the_test_clocks_order(server: Server) -> None:
    """Processor calls happen at the real time: after the test clock moves, they would sort
    before what happened later on the merchant's clock, so they are listed apart."""
    merchant = server.merchant("Payments Timeline Clock Shop")
    with merchant.client() as api:
        payment = authorized_payment(api, amount=1000)
        merchant.move_clock(advance_seconds=2 * 86400)
        resp = api.post(f"/payments/{payment['id']}/capture", json={})
        assert resp.status_code == 200, resp.text
    with closing(sign_in(merchant, headers={"Accept-Language": "en"})) as client:
        html = client.get(f"/dashboard/payments/{payment['id']}").text
    timeline = entries(html)
    shown = [(kind, text.split(" ")[-1] if kind == "event" else kind) for kind, text in timeline]
    assert [k for k, _ in timeline] == ["event", "event", "ledger", "ledger"], timeline
    assert "payment.authorized" in timeline[0][1] and "payment.captured" in timeline[1][1], shown
    assert calls(html) == ["authorize", "capture"]
    assert "Real time" in html and "Processor calls" in html
