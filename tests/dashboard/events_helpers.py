"""What the events and webhooks dashboard tests share: a local receiver, endpoints added
through the API, and reading the pages' rows back out of their HTML."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Merchant
from tests.dashboard.helpers import sign_in
from tests.webhooks.receiver import Receiver

# A delivery's status as each locale shows it.
DELIVERED = ("delivered", "配信済み", "전송 완료")
PENDING = ("pending", "配信待ち", "전송 대기")
FAILED = ("failed", "失敗", "실패")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (test-mode endpoints may use loopback under the
    server's default policy, KESSAI_WEBHOOK_ALLOW_PRIVATE=test)."""
    recv = Receiver()
    recv.up()
    try:
        yield recv
    finally:
        recv.down()


def signed_in(merchant: Merchant, key: str | None = None) -> contextlib.closing[httpx.Client]:
    """A dashboard client signed in with `key` (the test secret key), reading the pages in
    English, closed after use."""
    return contextlib.closing(sign_in(merchant, key, headers={"Accept-Language": "en"}))


def admin(merchant: Merchant, key: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=f"{merchant.server.base_url}/kessai/v1",
        auth=(key or merchant.secret_key, ""),
        timeout=30,
    )


def add_endpoint(merchant: Merchant, url: str, **params: Any) -> dict[str, Any]:
    with admin(merchant) as client:
        resp = client.post("/webhook_endpoints", json={"url": url, **params})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def endpoints(merchant: Merchant, key: str | None = None) -> list[dict[str, Any]]:
    with admin(merchant, key) as client:
        resp = client.get("/webhook_endpoints")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


def deliveries(merchant: Merchant, event_id: str) -> list[dict[str, Any]]:
    with admin(merchant) as client:
        resp = client.get(f"/events/{event_id}/deliveries")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["deliveries"])


def api_events(merchant: Merchant, key: str | None = None) -> list[dict[str, Any]]:
    """Every event of the merchant in this key's mode, through GET /api/v1/events."""
    found: list[dict[str, Any]] = []
    with merchant.client(key) as client:
        page = 1
        while True:
            resp = client.get("/events", params={"page": page, "per_page": 100})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            found += body["data"]
            if page >= body["last_page"]:
                return found
            page += 1


def make_customers(merchant: Merchant, count: int) -> list[str]:
    """`count` customers through the API: one `customer.created` event each."""
    ids = []
    with merchant.client() as client:
        for i in range(count):
            resp = client.post("/customers", json={"email": f"c{i}@example.com"})
            assert resp.status_code == 200, resp.text
            ids.append(resp.json()["id"])
    return ids


# --------------------------------------------------------------------------- reading pages

ROW = re.compile(r'<tr data-id="([^"]+)">(.*?)</tr>', re.S)
TAG = re.compile(r"<[^>]+>")


def text(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(TAG.sub(" ", fragment)).split())


def rows(page: str) -> list[tuple[str, str]]:
    """(data-id, row HTML) of every table row that names an object."""
    return ROW.findall(page)


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def by_testid(page: str, name: str) -> list[str]:
    """The inner HTML of every element with data-testid=`name` (not nested in itself)."""
    pattern = rf'<(\w+)[^>]*data-testid="{name}"[^>]*>(.*?)</\1>'
    return [m.group(2) for m in re.finditer(pattern, page, re.S)]


def sections(page: str) -> list[str]:
    """The delivery sections of an event page."""
    return re.findall(r'<section class="delivery".*?</section>', page, re.S)


def attempts(section: str) -> list[dict[str, str]]:
    """The attempts table of one delivery section: one dict of cell texts per attempt."""
    found = []
    for number, row in re.findall(r'<tr data-attempt="(\d+)">(.*?)</tr>', section, re.S):
        cells = [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        found.append(
            {
                "attempt": number,
                "time": cells[1],
                "code": cells[2],
                "latency": cells[3],
                "error": cells[4],
                "response": cells[5],
            }
        )
    return found
