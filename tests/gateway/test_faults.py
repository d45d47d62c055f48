"""The gateway in front of an upstream that fails half of its API requests: 500 after doing
the work, or the connection dropped after doing it (`KESSAI_FAULTS`). A client that
retries with the same idempotency key still gets exactly one upstream payment per gateway
payment, and the two sides agree on every payment and refund."""

from __future__ import annotations

import concurrent.futures
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import CARD
from tests.gateway.conftest import Pair, events, gateway_pair

FAULTS = "error_after=0.3,drop_after=0.2,stall_after=0.1,stall_seconds=1,seed=3"
PAYMENTS = 30
RETRYABLE = (httpx.TransportError,)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with gateway_pair(
        tmp_path_factory.mktemp("gateway-faults"), upstream_env={"KESSAI_FAULTS": FAULTS}
    ) as made:
        yield made


def until_answered(send: Callable[[], httpx.Response], what: str) -> httpx.Response:
    """A careful client: retry on 5xx, 409 (the same key still running) and connection
    errors, always the same request (same key); give up after 60 s."""
    deadline = time.monotonic() + 60
    pause = 0.05
    while True:
        try:
            resp = send()
        except RETRYABLE:
            resp = None
        if resp is not None and resp.status_code < 500 and resp.status_code != 409:
            return resp
        assert time.monotonic() < deadline, f"{what}: still no answer ({resp and resp.text})"
        time.sleep(pause)  # a client's backoff, not a wait for the test's clock
        pause = min(pause * 2, 0.5)


def read_upstream(pair: Pair, path: str) -> list[dict[str, Any]]:
    """Every object of an upstream list, reading through its faults (GETs are safe)."""
    items: list[dict[str, Any]] = []
    with httpx.Client(
        base_url=f"{pair.upstream.base_url}/api/v1", auth=(pair.u.secret_key, ""), timeout=30
    ) as up:
        page = 1
        while True:

            def get(page: int = page) -> httpx.Response:
                return up.get(path, params={"page": page, "per_page": 100})

            resp = until_answered(get, f"GET {path}")
            assert resp.status_code == 200, resp.text
            body = resp.json()
            items.extend(body["data"])
            if page >= body["last_page"]:
                return items
            page += 1


def one_order(pair: Pair, n: int) -> dict[str, Any]:
    """Pay order n (authorize-only for every third, then capture); refund every second."""
    assert pair.g.live_secret_key
    with httpx.Client(
        base_url=f"{pair.gateway.base_url}/api/v1", auth=(pair.g.live_secret_key, ""), timeout=30
    ) as live:
        capture = n % 3 != 0
        body = {
            "amount": 1000 + n,
            "currency": "JPY",
            "payment_details": CARD,
            "capture": capture,
            "external_order_num": f"order-{n}",
        }
        key = {"X-KOMOJU-IDEMPOTENCY": f"pay-{n}"}
        resp = until_answered(lambda: live.post("/payments", json=body, headers=key), f"pay {n}")
        assert resp.status_code == 200, resp.text
        payment: dict[str, Any] = resp.json()
        path = f"/payments/{payment['id']}"
        if not capture:
            key = {"X-KOMOJU-IDEMPOTENCY": f"capture-{n}"}
            resp = until_answered(
                lambda: live.post(f"{path}/capture", json={}, headers=key), f"capture {n}"
            )
            assert resp.status_code == 200, resp.text
            payment = resp.json()
        if n % 2 == 0:
            key = {"X-KOMOJU-IDEMPOTENCY": f"refund-{n}"}
            resp = until_answered(
                lambda: live.post(f"{path}/refund", json={"amount": n + 1}, headers=key),
                f"refund {n}",
            )
            assert resp.status_code == 200, resp.text
            payment = resp.json()
        return payment


def test_retrying_client_through_a_faulty_upstream_makes_one_upstream_payment_each(
    pair: Pair,
) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        answered = list(pool.map(lambda n: one_order(pair, n), range(PAYMENTS)))

    assert len({p["id"] for p in answered}) == PAYMENTS
    for n, payment in enumerate(answered):
        assert payment["status"] == "captured", payment
        assert payment["amount"] == 1000 + n
        assert payment["amount_refunded"] == (n + 1 if n % 2 == 0 else 0), payment

    with pair.live() as live:
        listed = live.get("/payments", params={"per_page": 100})
        assert listed.status_code == 200, listed.text
        gateway = {p["id"]: p for p in listed.json()["data"]}
    assert set(gateway) == {p["id"] for p in answered}  # no stray gateway payment either

    upstream = read_upstream(pair, "/payments")
    by_gateway_id: dict[str, list[dict[str, Any]]] = {}
    for up in upstream:
        by_gateway_id.setdefault(up["metadata"].get("kessai_payment"), []).append(up)
    assert set(by_gateway_id) == set(gateway), "an upstream payment without a gateway payment"
    for payment_id, ups in by_gateway_id.items():
        assert len(ups) == 1, ups
        [up] = ups
        mine = gateway[payment_id]
        assert up["external_order_num"] == payment_id
        assert (up["status"], up["amount"], up["amount_refunded"]) == (
            mine["status"],
            mine["amount"],
            mine["amount_refunded"],
        ), (mine, up)
        assert len(up["refunds"]) == (1 if mine["amount_refunded"] else 0), up

    # The merchant heard of every capture once (one event each, however often delivered).
    def all_captured() -> bool:
        return all(events(pair.receiver, "payment.captured", pid) for pid in gateway)

    pair.receiver.wait(lambda r: all_captured(), 30, "payment.captured of every payment")
    for pid in gateway:
        assert len({r.event_id for r in events(pair.receiver, "payment.captured", pid)}) == 1

    # And the faults did happen, of both kinds, many times.
    injected = injected_faults(pair)
    kinds = ("error_after", "drop_after", "stall_after")
    assert min(injected.get(kind, 0) for kind in kinds) >= 3, injected


def injected_faults(pair: Pair) -> dict[str, float]:
    metrics = httpx.get(f"{pair.upstream.base_url}/metrics", timeout=30)
    assert metrics.status_code == 200
    counts: dict[str, float] = {}
    for line in metrics.text.splitlines():
        match = re.match(r'kessai_faults_injected_total\{kind="(\w+)"\} (\S+)', line)
        if match:
            counts[match[1]] = float(match[2])
    return counts
