"""Abuse limits at the edge: rate limits (per address, per key, card endpoints, failed
authentication), the negative cache of unknown keys, and body size and time.

One `kessai serve` with tight limits serves most tests; each test speaks from a loopback
address of its own (127.0.0.N), so their per-address counts do not meet.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import create_session, csrf_of
from tests.conftest import (
    Merchant,
    Server,
    assert_error,
    run_async,
    served,
)

LOOSE = "1000000/minute"


TIGHT = {
    "KESSAI_RATE_LIMIT_ADDRESS": "6/minute",
    "KESSAI_RATE_LIMIT_FAILED_AUTH": "5/minute",
    "KESSAI_RATE_LIMIT_KEY": "8/minute",
    "KESSAI_RATE_LIMIT_CARD_KEY": "3/minute",
    "KESSAI_RATE_LIMIT_CARD_ADDRESS": "2/minute",
    "KESSAI_MAX_BODY_BYTES": "2000",
    "KESSAI_MAX_FORM_BYTES": "1000",
    "KESSAI_BODY_TIMEOUT_SECONDS": "2",
}


@contextlib.contextmanager
def serving(tmp: Path, env: dict[str, str], *args: str) -> Iterator[Server]:
    with served(tmp, *args, env=env) as srv:
        yield srv


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Merchant]]:
    with serving(tmp_path_factory.mktemp("limits"), TIGHT) as srv:
        yield srv, srv.merchant()


_addresses = iter(range(2, 250))


def new_address() -> str:
    """A loopback address no other test here has spoken from."""
    return f"127.0.0.{next(_addresses)}"


def client(server: Server, key: str | None = None, *, address: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{server.base_url}/api/v1",
        auth=(key, "") if key else None,
        timeout=30,
        transport=httpx.HTTPTransport(local_address=address),
    )


def lookups(server: Server) -> float:
    """The server's count of API keys looked up in the store (all its processes)."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    found = re.search(r"^kessai_auth_store_lookups_total(?:\{[^}]*\})? (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def wrong_key() -> str:
    return "sk_test_" + secrets.token_hex(16)


def within_one_minute(room: float = 10) -> None:
    """Unless `room` seconds are left in this wall-clock minute, wait for the next. The limits
    are sliding window counters over minutes of the wall clock: counts made just before a
    minute ends are weighted down after it, and an exact "the next one is refused" fails."""
    left = 60 - time.time() % 60
    if left < room:
        time.sleep(left + 0.05)


def assert_429(resp: httpx.Response) -> int:
    assert_error(resp, 429, "too_many_requests")
    retry_after = int(resp.headers["retry-after"])
    assert 1 <= retry_after <= 3600, retry_after
    return retry_after


def raw_exchange(server: Server, data: bytes, address: str, *, bound: float = 15) -> bytes:
    """Send `data` on one connection and read until the server closes it (or `bound`)."""
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection(
        (host, int(port)), timeout=bound, source_address=(address, 0)
    ) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_and_headers(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


# --------------------------------------------------------------------------- authentication


def test_failed_authentication_budget_and_negative_cache(tight) -> None:  # type: ignore[no-untyped-def]
    srv, _ = tight
    merchant, fresh = srv.merchant("Budget Cached"), srv.merchant("Budget Fresh")
    with client(srv, merchant.secret_key, address=new_address()) as known:
        assert known.get("/payment_methods").status_code == 200  # now cached (30 s)
    bad, other = wrong_key(), wrong_key()
    within_one_minute()
    before = lookups(srv)
    with client(srv, address=new_address()) as anon:
        for _ in range(3):  # one key three times: one lookup
            assert_error(anon.get("/payment_methods", auth=(bad, "")), 401, "unauthorized")
        assert_error(anon.get("/payment_methods", auth=(other, "")), 401, "unauthorized")
        # Not even shaped like a key: refused without a lookup (and counted).
        resp = anon.get("/payment_methods", headers={"Authorization": b"Basic \xe9\xe9"})
        assert_error(resp, 401, "unauthorized")
        assert lookups(srv) - before == 2
        # The budget (5) is spent: a key the server has cached costs no limiter call and
        # is still served (the 6th request: the address allows 6 a minute). Any other
        # key is refused before its lookup (test_valid_keys_never_spend_...).
        assert anon.get("/payment_methods", auth=(merchant.secret_key, "")).status_code == 200
    assert lookups(srv) - before == 2
    # Another address is not affected.
    with client(srv, fresh.secret_key, address=new_address()) as elsewhere:
        assert elsewhere.get("/payment_methods").status_code == 200


# --------------------------------------------------------------------------- per key


def live_keys(server: Server) -> tuple[str, str]:
    """A live-mode merchant's (secret, publishable) keys, made in the store directly."""
    from kessai.store import merchants
    from kessai.store.db import Database

    async def make() -> dict[str, str]:
        db = Database.from_url(server.database_url, pool_size=1)
        try:
            async with db.transaction() as conn:
                _, keys = await merchants.insert_merchant(
                    conn, "Live Shop", datetime.now(UTC), livemode=True
                )
                return keys
        finally:
            await db.dispose()

    keys = run_async(make())
    return keys["secret"], keys["publishable"]


def test_key_limits_and_tighter_card_endpoints(tight) -> None:  # type: ignore[no-untyped-def]
    srv, merchant = tight
    merchant = srv.merchant("Key Limits")  # keys of its own
    live_secret, live_publishable = live_keys(srv)
    within_one_minute(20)  # every exact count below is made inside one window
    # Live mode: card endpoints from one address are limited together (card testing).
    with client(srv, live_publishable, address=new_address()) as live:
        for _ in range(2):
            assert live.post("/tokens", json={}).status_code != 429
        assert_429(live.post("/tokens", json={}))
        # Not a card endpoint (503: live mode has no processor here), so not limited.
        assert live.get("/payment_methods").status_code == 503
    # Test mode is not card testing: only the per-key card limit (3) applies.
    with client(srv, merchant.publishable_key, address=new_address()) as public:
        for _ in range(3):
            assert public.post("/tokens", json={}).status_code == 422
        resp = public.post("/tokens", json={})
        assert_429(resp)
        assert "card details" in resp.json()["error"]["message"]
        assert public.get("/payment_methods").status_code == 200
    # Every request with one key: 8 per minute, then 429; other keys are not affected.
    with client(srv, merchant.secret_key, address=new_address()) as api:
        session = create_session(api)  # 1
        for _ in range(5):  # the address allows 6 requests a minute
            assert api.get(f"/sessions/{session['id']}").status_code == 200
    with client(srv, merchant.secret_key, address=new_address()) as api:
        for _ in range(2):
            assert api.get(f"/sessions/{session['id']}").status_code == 200
        assert_429(api.get(f"/sessions/{session['id']}"))
    with client(srv, live_secret, address=new_address()) as other:
        assert other.get("/payment_methods").status_code == 503  # not 429


# --------------------------------------------------------------------------- per address


def test_address_limit_covers_api_and_hosted_but_not_health(tight) -> None:  # type: ignore[no-untyped-def]
    srv, merchant = tight
    address = new_address()
    with client(srv, merchant.secret_key, address=address) as api:
        session = create_session(api)
        for _ in range(5):
            assert api.get(f"/sessions/{session['id']}").status_code == 200
        assert_429(api.get(f"/sessions/{session['id']}"))  # the 7th request
        page = api.get(f"{srv.base_url}/sessions/{session['id']}")
        assert page.status_code == 429
        assert page.headers["content-type"].startswith("text/html")
        assert int(page.headers["retry-after"]) >= 1
        # Readiness and metrics do real work without authentication: they count too.
        assert api.get(f"{srv.base_url}/ready").status_code == 429
        assert api.get(f"{srv.base_url}/metrics").status_code == 429
        # Health and static assets do not.
        assert api.get(f"{srv.base_url}/health").status_code == 200
        assert api.get(f"{srv.base_url}/static/checkout.css").status_code == 200
        assert api.get(f"{srv.base_url}/docs/assets/swagger-ui.css").status_code == 200


def test_valid_keys_never_spend_the_failed_authentication_budget(tmp_path: Path) -> None:
    """With no cache of known keys, every request looks its key up: only 401s count."""
    env = {"KESSAI_AUTH_CACHE_SECONDS": "0", "KESSAI_RATE_LIMIT_FAILED_AUTH": "3/minute"}
    with serving(tmp_path, env) as srv:
        shops = [srv.merchant(f"Behind One Address {i}") for i in range(3)]
        within_one_minute(20)
        with client(srv, address=new_address()) as shared:  # many merchants, one address
            for i in range(30):
                key = shops[i % len(shops)].secret_key
                resp = shared.get("/payment_methods", auth=(key, ""))
                assert resp.status_code == 200, (i, resp.text)
            for _ in range(3):
                assert_error(
                    shared.get("/payment_methods", auth=(wrong_key(), "")), 401, "unauthorized"
                )
            # The budget is spent now: a key not cached (none is) is refused before lookup.
            before = lookups(srv)
            assert_429(shared.get("/payment_methods", auth=(shops[0].secret_key, "")))
            assert_429(shared.get("/payment_methods", auth=(wrong_key(), "")))
            assert lookups(srv) == before


def test_adding_a_webhook_endpoint_authenticates_once(tight) -> None:  # type: ignore[no-untyped-def]
    srv, _ = tight
    merchant = srv.merchant("Hooks Once")  # keys of its own: 8 requests a minute
    within_one_minute()
    with client(srv, merchant.secret_key, address=new_address()) as api:
        for i in range(4):
            resp = api.post(
                f"{srv.base_url}/kessai/v1/webhook_endpoints",
                json={"url": f"http://127.0.0.1:9/hook-{i}"},
            )
            assert resp.status_code == 200, resp.text
    with client(srv, merchant.secret_key, address=new_address()) as api:
        for _ in range(4):  # 4 + 4: the key's 8, had each add counted once
            assert api.get(f"{srv.base_url}/kessai/v1/webhook_endpoints").status_code == 200
        assert_429(api.get(f"{srv.base_url}/kessai/v1/webhook_endpoints"))


# --------------------------------------------------------------------------- hosted checkout


def hosted_pay(server: Server, session_id: str, address: str) -> httpx.Response:
    """The customer's card form on the checkout page, with a card the processor declines."""
    with httpx.Client(
        base_url=server.base_url,
        timeout=30,
        transport=httpx.HTTPTransport(local_address=address),
    ) as browser:
        page = browser.get(f"/sessions/{session_id}")
        assert page.status_code == 200, page.text[:500]
        form = {
            "csrf": csrf_of(page.text),
            "locale": "en",
            "payment_type": "credit_card",
            "number": "4123111111111059",  # declined: the session stays payable
            "month": "12",
            "year": str(datetime.now(UTC).year + 2),
            "verification_value": "123",
            "name": "Card Tester",
        }
        return browser.post(f"/sessions/{session_id}/pay", data=form)


def test_checkout_page_payments_have_the_card_limits(tight) -> None:  # type: ignore[no-untyped-def]
    srv, _ = tight
    merchant = srv.merchant("Checkout Cards")
    with client(srv, merchant.secret_key, address=new_address()) as api:
        session = create_session(api)
    within_one_minute()
    # The card limit (3 a minute) is the merchant's (and mode's), from any address.
    for address in (new_address(), new_address(), new_address()):
        assert hosted_pay(srv, session["id"], address).status_code == 402
    refused = hosted_pay(srv, session["id"], new_address())
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert int(refused.headers["retry-after"]) >= 1
    # Another merchant's checkout page is not affected.
    other = srv.merchant("Checkout Cards Elsewhere")
    with client(srv, other.secret_key, address=new_address()) as api:
        session = create_session(api)
    assert hosted_pay(srv, session["id"], new_address()).status_code == 402


def test_limits_switched_off(tmp_path: Path) -> None:
    with (
        serving(tmp_path, {**TIGHT, "KESSAI_RATE_LIMITS": "no"}) as srv,
        httpx.Client(base_url=f"{srv.base_url}/api/v1", timeout=30) as anonymous,
    ):
        for _ in range(12):
            assert_error(anonymous.get("/payment_methods"), 401, "unauthorized")


# --------------------------------------------------------------------------- processes


def redis_or_skip() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2):
            return "redis://127.0.0.1:6379/0"
    except OSError:
        if os.environ.get("CI"):
            raise
        pytest.skip("Redis is not running at 127.0.0.1:6379 (CI starts it)")


def wrong_key_storm(server: Server, keys: list[str], count: int, address: str) -> list[int]:
    statuses = []
    with httpx.Client(
        base_url=f"{server.base_url}/api/v1",
        timeout=30,
        # A new connection for every request: spread over the server's processes.
        limits=httpx.Limits(max_keepalive_connections=0),
        transport=httpx.HTTPTransport(local_address=address),
    ) as anon:
        for i in range(count):
            statuses.append(
                anon.get("/payment_methods", auth=(keys[i % len(keys)], "")).status_code
            )
    return statuses


def test_two_processes_share_limits_and_unknown_keys_in_redis(tmp_path: Path) -> None:
    env = {
        "KESSAI_RATE_LIMIT_STORAGE": redis_or_skip(),
        "KESSAI_RATE_LIMIT_FAILED_AUTH": "12/minute",
    }
    with serving(tmp_path, env, "--workers", "2") as srv:
        keys = [wrong_key() for _ in range(5)]
        before = lookups(srv)
        statuses = wrong_key_storm(srv, keys, 60, new_address())
        assert statuses.count(401) == 12 and statuses.count(429) == 48, statuses
        assert lookups(srv) - before == len(keys)  # one per distinct key, in all
        # One unknown key from another address, 10 times over both processes: 1 lookup.
        before = lookups(srv)
        assert wrong_key_storm(srv, [wrong_key()], 10, new_address()) == [401] * 10
        assert lookups(srv) - before == 1
        # The same, all at once: the first attempt's lookup is shared, in and across processes.
        key, address = wrong_key(), new_address()
        before = lookups(srv)
        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(
                pool.map(lambda _: wrong_key_storm(srv, [key], 1, address)[0], range(12))
            )
        assert statuses == [401] * 12
        assert lookups(srv) - before == 1


def test_two_processes_in_memory_never_exceed_the_limit(tmp_path: Path) -> None:
    env = {"KESSAI_RATE_LIMIT_FAILED_AUTH": "10/minute"}
    with serving(tmp_path, env, "--workers", "2") as srv:
        statuses = wrong_key_storm(srv, [wrong_key() for _ in range(5)], 60, new_address())
    # Each process enforces half the limit: together never more than the limit.
    assert set(statuses) == {401, 429}, statuses
    assert 5 <= statuses.count(401) <= 10, statuses


# --------------------------------------------------------------------------- body size and time


def request_head(merchant: Merchant, path: str, extra: str) -> bytes:
    header = "Basic " + base64.b64encode(f"{merchant.publishable_key}:".encode()).decode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {header}\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


def test_declared_oversize_body_is_refused_before_it_is_sent(tight) -> None:  # type: ignore[no-untyped-def]
    srv, merchant = tight
    # 256 MiB declared, not one byte sent: the answer comes anyway, then the close.
    head = request_head(merchant, "/api/v1/tokens", "Content-Length: 268435456\r\n")
    status, headers, body = status_and_headers(raw_exchange(srv, head, new_address()))
    assert status == 413
    assert headers["connection"] == "close"
    assert b'"request_too_large"' in body


def test_streamed_oversize_body_is_refused_past_the_limit(tight) -> None:  # type: ignore[no-untyped-def]
    srv, merchant = tight
    chunk = b"x" * 4000
    head = request_head(merchant, "/api/v1/tokens", "Transfer-Encoding: chunked\r\n")
    data = head + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    status, headers, body = status_and_headers(raw_exchange(srv, data, new_address()))
    assert status == 413
    assert headers["connection"] == "close"
    assert b'"request_too_large"' in body


def test_body_at_the_limit_is_read(tight) -> None:  # type: ignore[no-untyped-def]
    srv, _ = tight
    merchant = srv.merchant("Body Limits")  # keys of its own (the card-key limit is 3)
    body = b'{"email": "' + b"a" * (2000 - 13) + b'"}'
    assert len(body) == 2000
    json_type = {"Content-Type": "application/json"}
    with client(srv, merchant.publishable_key, address=new_address()) as public:
        resp = public.post("/tokens", content=body, headers=json_type)
        assert resp.status_code == 422, resp.text
        too_big = public.post("/tokens", content=body + b" ", headers=json_type)
    assert_error(too_big, 413, "request_too_large")


def test_hosted_forms_have_a_smaller_limit_and_a_page(tight) -> None:  # type: ignore[no-untyped-def]
    srv, merchant = tight
    with client(srv, merchant.secret_key, address=new_address()) as api:
        session = create_session(api)
        resp = api.post(
            f"{srv.base_url}/sessions/{session['id']}",
            content=b"a=" + b"b" * 1500,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("text/html")


def test_slow_body_is_answered_408_and_closed(tight) -> None:  # type: ignore[no-untyped-def]
    srv, merchant = tight
    head = request_head(merchant, "/api/v1/tokens", "Content-Length: 100\r\n")
    raw = raw_exchange(srv, head + b'{"email":', new_address())
    status, headers, body = status_and_headers(raw)
    assert status == 408
    assert headers["connection"] == "close"
    assert b'"request_timeout"' in body
