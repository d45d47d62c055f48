"""Webhook targets, black-box against `kessai serve` (KESSAI_WEBHOOK_ALLOW_PRIVATE=test):
addresses that are never allowed are refused when the endpoint is added, over HTTP and
with `kessai webhook add`, with a 422 naming `url`; a URL whose host is written in an
unusual form never breaks other merchants' deliveries."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import KESSAI, Server, assert_error
from tests.webhooks.conftest import (
    HookMerchant,
    Receiver,
    create_merchant,
    create_payment,
    deliveries,
    recorded,
    wait_until,
)

NEVER = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest",
    "http://[::ffff:a9fe:a9fe]/latest",
    "http://2852039166/latest",  # 169.254.169.254 in decimal
    "http://0xa9fea9fe/latest",  # in hex
    "http://0251.0376.0251.0376/latest",  # in octal
    "http://0.0.0.0:8000/hook",
    "http://0/hook",  # 0.0.0.0
    "http://0x0/hook",
    "http://[::]/hook",
    "http://[fe80::1]/hook",
    "http://[fd00:ec2::254]/latest",
    "http://100.100.100.200/latest",
    "http://224.0.0.1/hook",
    "http://255.255.255.255/hook",
    "http://[64:ff9b::a9fe:a9fe]/latest",
    "http://[2002:a9fe:a9fe::]/latest",
]
# Private ranges: refused for test mode too under the default policy (loopback is not).
PRIVATE = ["http://10.0.0.7/hook", "http://192.168.1.2:8080/hook", "http://[fd12::1]/hook"]


def endpoint_urls(merchant: HookMerchant) -> list[str]:
    with merchant.admin() as admin:
        resp = admin.get("/webhook_endpoints")
    assert resp.status_code == 200, resp.text
    return [e["url"] for e in resp.json()["data"]]


_shared: dict[str, HookMerchant] = {}


def shared_merchant(server: Server) -> HookMerchant:
    if server.base_url not in _shared:
        _shared[server.base_url] = create_merchant(server, "Hooks Target Shop")
    return _shared[server.base_url]


@pytest.mark.parametrize("url", NEVER + PRIVATE)
def test_api_refuses_the_address_naming_url(hooks_server: Server, url: str) -> None:
    merchant = shared_merchant(hooks_server)
    with merchant.admin() as admin:
        resp = admin.post("/webhook_endpoints", json={"url": url})
    assert_error(resp, 422, "invalid_parameter", "url")
    assert endpoint_urls(merchant) == [], "a refused endpoint was created anyway"


@pytest.mark.parametrize(
    ("url", "live"),
    [(NEVER[0], []), (NEVER[1], ["--live"]), (NEVER[4], []), (NEVER[6], ["--live"])],
)
def test_cli_refuses_the_address_naming_url(
    hooks_server: Server, url: str, live: list[str]
) -> None:
    merchant = shared_merchant(hooks_server)
    out = subprocess.run(
        [*KESSAI, "webhook", "add", "--merchant", merchant.id, "--url", url, *live],
        env=hooks_server.env(),
        cwd=hooks_server.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "url" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert out.stdout == "", out.stdout
    listed = subprocess.run(
        [*KESSAI, "webhook", "list", "--merchant", merchant.id, *live],
        env=hooks_server.env(),
        cwd=hooks_server.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [], "a refused endpoint was created anyway"


def test_a_strange_host_never_breaks_another_merchants_round(
    hooks_server: Server, receiver: Receiver
) -> None:
    """The cross-tenant defect: `0177.0.0.1` and `127.000.000.001` were stored as written,
    and the worker's whole round then failed, so other merchants' deliveries were sent
    again every lease period. Now such a URL is either refused (422 naming `url`) or stored
    in its one canonical form; either way the bystander's event is recorded once."""
    bystander = create_merchant(hooks_server, "Hooks Bystander Shop 2", webhook_url=receiver.url)
    odd = create_merchant(hooks_server, "Hooks Odd Host Shop")
    for written in ("0177.0.0.1", "127.000.000.001", "2130706433", "127.1"):
        with odd.admin() as admin:
            resp = admin.post(
                "/webhook_endpoints", json={"url": f"http://{written}:{receiver.port}/odd"}
            )
        if resp.status_code == 422:
            assert_error(resp, 422, "invalid_parameter", "url")
        else:
            assert resp.status_code == 200, resp.text
            assert resp.json()["url"] == f"http://127.0.0.1:{receiver.port}/odd", resp.text
    with bystander.client() as api:
        payment = create_payment(api)
    with odd.client() as api:
        create_payment(api)

    def captured_event() -> str | None:
        for r in receiver.snapshot("/hook"):
            if r.json()["type"] == "payment.captured":
                return r.event_id
        return None

    event_id = receiver.wait(lambda r: captured_event(), 20, "the bystander's payment event")
    found = wait_until(lambda: recorded(bystander, event_id), 15, "its delivery recorded")
    [delivery] = found["deliveries"]
    assert delivery["status"] == "delivered", delivery
    assert [a["attempt"] for a in delivery["attempts"]] == [1], delivery
    # Recorded as delivered, it is never claimed again. A marker sent after it shows the
    # worker still delivering, and the first event not sent a second time meanwhile.
    with bystander.client() as api:
        marker = create_payment(api)
    receiver.wait(
        lambda r: any(x.json()["data"].get("id") == marker["id"] for x in r.snapshot("/hook")),
        20,
        "the marker event",
    )
    assert len(receiver.of_event(event_id)) == 1, "the bystander's event was sent again"
    assert [a["attempt"] for a in deliveries(bystander, event_id)["deliveries"][0]["attempts"]] == [
        1
    ]
    assert payment["id"] != marker["id"]
