"""Fault injection against real `kessai serve` processes (docs/faults.md).

Every kind is forced with the `Kessai-Fault` header and proven server-side: after
`error_before` the payment does not exist and the idempotency key is free; after
`error_after`, `drop_after` and `stall_after` it exists once, and a retry with the same
X-KOMOJU-IDEMPOTENCY key gets the stored answer and makes no second payment. A seeded
`--faults` SPEC gives exactly the mix its documented draws say.
"""

from __future__ import annotations

import concurrent.futures
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import (
    CARD,
    Merchant,
    Server,
    assert_error,
    fresh_database,
    kessai,
    served,
    start_server,
    stop_server,
    wait_for,
)

STALL_SECONDS = 2
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with no random faults (the header forces them), stalls of 2 s."""
    tmp = tmp_path_factory.mktemp("faults")
    with served(tmp, env={"KESSAI_FAULTS": f"stall_seconds={STALL_SECONDS}"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def shop(faulty: Server) -> Merchant:
    return faulty.merchant("Faulty Shop")


def client(merchant: Merchant, key: str | None = None) -> httpx.Client:
    """No contract hook: injected 500s and 503s are not in /openapi.json."""
    return httpx.Client(
        base_url=f"{merchant.server.base_url}/api/v1",
        auth=(key or merchant.secret_key, ""),
        timeout=30,
    )


def pay(
    api: httpx.Client, order: str, *, fault: str | None = None, key: str | None = None
) -> httpx.Response:
    headers = {"X-KOMOJU-IDEMPOTENCY": key or secrets.token_hex(8)}
    if fault is not None:
        headers["Kessai-Fault"] = fault
    body = {"amount": 1000, "currency": "JPY", "payment_details": CARD, "external_order_num": order}
    return api.post("/payments", json=body, headers=headers)


def payments_of(api: httpx.Client, order: str) -> list[dict[str, Any]]:
    resp = api.get("/payments", params={"external_order_num": order})
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def order_num() -> str:
    return "fault-" + secrets.token_hex(6)


def test_error_before_does_nothing(shop: Merchant) -> None:
    order, key = order_num(), secrets.token_hex(8)
    with client(shop) as api:
        resp = pay(api, order, fault="error_before", key=key)
        assert_error(resp, 503, "service_unavailable", None)
        assert resp.headers["kessai-fault"] == "error_before"
        assert payments_of(api, order) == []
        # The key was never claimed: the retry runs the request for the first time.
        retry = pay(api, order, key=key)
        assert retry.status_code == 200, retry.text
        assert retry.json()["status"] == "captured"
        assert [p["id"] for p in payments_of(api, order)] == [retry.json()["id"]]


def test_error_after_commits_then_answers_500(shop: Merchant) -> None:
    order, key = order_num(), secrets.token_hex(8)
    with client(shop) as api:
        resp = pay(api, order, fault="error_after", key=key)
        assert_error(resp, 500, "internal_server_error", None)
        assert resp.headers["kessai-fault"] == "error_after"
        [done] = payments_of(api, order)
        assert done["status"] == "captured"
        _replays(api, order, key, done["id"])


def test_drop_after_commits_then_closes_unanswered(shop: Merchant) -> None:
    order, key = order_num(), secrets.token_hex(8)
    with client(shop) as api:
        with pytest.raises(DROPPED):
            pay(api, order, fault="drop_after", key=key)
        [done] = payments_of(api, order)
        assert done["status"] == "captured"
        _replays(api, order, key, done["id"])


def test_stall_after_commits_then_waits_then_closes(shop: Merchant) -> None:
    order, key = order_num(), secrets.token_hex(8)

    def stalled() -> float:
        started = time.monotonic()
        with client(shop) as api, pytest.raises(DROPPED):
            pay(api, order, fault="stall_after", key=key)
        return time.monotonic() - started

    with client(shop) as api, concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(stalled)
        # Committed before the stall began; meanwhile the server answers other requests.
        [done] = wait_for(lambda: payments_of(api, order), what="the stalled payment")
        other = pay(api, order_num())
        assert other.status_code == 200, other.text
        assert httpx.get(f"{shop.server.base_url}/health").status_code == 200
        assert not future.done()
        assert future.result(timeout=30) >= STALL_SECONDS
        _replays(api, order, key, done["id"])


def _replays(api: httpx.Client, order: str, key: str, payment_id: str) -> None:
    """The retry with the same key gets the stored answer; still one payment."""
    retry = pay(api, order, key=key)
    assert retry.status_code == 200, retry.text
    assert retry.json()["id"] == payment_id
    assert [p["id"] for p in payments_of(api, order)] == [payment_id]


@pytest.mark.parametrize("value", ["explode", "", "latency_ms", "error_before,drop_after"])
def test_unknown_kind_is_422_and_nothing_done(shop: Merchant, value: str) -> None:
    order = order_num()
    with client(shop) as api:
        resp = pay(api, order, fault=value)
        assert_error(resp, 422, "invalid_parameter", "Kessai-Fault")
        assert payments_of(api, order) == []


def test_header_value_ignores_case(shop: Merchant) -> None:
    with client(shop) as api:
        resp = api.get("/payments", headers={"Kessai-Fault": "Error_Before"})
        assert_error(resp, 503, "service_unavailable", None)


def test_live_key_with_header_is_422(shop: Merchant) -> None:
    live = _live_secret_key(shop)
    with client(shop, live) as api:
        assert api.get("/payments").status_code == 200
        resp = api.get("/payments", headers={"Kessai-Fault": "error_after"})
        assert_error(resp, 422, "invalid_parameter", "Kessai-Fault")


def test_publishable_test_key_takes_the_header(shop: Merchant) -> None:
    with client(shop, shop.publishable_key) as api:
        resp = api.get("/payment_methods", headers={"Kessai-Fault": "error_after"})
        assert_error(resp, 500, "internal_server_error", None)


def test_made_up_test_key_gets_its_401_not_a_fault(shop: Merchant) -> None:
    made_up = "sk_test_" + secrets.token_hex(16)
    with client(shop, made_up) as api:
        for kind in ("error_after", "drop_after", "stall_after"):
            resp = api.get("/payments", headers={"Kessai-Fault": kind})
            assert_error(resp, 401, "unauthorized")
        # error_before answers before authentication (nothing is done either way).
        resp = api.get("/payments", headers={"Kessai-Fault": "error_before"})
        assert_error(resp, 503, "service_unavailable")
    # Without a key shaped like one, the header is not looked at: 401.
    resp = httpx.get(f"{shop.server.base_url}/api/v1/payments", headers={"Kessai-Fault": "explode"})
    assert_error(resp, 401, "unauthorized")


def test_only_api_v1_paths(shop: Merchant) -> None:
    base = shop.server.base_url
    forced = {"Kessai-Fault": "error_before"}
    auth = (shop.secret_key, "")
    assert httpx.get(f"{base}/health", headers=forced).status_code == 200
    assert httpx.get(f"{base}/openapi.json", headers=forced).status_code == 200
    resp = httpx.get(f"{base}/kessai/v1/webhook_endpoints", headers=forced, auth=auth)
    assert resp.status_code == 200, resp.text
    resp = httpx.get(f"{base}/api/v1x/payments", headers=forced, auth=auth)
    assert resp.status_code == 404


def test_faults_are_counted(shop: Merchant) -> None:
    with client(shop) as api:
        assert api.get("/payments", headers={"Kessai-Fault": "error_before"}).status_code == 503
    text = httpx.get(f"{shop.server.base_url}/metrics").text
    counted = {
        line.split("}")[0].split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("kessai_faults_injected_total{")
    }
    assert counted.get("error_before", 0) >= 1, counted


def _live_secret_key(merchant: Merchant) -> str:
    out = kessai(
        "merchant", "create", "--name", "Live Shop", "--json",
        env={"KESSAI_DATABASE_URL": merchant.server.database_url},
        cwd=merchant.server.workdir,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    key: str = json.loads(out.stdout)["live_secret_key"]
    return key


# --- a seeded SPEC -------------------------------------------------------------------------

SPEC = "error_before=0.15,error_after=0.15,drop_after=0.1,stall_after=0.01,stall_seconds=1"
SEED = 7
REQUESTS = 200


def expected_kinds(n: int) -> list[str]:
    """The documented draws: one uniform per request picks a kind in order (or none),
    then one for the latency."""
    rng = random.Random(SEED)  # noqa: S311
    order = [("error_before", 0.15), ("error_after", 0.15), ("drop_after", 0.1)]
    order.append(("stall_after", 0.01))
    kinds = []
    for _ in range(n):
        u, bound, kind = rng.random(), 0.0, "none"
        for name, p in order:
            bound += p
            if u < bound:
                kind = name
                break
        kinds.append(kind)
        rng.uniform(0, 2)  # latency_ms=0-2
    return kinds


def test_seeded_spec_gives_its_mix(tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("seeded")
    with fresh_database(tmp) as url:
        srv = start_server(url, tmp, "--faults", f"{SPEC},latency_ms=0-2,seed={SEED}")
        try:
            merchant = srv.merchant("Seeded Shop")
            seen = []
            with client(merchant) as api:
                for _ in range(REQUESTS):
                    try:
                        status = api.get("/payments", params={"per_page": 1}).status_code
                        seen.append({200: "none", 503: "error_before", 500: "error_after"}[status])
                    except DROPPED:
                        seen.append("dropped")
            log = srv.log_path.read_text()
        finally:
            stop_server(srv)
    mix = Counter(seen)
    # Loose: what any fair draw gives; exact: what this seed gives (one process, in order).
    assert 10 <= mix["error_before"] <= 55 and 10 <= mix["error_after"] <= 55, mix
    assert 5 <= mix["dropped"] <= 40 and 60 <= mix["none"] <= 180, mix
    expected = ["dropped" if k in ("drop_after", "stall_after") else k for k in expected_kinds(200)]
    assert seen == expected
    assert "injecting faults into /api/v1: error_before=0.15" in log


def test_without_a_spec_nothing_is_injected(api: httpx.Client) -> None:
    """The suite's shared server (no SPEC): every request is answered normally."""
    statuses = {api.get("/payments", params={"per_page": 1}).status_code for _ in range(50)}
    assert statuses == {200}
