"""Subscriptions on the test clock, black-box: a server of its own with its embedded worker
off and two `kessai worker` processes beside it (charging whatever falls due every 0.1 s),
so clock steps and workers race for the same charges. Each test has a merchant of its own
(its own clock). Time moves only through `POST /kessai/v1/clock`."""

from __future__ import annotations

import concurrent.futures
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dateutil.relativedelta import relativedelta

from tests.api.helpers import card, parse_time
from tests.conftest import CARD, KESSAI, Merchant, Server, assert_schema, served


@pytest.fixture(scope="module")
def clock_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("subscription-clock")
    with served(workdir, env={"KESSAI_EMBEDDED_WORKER": "0"}) as srv:
        env = {**srv.env(), "KESSAI_SWEEP_INTERVAL": "0.1", "KESSAI_LOG_LEVEL": "warning"}
        workers = [
            subprocess.Popen(
                [*KESSAI, "worker"],
                env=env,
                cwd=workdir,
                stdout=(workdir / f"worker-{n}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            for n in range(2)
        ]
        try:
            yield srv
            for worker in workers:
                assert worker.poll() is None, (workdir / "worker-0.log").read_text()
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=30)


@pytest.fixture
def shop(clock_server: Server) -> Iterator[tuple[Merchant, httpx.Client]]:
    merchant = clock_server.merchant("Clock Subscriptions")
    with merchant.client() as client:
        yield merchant, client


def move_to(shop: Merchant, when: datetime) -> None:
    shop.move_clock(now=when.isoformat())


def subscribe(api: httpx.Client, period: str = "monthly") -> dict[str, Any]:
    customer = api.post("/customers", json={"email": "c@example.com", "payment_details": CARD})
    assert customer.status_code == 200, customer.text
    body = {"customer": customer.json()["id"], "amount": 500, "currency": "JPY", "period": period}
    return shown(api.post("/subscriptions", json=body))


def shown(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "Subscription")
    return dict(resp.json())


def payments_of(api: httpx.Client, sub: dict[str, Any]) -> list[str]:
    now = shown(api.get(f"/subscriptions/{sub['id']}"))
    statuses = []
    for payment_id in now["payments"]:
        payment = api.get(f"/payments/{payment_id}").json()
        assert_schema(payment, "Payment")
        statuses.append(payment["status"])
    return statuses


def events_of(api: httpx.Client, sub: dict[str, Any], event_type: str) -> list[dict[str, Any]]:
    found = api.get("/events", params={"type": event_type, "per_page": 100}).json()["data"]
    mine = [e for e in found if e["data"]["id"] == sub["id"]]
    for event in mine:
        assert_schema(event, "Event")
        assert_schema(event["data"], "Subscription")
    return mine


def test_twelve_months_make_thirteen_charges(shop) -> None:
    merchant, api = shop
    sub = subscribe(api)
    created = parse_time(sub["created_at"])
    move_to(merchant, created + relativedelta(months=6, days=2))
    move_to(merchant, created + relativedelta(months=12, minutes=1))
    assert payments_of(api, sub) == ["captured"] * 13
    captured = events_of(api, sub, "subscription.captured")
    assert len(captured) == 13
    # each charge happened at its own time, in order, on the test clock
    times = sorted(parse_time(e["created_at"]) for e in captured)
    assert [t.date() for t in times] == [
        (created + relativedelta(months=n)).date() for n in range(13)
    ]
    now = shown(api.get(f"/subscriptions/{sub['id']}"))
    assert parse_time(now["next_capture_at"]) == created + relativedelta(months=13)


def test_a_declining_card_is_retried_then_suspended(shop) -> None:
    merchant, api = shop
    sub = subscribe(api, "weekly")
    with merchant.client(merchant.publishable_key) as public:
        token = public.post("/tokens", json={"payment_details": card("4123111111111000")})
    customer = sub["customer"]["uuid"]
    resp = api.patch(f"/customers/{customer}", json={"payment_details": token.json()["id"]})
    assert resp.status_code == 200, resp.text
    created = parse_time(sub["created_at"])
    move_to(merchant, created + timedelta(days=8, minutes=1))  # the charge and a retry
    now = shown(api.get(f"/subscriptions/{sub['id']}"))
    assert (now["status"], now["retry_count"]) == ("retrying", 2)
    move_to(merchant, created + timedelta(days=60))
    now = shown(api.get(f"/subscriptions/{sub['id']}"))
    assert (now["status"], now["retry_at"]) == ("suspended", None)
    assert payments_of(api, sub) == ["captured"] + ["failed"] * 4
    assert len(events_of(api, sub, "subscription.failed")) == 3
    assert len(events_of(api, sub, "subscription.suspended")) == 1
    assert events_of(api, sub, "subscription.failed")[0]["reason"] == "insufficient_funds"


def test_a_deleted_subscription_is_never_charged_again(shop) -> None:
    merchant, api = shop
    sub = subscribe(api, "weekly")
    created = parse_time(sub["created_at"])
    move_to(merchant, created + timedelta(days=7, minutes=1))
    ended = shown(api.delete(f"/subscriptions/{sub['id']}"))
    assert ended["status"] == "deleted"
    move_to(merchant, created + timedelta(days=90))
    assert payments_of(api, sub) == ["captured"] * 2
    assert len(events_of(api, sub, "subscription.deleted")) == 1


def test_racing_clock_advances_charge_nothing_twice(shop) -> None:
    merchant, api = shop
    subs = [subscribe(api) for _ in range(3)]
    target = parse_time(subs[-1]["created_at"]) + relativedelta(months=6, hours=1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        moves = [pool.submit(move_to, merchant, target - timedelta(seconds=n)) for n in range(3)]
        for done in moves:
            done.result()
    for sub in subs:
        assert payments_of(api, sub) == ["captured"] * 7
        assert len(events_of(api, sub, "subscription.captured")) == 7


def test_workers_logged_no_errors(clock_server: Server) -> None:
    for log in Path(clock_server.workdir).glob("worker-*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
