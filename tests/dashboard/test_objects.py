"""The dashboard's sessions, customers and subscriptions pages, over HTTP against a real
server: lists (pages, filters, search), each detail page's facts, isolation between
merchants and modes, and bad query parameters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from html import unescape
from typing import Any

import httpx
import pytest

from tests.api.helpers import UNKNOWN_ID, card, create_session, pay, pay_ok
from tests.conftest import CARD, CARD_YEAR, Merchant, Server
from tests.dashboard.helpers import sign_in

ROW_ID = re.compile(r'<tr data-id="([a-z0-9]{25})"')
OLDER = re.compile(r'<a rel="next" href="([^"]+)"')
NEWER = re.compile(r'<a rel="prev" href="([^"]+)"')
COUNT = 27  # more than one page (25)


@dataclass
class Made:
    sessions: list[str] = field(default_factory=list)  # oldest first
    paid_session: str = ""
    paid_payment: str = ""
    cancelled_session: str = ""
    expired_session: str = ""
    customer_session: str = ""
    customers: list[str] = field(default_factory=list)  # oldest first
    card_customer: str = ""
    deleted_customer: str = ""
    subscriptions: list[str] = field(default_factory=list)
    sub_payment: str = ""
    retrying: str = ""
    retrying_customer: str = ""


@pytest.fixture(scope="module")
def shop(server: Server) -> Merchant:
    return server.merchant("Objects Shop")


def posted(api: httpx.Client, path: str, **body: Any) -> dict[str, Any]:
    resp = api.post(path, json=body)
    assert resp.status_code == 200, (path, resp.text)
    return dict(resp.json())


@pytest.fixture(scope="module")
def made(shop: Merchant) -> Made:
    """What the pages show, made through the API."""
    m = Made()
    with shop.client() as api:
        for i in range(COUNT):
            order = {"external_order_num": f"ORD-{i:03d}"}
            m.sessions.append(create_session(api, payment_data=order)["id"])
        paid = create_session(
            api,
            amount=2500,
            return_url="https://shop.example/done",
            line_items=[{"amount": 1250, "quantity": 2, "description": "Green tea"}],
            payment_data={"external_order_num": "PAID-1"},
        )
        m.paid_session = paid["id"]
        m.paid_payment = pay_ok(api, paid["id"])["payment"]["id"]
        m.cancelled_session = create_session(api)["id"]
        posted(api, f"/sessions/{m.cancelled_session}/cancel")
        m.expired_session = create_session(api, expires_in_seconds=60)["id"]
        m.customer_session = create_session(api, mode="customer", amount=None)["id"]
        resp = pay(api, m.customer_session)
        assert resp.status_code == 200 and resp.json()["status"] == "completed", resp.text

        for i in range(COUNT):
            m.customers.append(posted(api, "/customers", email=f"Person{i:03d}@Example.com")["id"])
        m.card_customer = posted(
            api,
            "/customers",
            email="card.holder@example.com",
            currency="JPY",
            locale="en",
            metadata={"plan": "gold"},
            payment_details=CARD,
        )["id"]
        m.deleted_customer = posted(
            api, "/customers", email="gone@x.example", payment_details=CARD
        )["id"]
        monthly = {"currency": "JPY", "period": "monthly"}
        for i in range(COUNT):
            made = posted(
                api, "/subscriptions", customer=m.card_customer, amount=1000 + i, **monthly
            )
            m.subscriptions.append(made["id"])
        m.sub_payment = made["payments"][0]
        # A customer whose card now declines: its subscription's first charge fails.
        m.retrying_customer = posted(api, "/customers", payment_details=CARD)["id"]
        with shop.client(shop.publishable_key) as public:
            token = posted(public, "/tokens", payment_details=card("4123111111111000"))
        resp = api.patch(f"/customers/{m.retrying_customer}", json={"payment_details": token["id"]})
        assert resp.status_code == 200, resp.text
        weekly = {"currency": "JPY", "period": "weekly"}
        failing = posted(api, "/subscriptions", customer=m.retrying_customer, amount=777, **weekly)
        assert failing["status"] == "retrying"
        m.retrying = failing["id"]
        # deleted last: it is the newest customer, on the first page
        assert api.delete(f"/customers/{m.deleted_customer}").status_code == 200
    shop.move_clock(advance_seconds=120)  # the 60-second session is past its expiry
    return m


@pytest.fixture
def dash(shop: Merchant, made: Made) -> Iterator[httpx.Client]:
    with closing(sign_in(shop, headers={"Accept-Language": "en"})) as client:
        yield client


def ok(client: httpx.Client, url: str, **params: Any) -> str:
    resp = client.get(url, params=params or None)  # (params={} would drop url's query)
    assert resp.status_code == 200, (url, resp.status_code, resp.text[:2000])
    return resp.text


def ids_on(html: str) -> list[str]:
    return ROW_ID.findall(html)


def walk(client: httpx.Client, url: str, **params: Any) -> list[list[str]]:
    """Every page of a list, following its "Older" links; the ids on each."""
    pages: list[list[str]] = []
    html = ok(client, url, **params)
    while len(pages) < 10:
        pages.append(ids_on(html))
        older = OLDER.search(html)
        if older is None:
            return pages
        html = ok(client, unescape(older.group(1)))
    raise AssertionError(f"{url} never ends: {pages}")


def facts(html: str) -> str:
    """The text of the page's facts list, tags stripped."""
    found = re.search(r'<dl class="facts".*?</dl>', html, re.S)
    assert found is not None
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", found.group(0))))


# --- sessions ------------------------------------------------------------------------


def test_sessions_list_pages_newest_first(dash: httpx.Client, made: Made) -> None:
    pages = walk(dash, "/dashboard/sessions")
    assert [len(p) for p in pages] == [25, 6]
    seen = [i for p in pages for i in p]
    assert len(set(seen)) == len(seen) == COUNT + 4
    mine = [i for i in seen if i in made.sessions]
    assert mine == list(reversed(made.sessions))  # newest first, none lost across pages
    second = ok(dash, "/dashboard/sessions", before=pages[0][-1])
    newer = NEWER.search(second)
    assert newer is not None
    assert ids_on(ok(dash, unescape(newer.group(1)))) == pages[0]


def test_sessions_filter_by_status(dash: httpx.Client, made: Made) -> None:
    def listed(status: str) -> set[str]:
        return {i for p in walk(dash, "/dashboard/sessions", status=status) for i in p}

    assert listed("completed") == {made.paid_session, made.customer_session}
    assert listed("cancelled") == {made.cancelled_session}
    assert listed("expired") == {made.expired_session}
    pending = listed("pending")
    assert pending == set(made.sessions)
    html = ok(dash, "/dashboard/sessions", status="expired")
    assert "s-expired" in html and 'value="expired" selected' in html


def test_sessions_search_by_id_or_order_number(dash: httpx.Client, made: Made) -> None:
    assert ids_on(ok(dash, "/dashboard/sessions", q=made.sessions[3])) == [made.sessions[3]]
    assert ids_on(ok(dash, "/dashboard/sessions", q=" ORD-007 ")) == [made.sessions[7]]
    assert ids_on(ok(dash, "/dashboard/sessions", q="PAID-1")) == [made.paid_session]
    html = ok(dash, "/dashboard/sessions", q="no-such-order")
    assert ids_on(html) == [] and 'data-testid="empty"' in html


def test_a_paid_session_shows_its_facts(dash: httpx.Client, made: Made, shop: Merchant) -> None:
    html = ok(dash, f"/dashboard/sessions/{made.paid_session}")
    text = facts(html)
    assert "¥2,500" in text and "completed" in text and "Payment" in text
    assert "Credit Card" in text and "PAID-1" in text
    assert "https://shop.example/done" in text
    assert f'href="/dashboard/payments/{made.paid_payment}"' in html
    assert 'data-testid="hosted"' not in html  # completed: no checkout page to go to
    items = re.search(r'<table data-testid="line-items">.*?</table>', html, re.S)
    assert items is not None and "Green tea" in items.group(0) and "¥1,250" in items.group(0)
    assert made.paid_payment in html.split('data-testid="attempts"')[1]


def test_a_pending_session_links_its_checkout_page(
    dash: httpx.Client, made: Made, shop: Merchant
) -> None:
    html = ok(dash, f"/dashboard/sessions/{made.sessions[0]}")
    hosted = f"{shop.server.base_url}/sessions/{made.sessions[0]}"
    assert f'href="{hosted}"' in html
    assert "¥1,000" in facts(html) and "pending" in facts(html) and "ORD-000" in facts(html)
    expired = ok(dash, f"/dashboard/sessions/{made.expired_session}")
    assert "expired" in facts(expired) and 'data-testid="hosted"' not in expired
    cancelled = ok(dash, f"/dashboard/sessions/{made.cancelled_session}")
    assert "cancelled" in facts(cancelled) and 'data-testid="hosted"' not in cancelled


def test_a_customer_session_links_its_customer(dash: httpx.Client, made: Made) -> None:
    html = ok(dash, f"/dashboard/sessions/{made.customer_session}")
    assert "Save a card" in facts(html)
    found = re.search(r'data-testid="customer"><a href="/dashboard/customers/([a-z0-9]+)"', html)
    assert found is not None
    customer = ok(dash, f"/dashboard/customers/{found.group(1)}")
    assert "•••• 1111" in facts(customer)


def test_the_japanese_page_is_translated(shop: Merchant, made: Made) -> None:
    with closing(sign_in(shop)) as client:  # no Accept-Language: Japanese
        html = ok(client, f"/dashboard/sessions/{made.paid_session}")
        refused = client.get("/dashboard/sessions", params={"status": "paid"})
    assert "￥2,500" in html and "完了" in html and "明細" in html
    assert refused.status_code == 422 and "statusにはpending" in refused.text
    with closing(sign_in(shop, headers={"Accept-Language": "ko"})) as client:
        html = ok(client, "/dashboard/subscriptions")
    assert "정기 결제" in html and "매월" in html


# --- customers -----------------------------------------------------------------------


def test_customers_list_pages_and_marks_deleted(dash: httpx.Client, made: Made) -> None:
    pages = walk(dash, "/dashboard/customers")
    seen = [i for p in pages for i in p]
    assert len(pages[0]) == 25 and len(pages) >= 2 and len(set(seen)) == len(seen)
    assert [i for i in seen if i in made.customers] == list(reversed(made.customers))
    assert made.deleted_customer in seen
    first = ok(dash, "/dashboard/customers")
    row = re.search(rf'<tr data-id="{made.deleted_customer}">.*?</tr>', first, re.S)
    assert row is not None and "s-deleted" in row.group(0)


def test_customers_search_by_id_or_email(dash: httpx.Client, made: Made) -> None:
    assert ids_on(ok(dash, "/dashboard/customers", q=made.customers[5])) == [made.customers[5]]
    assert ids_on(ok(dash, "/dashboard/customers", q="person012@EXAMPLE")) == [made.customers[12]]
    assert set(ids_on(ok(dash, "/dashboard/customers", q="person01"))) == set(made.customers[10:20])
    assert ids_on(ok(dash, "/dashboard/customers", q="100%_")) == []  # wildcards are literal


def test_a_customer_shows_its_card_payments_and_subscriptions(
    dash: httpx.Client, made: Made
) -> None:
    html = ok(dash, f"/dashboard/customers/{made.card_customer}")
    text = facts(html)
    assert "card.holder@example.com" in text and "JPY" in text and " en " in text
    assert "visa •••• 1111" in text.lower() and f"12/{CARD_YEAR}" in text
    assert "4111111111111111" not in html and "411111" not in html
    assert '"plan": "gold"' in unescape(html)
    subs = html.split('data-testid="subscriptions"')[1].split("</table>")[0]
    assert len(re.findall(r'href="/dashboard/subscriptions/', subs)) == COUNT
    payments = html.split('data-testid="payments"')[1].split("</table>")[0]
    assert len(re.findall(r'href="/dashboard/payments/', payments)) == 25  # one page
    assert f'href="/dashboard/payments/{made.sub_payment}"' in payments
    older = OLDER.search(html)
    assert older is not None
    rest = ok(dash, unescape(older.group(1)))
    assert len(re.findall(r'href="/dashboard/payments/', rest.split("</table>")[-2])) == 2


def test_a_deleted_customer_is_shown_marked(dash: httpx.Client, made: Made) -> None:
    html = ok(dash, f"/dashboard/customers/{made.deleted_customer}")
    assert 'data-testid="deleted"' in html and "s-deleted" in html
    assert "gone@x.example" in facts(html)
    assert "1111" not in facts(html)  # its card was erased


# --- subscriptions -------------------------------------------------------------------


def test_subscriptions_list_pages_and_filters(dash: httpx.Client, made: Made) -> None:
    pages = walk(dash, "/dashboard/subscriptions")
    seen = [i for p in pages for i in p]
    assert [len(p) for p in pages] == [25, 3]
    assert seen == [made.retrying, *reversed(made.subscriptions)]
    assert ids_on(ok(dash, "/dashboard/subscriptions", status="retrying")) == [made.retrying]
    active = [i for p in walk(dash, "/dashboard/subscriptions", status="active") for i in p]
    assert active == list(reversed(made.subscriptions))
    assert ids_on(ok(dash, "/dashboard/subscriptions", status="deleted")) == []


def test_a_subscription_shows_its_facts_and_charges(dash: httpx.Client, made: Made) -> None:
    html = ok(dash, f"/dashboard/subscriptions/{made.subscriptions[-1]}")
    text = facts(html)
    assert "card.holder@example.com" in text and "¥1,026" in text
    assert "Monthly" in text and "active" in text
    assert re.search(r"Retries 0", text)
    assert f'href="/dashboard/customers/{made.card_customer}"' in html
    charges = html.split('data-testid="charges"')[1].split("</table>")[0]
    assert re.findall(r'href="/dashboard/payments/([a-z0-9]+)"', charges) == [made.sub_payment]
    assert "captured" in charges

    failing = ok(dash, f"/dashboard/subscriptions/{made.retrying}")
    text = facts(failing)
    assert "retrying" in text and "Weekly" in text and "¥777" in text
    assert re.search(r"Retries 1", text) and 'data-testid="retry-at"' in failing
    charges = failing.split('data-testid="charges"')[1].split("</table>")[0]
    assert "failed" in charges and "insufficient_funds" in charges


# --- isolation and bad input ---------------------------------------------------------


def detail_urls(made: Made) -> list[str]:
    return [
        f"/dashboard/sessions/{made.paid_session}",
        f"/dashboard/customers/{made.card_customer}",
        f"/dashboard/customers/{made.deleted_customer}",
        f"/dashboard/subscriptions/{made.retrying}",
    ]


def test_another_merchant_sees_none_of_it(server: Server, made: Made) -> None:
    other = server.merchant("Someone Else")
    mine = {*made.sessions, *made.customers, *made.subscriptions, made.retrying}
    with closing(sign_in(other)) as client:
        for url in ("/dashboard/sessions", "/dashboard/customers", "/dashboard/subscriptions"):
            assert ids_on(ok(client, url)) == []
            assert not mine & set(ids_on(ok(client, url, before=made.sessions[-1])))
        assert ids_on(ok(client, "/dashboard/sessions", q="ORD-001")) == []
        assert ids_on(ok(client, "/dashboard/customers", q="example.com")) == []
        for url in detail_urls(made):
            resp = client.get(url)
            assert resp.status_code == 404, url
            assert "card.holder" not in resp.text and "gone@x" not in resp.text


def test_live_mode_sees_none_of_the_test_objects(shop: Merchant, made: Made) -> None:
    assert shop.live_secret_key is not None
    with closing(sign_in(shop, key=shop.live_secret_key)) as client:
        for url in ("/dashboard/sessions", "/dashboard/customers", "/dashboard/subscriptions"):
            assert ids_on(ok(client, url)) == []
        for url in detail_urls(made):
            assert client.get(url).status_code == 404, url


@pytest.mark.parametrize(
    ("url", "params", "field_name"),
    [
        ("/dashboard/sessions", {"status": "paid"}, "status"),
        ("/dashboard/subscriptions", {"status": "expired"}, "status"),
        ("/dashboard/sessions", {"q": "x" * 300}, "q"),
        ("/dashboard/customers", {"q": "y" * 300}, "q"),
        ("/dashboard/customers", {"q": "a\u0000b"}, "q"),
        ("/dashboard/sessions", {"q": "a\u0007b"}, "q"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(
    dash: httpx.Client, url: str, params: dict[str, str], field_name: str
) -> None:
    resp = dash.get(url, params=params)
    assert resp.status_code == 422
    message = re.search(r'data-testid="problem">([^<]*)<', resp.text)
    assert message is not None and message.group(1).startswith(field_name)
    assert ids_on(resp.text) == []
    assert 'role="search"' in resp.text or "<select" in resp.text  # the form, to try again


@pytest.mark.parametrize(
    "params",
    [
        {"before": "nonsense"},
        {"after": "'; drop table sessions; --"},
        {"before": UNKNOWN_ID},
        {"after": UNKNOWN_ID, "before": UNKNOWN_ID},
        {"q": "%\ud7ff_"},
        {"status": ""},
    ],
)
def test_odd_cursors_and_searches_never_fail(dash: httpx.Client, params: dict[str, str]) -> None:
    for url in ("/dashboard/sessions", "/dashboard/customers", "/dashboard/subscriptions"):
        assert dash.get(url, params=params).status_code == 200, (url, params)


@pytest.mark.parametrize("object_id", [UNKNOWN_ID, "short", "x" * 400, "..%2F..%2Fetc"])
def test_unknown_ids_are_404(dash: httpx.Client, object_id: str) -> None:
    for kind in ("sessions", "customers", "subscriptions"):
        resp = dash.get(f"/dashboard/{kind}/{object_id}")
        assert resp.status_code == 404, (kind, object_id, resp.text[:500])


def test_signed_out_is_sent_to_sign_in(shop: Merchant, made: Made) -> None:
    with httpx.Client(base_url=shop.server.base_url) as client:
        for url in ("/dashboard/sessions", *detail_urls(made)):
            resp = client.get(url)
            assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/login"
