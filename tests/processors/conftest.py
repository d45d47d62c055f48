"""Fixtures for the KOMOJU processor tests: a real `kessai serve` playing KOMOJU (on a store
of its own, webhooks to loopback allowed), its merchant, and processors pointed at it.

The processor is driven directly (no kessai gateway in front): these tests check what it
sends upstream and what it makes of the answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from kessai.ids import new_id
from kessai.processors.base import Call, Card, Charge, Transaction
from kessai.processors.komoju import KomojuConfig, KomojuProcessor
from tests.conftest import CARD_YEAR, Merchant, Server, served

UPSTREAM_ENV = {
    "KESSAI_WEBHOOK_ALLOW_PRIVATE": "test",  # the test's webhook receiver is on 127.0.0.1
    "KESSAI_WEBHOOK_RETRY_BASE_SECONDS": "1",
}
GOOD = "4111111111111111"
CVV = "987"


@pytest.fixture(scope="package")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The kessai that plays KOMOJU."""
    workdir = tmp_path_factory.mktemp("komoju-upstream")
    with served(workdir, env=UPSTREAM_ENV) as srv:
        yield srv


@pytest.fixture(scope="package")
def shop(upstream: Server) -> Merchant:
    """The merchant at the upstream whose secret key the processor uses."""
    return upstream.merchant("Upstream Shop")


@pytest.fixture
def config(upstream: Server, shop: Merchant) -> KomojuConfig:
    return KomojuConfig(api_url=upstream.base_url, secret_key=shop.secret_key, timeout=10)


@pytest.fixture
async def komoju(config: KomojuConfig) -> AsyncIterator[KomojuProcessor]:
    processor = KomojuProcessor(config)
    try:
        yield processor
    finally:
        await processor.aclose()


@pytest.fixture
def up(shop: Merchant) -> Iterator[httpx.Client]:
    """A client of the upstream's API, to check what the processor did there."""
    with shop.client() as client:
        yield client


def call(timeout: float = 10.0, operation_id: str | None = None) -> Call:
    return Call(operation_id or new_id(), timeout)


def card(number: str = GOOD, cvv: str | None = CVV) -> Card:
    return Card(number, 12, CARD_YEAR, cvv, "Taro Yamada", "taro@example.com")


def charge(
    amount: int = 1000,
    *,
    number: str | None = GOOD,
    capture: bool = True,
    payment_type: str = "credit_card",
    **kwargs: Any,
) -> Charge:
    """A charge of a new kessai payment (its own id)."""
    the_card = card(number) if number and payment_type == "credit_card" else None
    return Charge(
        payment_id=new_id(),
        amount=amount,
        currency="JPY",
        payment_type=payment_type,
        capture=capture,
        card=the_card,
        return_url="http://127.0.0.1:9/kessai/return",
        **kwargs,
    )


def tx_of(ch: Charge, reference: str | None) -> Transaction:
    return Transaction(
        payment_id=ch.payment_id,
        payment_type=ch.payment_type,
        amount=ch.amount,
        currency=ch.currency,
        reference=reference,
        capture=ch.capture,
    )


def upstream_payment(up: httpx.Client, reference: str) -> dict[str, Any]:
    resp = up.get(f"/payments/{reference}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def upstream_payments_of(up: httpx.Client, payment_id: str) -> list[dict[str, Any]]:
    """The upstream's payments for one kessai payment (its external_order_num)."""
    resp = up.get("/payments", params={"external_order_num": payment_id, "per_page": 100})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


# --------------------------------------------------------------------------- transports


@dataclass
class Sent:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Faulty(httpx.AsyncBaseTransport):
    """Forwards to the real upstream, except that for the next `refuse` requests the
    connection is refused (nothing sent) and for the next `drop` requests the answer is
    lost after the upstream has answered (the upstream did the work). Records everything
    it was asked to send."""

    refuse: int = 0
    drop: int = 0
    sent: list[Sent] = field(default_factory=list)
    inner: httpx.AsyncHTTPTransport = field(default_factory=httpx.AsyncHTTPTransport)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        self.sent.append(Sent(request.method, request.url.path, dict(request.headers), body))
        if self.refuse > 0:
            self.refuse -= 1
            raise httpx.ConnectError("connection refused (test)", request=request)
        resp = await self.inner.handle_async_request(request)
        await resp.aread()
        if self.drop > 0:
            self.drop -= 1
            raise httpx.ReadError("connection dropped before the answer (test)", request=request)
        return resp

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextlib.asynccontextmanager
async def processor_via(
    config: KomojuConfig, transport: httpx.AsyncBaseTransport
) -> AsyncIterator[KomojuProcessor]:
    """A processor whose requests go through `transport`, retrying without delay."""
    async with httpx.AsyncClient(transport=transport) as http:
        yield KomojuProcessor(config, http, retry_delays=(0.0, 0.0))
