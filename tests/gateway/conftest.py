"""kessai as a gateway in front of KOMOJU: two real `kessai serve` processes.

* the UPSTREAM plays KOMOJU: merchant U in test mode (its `sk_test_` key is what the
  gateway sends upstream);
* the GATEWAY, on a store of its own: merchant G, whose live mode is routed to the
  upstream with `kessai processor set --mode live komoju`;
* the upstream's webhooks for U go to the gateway's
  `/kessai/v1/processors/komoju/webhooks/{G}` (same secret on both sides);
* the gateway's live-mode webhooks for G go to a local `Receiver` (loopback: the gateway
  runs with `KESSAI_WEBHOOK_ALLOW_PRIVATE=all`).

`gateway_pair(tmp, upstream_env=...)` builds all of it; each test module makes its own
(module-scoped fixture), so servers start once per module.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kessai.worker.signing import sign
from tests.conftest import (
    CARD,
    Merchant,
    Server,
    fresh_database,
    kessai,
    start_server,
    stop_server,
    wait_for,
)
from tests.webhooks.receiver import Received, Receiver

FAST_WEBHOOKS = {"KESSAI_WEBHOOK_RETRY_BASE_SECONDS": "1"}
UPSTREAM_ENV = {**FAST_WEBHOOKS, "KESSAI_WEBHOOK_ALLOW_PRIVATE": "test"}  # U is test mode
GATEWAY_ENV = {**FAST_WEBHOOKS, "KESSAI_WEBHOOK_ALLOW_PRIVATE": "all"}  # G's live hooks
PROCESSOR_TIMEOUT = "10"


@dataclass
class Pair:
    upstream: Server
    gateway: Server
    u: Merchant  # at the upstream: the KOMOJU account the gateway uses
    g: Merchant  # at the gateway: the merchant whose live mode goes upstream
    receiver: Receiver  # G's live-mode webhooks from the gateway
    upstream_hook_id: str = ""  # U's webhook endpoint that points at the gateway
    receiver_secret: str = ""  # the signing secret of G's live endpoint at the receiver

    def live(self, **kwargs: Any) -> httpx.Client:
        """G's live-mode API client at the gateway (responses checked against the contract)."""
        assert self.g.live_secret_key
        return self.g.client(self.g.live_secret_key, **kwargs)

    def up(self) -> httpx.Client:
        """U's API client at the upstream: to see what the gateway did there."""
        return self.u.client()

    def admin(self, merchant: Merchant, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{merchant.server.base_url}/kessai/v1", auth=(key, ""), timeout=30
        )


def _add_endpoint(admin: httpx.Client, url: str) -> dict[str, Any]:
    resp = admin.post("/webhook_endpoints", json={"url": url})
    assert resp.status_code == 200, resp.text
    endpoint: dict[str, Any] = resp.json()
    assert endpoint["secret"], endpoint
    return endpoint


@contextlib.contextmanager
def gateway_pair(tmp: Path, *, upstream_env: dict[str, str] | None = None) -> Iterator[Pair]:
    """Both servers on fresh stores, connected; everything stopped (and dropped) after."""
    with (
        fresh_database(tmp) as up_url,
        fresh_database(tmp) as gw_url,
        contextlib.ExitStack() as stack,
    ):
        upstream = start_server(up_url, tmp, env={**UPSTREAM_ENV, **(upstream_env or {})})
        stack.callback(stop_server, upstream)
        gateway = start_server(gw_url, tmp, env=GATEWAY_ENV)
        stack.callback(stop_server, gateway)
        receiver = Receiver()
        receiver.up()
        stack.callback(receiver.down)
        u = upstream.merchant("Upstream account")
        g = gateway.merchant("Gateway shop")
        assert g.live_secret_key and g.live_secret_key.startswith("sk_live_"), g
        pair = Pair(upstream, gateway, u, g, receiver)
        _connect(pair)
        yield pair


def _connect(pair: Pair) -> None:
    """Route G's live mode to the upstream, and the webhooks both ways."""
    g, u = pair.g, pair.u
    assert g.live_secret_key
    with pair.live() as live:
        # Before `processor set`: live mode has no processor.
        resp = live.post("/tokens", json={"payment_details": CARD})
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"]["code"] == "processor_unavailable", resp.text

    hook_url = f"{pair.gateway.base_url}/kessai/v1/processors/komoju/webhooks/{g.id}"
    with pair.admin(u, u.secret_key) as up_admin:
        upstream_hook = _add_endpoint(up_admin, hook_url)
    pair.upstream_hook_id = upstream_hook["id"]

    out = kessai(
        "processor", "set", "--merchant", g.id, "--mode", "live", "komoju",
        "--api-url", pair.upstream.base_url, "--secret-key", u.secret_key,
        "--webhook-secret", upstream_hook["secret"], "--timeout", PROCESSOR_TIMEOUT, "--json",
        env={"KESSAI_DATABASE_URL": pair.gateway.database_url}, cwd=pair.gateway.workdir,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["live"]["name"] == "komoju", shown
    assert u.secret_key not in out.stdout  # secrets only as hints

    def routed() -> bool:
        with pair.live() as live:
            return live.post("/tokens", json={"payment_details": CARD}).status_code == 200

    wait_for(routed, what="the gateway to route G's live mode upstream", timeout=30)

    with pair.admin(g, g.live_secret_key) as gw_admin:
        pair.receiver_secret = _add_endpoint(gw_admin, pair.receiver.url)["secret"]
    pair.receiver.wait(lambda r: events(r, "ping"), 15, "the gateway's ping to the merchant")


def events(receiver: Receiver, event_type: str, payment_id: str | None = None) -> list[Received]:
    """The receiver's deliveries of `event_type` (about `payment_id`), in arrival order."""
    found = []
    for req in receiver.snapshot():
        body = req.json()
        if body.get("type") != event_type:
            continue
        if payment_id is None or body.get("data", {}).get("id") == payment_id:
            found.append(req)
    return found


def delivered(pair: Pair, event_type: str, payment_id: str, timeout: float = 20) -> Received:
    """Wait for the gateway's `event_type` webhook about `payment_id` at the merchant's
    receiver; check it is signed with the endpoint's secret. Fails on a second distinct
    event of that type for that payment."""
    found = pair.receiver.wait(
        lambda r: events(r, event_type, payment_id), timeout, f"{event_type} of {payment_id}"
    )
    first = found[0]
    assert first.headers["x-komoju-signature"] == sign(pair.receiver_secret, first.body)
    assert first.headers["x-komoju-event"] == event_type
    assert len({r.event_id for r in found}) == 1, [r.json() for r in found]
    return first


# ------------------------------------------------------------------ upstream views


def upstream_payments_of(up: httpx.Client, gateway_payment_id: str) -> list[dict[str, Any]]:
    """The upstream's payments made for one gateway payment (its external_order_num)."""
    resp = up.get("/payments", params={"external_order_num": gateway_payment_id, "per_page": 100})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


def the_upstream_payment(up: httpx.Client, gateway_payment_id: str) -> dict[str, Any]:
    """The one upstream payment of a gateway payment, marked with its id."""
    found = upstream_payments_of(up, gateway_payment_id)
    assert len(found) == 1, found
    [payment] = found
    assert payment["metadata"]["kessai_payment"] == gateway_payment_id, payment
    return payment


def all_pages(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    """Every object of a list endpoint, all pages."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        resp = client.get(path, params={"page": page, "per_page": 100})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items.extend(body["data"])
        if page >= body["last_page"]:
            return items
        page += 1


def assert_mirrored(gateway: dict[str, Any], upstream: dict[str, Any]) -> None:
    """The gateway's payment and the upstream's say the same about the money."""
    assert upstream["metadata"]["kessai_payment"] == gateway["id"], upstream
    assert upstream["external_order_num"] == gateway["id"], upstream
    assert upstream["amount"] == gateway["amount"] + gateway["tax"], (gateway, upstream)
    assert upstream["currency"] == gateway["currency"]
    assert upstream["status"] == gateway["status"], (gateway["status"], upstream["status"])
    assert upstream["amount_refunded"] == gateway["amount_refunded"], (gateway, upstream)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with gateway_pair(tmp_path_factory.mktemp("gateway")) as made:
        yield made
