"""Konbini barcodes (contract 7): `payment_details.barcode_url`, `GET /api/v1/barcodes/{id}`
without a key (as KOMOJU's SDK sends it), from any origin, and on the instructions page."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image

from tests.api.helpers import (
    UNKNOWN_ID,
    cash_details,
    create_payment,
    create_session,
    get_payment,
    parse_time,
    pay_ok,
    simulate_cash_payment,
)
from tests.conftest import Merchant, Server, assert_error, assert_schema
from tests.openapi_contract import contract_hook

DATA_URL = "data:image/png;base64,"


@pytest.fixture(scope="module")
def shop(server: Server) -> Merchant:
    """A merchant of this module's own: its test clock is moved here."""
    return server.merchant("Barcode Shop")


@pytest.fixture
def shop_api(shop: Merchant) -> Iterator[httpx.Client]:
    with shop.client() as client:
        yield client


@pytest.fixture
def browser(server: Server) -> Iterator[httpx.Client]:
    """No key at all, as KOMOJU's SDK and `fetch(barcode_url)` ask."""
    with httpx.Client(
        timeout=30, event_hooks={"response": [contract_hook(server.base_url)]}
    ) as client:
        yield client


def konbini(client: httpx.Client, store: str = "family-mart") -> dict[str, Any]:
    payment = create_payment(client, payment_details=cash_details("konbini", store=store))
    assert payment["status"] == "authorized", payment
    return payment


def ready(resp: httpx.Response) -> tuple[str, str, bytes]:
    """(expires_at, image, the PNG) of a `ready` answer, checked against KOMOJU's schemas."""
    assert resp.status_code == 200, (resp.status_code, resp.text)
    body = resp.json()
    assert_schema(body, "ShowBarcodeResponse")
    assert_schema(body, "BarcodeReadyResponse")
    assert body["status"] == "ready", body
    assert body["image"].startswith(DATA_URL), body["image"][:40]
    return body["expires_at"], body["image"], base64.b64decode(body["image"][len(DATA_URL) :])


def scanned(png: bytes) -> list[tuple[str, str]]:
    image = Image.open(io.BytesIO(png))
    assert image.size == (750, 150)
    return [(r.text, r.format.name) for r in zxingcpp.read_barcodes(image)]


def advance(shop: Merchant, seconds: float) -> None:
    """Move the shop's test clock (`POST /kessai/v1/clock`)."""
    shop.move_clock(advance_seconds=seconds)


def test_konbini_payment_has_a_barcode_of_its_receipt(
    server: Server, shop_api: httpx.Client, browser: httpx.Client
) -> None:
    payment = konbini(shop_api)
    url = payment["payment_details"]["barcode_url"]
    assert url == f"{server.base_url}/api/v1/barcodes/{payment['id']}"
    expires_at, _, png = ready(browser.get(url))
    assert scanned(png) == [(payment["payment_details"]["receipt"], "Code128")]
    created = parse_time(payment["created_at"])
    assert (parse_time(expires_at) - created).total_seconds() == 600


def test_same_image_while_valid_and_a_new_window_after(
    shop: Merchant, shop_api: httpx.Client, browser: httpx.Client
) -> None:
    payment = konbini(shop_api, "seven-eleven")
    url = payment["payment_details"]["barcode_url"]
    first = ready(browser.get(url))
    advance(shop, 60)
    assert ready(browser.get(url)) == first
    advance(shop, 600)  # past the first 10 minutes on the merchant's clock
    expires_at, image, _ = ready(browser.get(url))
    assert image == first[1]  # kessai's barcode encodes the receipt alone
    assert (parse_time(expires_at) - parse_time(first[0])).total_seconds() == 600


def test_a_key_is_not_needed_but_a_sent_one_must_own_the_payment(
    shop: Merchant, merchant: Merchant, shop_api: httpx.Client
) -> None:
    payment = konbini(shop_api)
    path = f"/barcodes/{payment['id']}"
    for key in (shop.secret_key, shop.publishable_key):
        with shop.client(key) as client:
            ready(client.get(path))
    with merchant.client(merchant.publishable_key) as other:
        assert_error(other.get(path), 404, "not_found")
    with shop.client("pk_test_" + "x" * 32) as unknown:
        assert_error(unknown.get(path), 401, "unauthorized")


def test_no_barcode_for_other_payments(api: httpx.Client, browser: httpx.Client, server: Server):
    base = f"{server.base_url}/api/v1/barcodes/"
    card = create_payment(api)
    bank = create_payment(api, payment_details=cash_details("bank_transfer"))
    assert "barcode_url" not in card["payment_details"]
    assert "barcode_url" not in bank["payment_details"]
    for payment_id in (card["id"], bank["id"], UNKNOWN_ID):
        assert_error(browser.get(base + payment_id), 404, "not_found")
    resp = browser.get(base + "not-an-id")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


def test_no_barcode_once_paid_or_cancelled(
    api: httpx.Client, browser: httpx.Client, server: Server
) -> None:
    paid = konbini(api)
    simulate_cash_payment(server.base_url, paid["id"])
    assert get_payment(api, paid["id"])["status"] == "captured"
    body = assert_error(
        browser.get(paid["payment_details"]["barcode_url"]), 422, "invalid_parameter", "payment_id"
    )
    assert "captured" in body["error"]["message"]
    cancelled = konbini(api)
    assert api.post(f"/payments/{cancelled['id']}/cancel").status_code == 200
    assert_error(browser.get(cancelled["payment_details"]["barcode_url"]), 422, "invalid_parameter")


def test_expired_on_the_merchants_clock(
    shop: Merchant, shop_api: httpx.Client, browser: httpx.Client
) -> None:
    payment = create_payment(shop_api, payment_details=cash_details("konbini", expiry_days=1))
    url = payment["payment_details"]["barcode_url"]
    ready(browser.get(url))
    advance(shop, 86_400 - 300)  # the last window ends at the deadline
    last, _, _ = ready(browser.get(url))
    deadline = parse_time(get_payment(shop_api, payment["id"])["payment_deadline"])
    assert 0 <= (deadline - parse_time(last)).total_seconds() < 1
    advance(shop, 301)
    assert_error(browser.get(url), 422, "invalid_parameter", "payment_id")


def test_a_session_payment_has_one_too(
    api: httpx.Client, public_api: httpx.Client, browser: httpx.Client
) -> None:
    session = create_session(api, payment_types=["konbini"])
    result = pay_ok(public_api, session["id"], cash_details("konbini", store="ministop"))
    details = result["payment"]["payment_details"]
    _, _, png = ready(browser.get(details["barcode_url"]))
    assert scanned(png) == [(details["receipt"], "Code128")]


def test_browsers_on_any_origin_may_fetch_it(api: httpx.Client, server: Server) -> None:
    url = konbini(api)["payment_details"]["barcode_url"]
    origin = "https://shop.example"
    preflight = httpx.options(
        url, headers={"Origin": origin, "Access-Control-Request-Method": "GET"}, timeout=30
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    resp = httpx.get(url, headers={"Origin": origin}, timeout=30)
    assert resp.headers["access-control-allow-origin"] == "*"
    ready(resp)


def test_the_instructions_page_shows_the_same_barcode_from_its_own_origin(
    api: httpx.Client, browser: httpx.Client, server: Server
) -> None:
    payment = konbini(api, "lawson")
    page = httpx.get(f"{server.base_url}/instructions/{payment['id']}", timeout=30)
    assert page.status_code == 200
    assert "img-src 'self'" in page.headers["content-security-policy"]
    src = re.search(r'<img src="([^"]+)"[^>]*data-testid="barcode"', page.text)
    assert src and src.group(1) == f"/instructions/{payment['id']}/barcode.png", page.text
    image = httpx.get(server.base_url + src.group(1), timeout=30)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    _, _, png = ready(browser.get(payment["payment_details"]["barcode_url"]))
    assert image.content == png
    assert scanned(png) == [(payment["payment_details"]["receipt"], "Code128")]
    simulate_cash_payment(server.base_url, payment["id"])
    paid_page = httpx.get(f"{server.base_url}/instructions/{payment['id']}", timeout=30)
    assert 'data-testid="barcode"' not in paid_page.text
