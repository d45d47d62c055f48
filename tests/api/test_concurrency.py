"""A session is completed at most once, whatever the concurrency (contract section 2)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.helpers import card, create_session, get_session
from tests.conftest import CARD, Merchant, assert_error, assert_schema


def async_client(merchant: Merchant, key: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{merchant.server.base_url}/api/v1",
        auth=(key or merchant.secret_key, ""),
        timeout=60,
        limits=httpx.Limits(max_connections=50),
    )


async def _race(merchant: Merchant, requests: list[tuple[str, str, Any]]) -> list[httpx.Response]:
    async with async_client(merchant) as client:
        return await asyncio.gather(
            *(client.request(method, path, json=body) for method, path, body in requests)
        )


def test_twenty_concurrent_pays_complete_once(api: httpx.Client, merchant: Merchant) -> None:
    session = create_session(api, return_url="https://shop.example/done")
    path = f"/sessions/{session['id']}/pay"
    numbers = ["4111111111111111", "5555555555554444", "3530111333300000", "4242424242424242"]
    requests = [("POST", path, {"payment_details": card(numbers[i % 4])}) for i in range(20)]
    responses = asyncio.run(_race(merchant, requests))

    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [(r.status_code, r.text[:200]) for r in responses]
    for resp in responses:
        if resp.status_code != 200:
            assert_error(resp, 422, "session_not_payable")
    won = winners[0].json()
    assert_schema(won, "PaySessionResponse")
    assert won["status"] == "completed"
    assert won["payment"]["status"] == "captured"

    after = get_session(api, session["id"])
    assert after["status"] == "completed"
    assert after["payment"]["id"] == won["payment"]["id"]
    assert (
        after["payment"]["payment_details"]["last_four_digits"]
        == (won["payment"]["payment_details"]["last_four_digits"])
    )


def test_concurrent_pays_with_publishable_key(api: httpx.Client, merchant: Merchant) -> None:
    session = create_session(api)

    async def go() -> list[httpx.Response]:
        async with async_client(merchant, merchant.publishable_key) as client:
            return await asyncio.gather(
                *(
                    client.post(f"/sessions/{session['id']}/pay", json={"payment_details": CARD})
                    for _ in range(10)
                )
            )

    responses = asyncio.run(go())
    assert sorted(r.status_code for r in responses) == [200] + [422] * 9, [
        (r.status_code, r.text[:200]) for r in responses
    ]
    winner = next(r for r in responses if r.status_code == 200).json()
    assert get_session(api, session["id"])["payment"]["id"] == winner["payment"]["id"]


def test_pay_racing_cancel(api: httpx.Client, merchant: Merchant) -> None:
    """Exactly one of pay and cancel wins, and the session shows the winner."""
    sessions = [create_session(api) for _ in range(5)]
    requests: list[tuple[str, str, Any]] = []
    for s in sessions:
        requests.append(("POST", f"/sessions/{s['id']}/pay", {"payment_details": CARD}))
        requests.append(("POST", f"/sessions/{s['id']}/cancel", None))
    responses = asyncio.run(_race(merchant, requests))
    for i, s in enumerate(sessions):
        paid, cancelled = responses[2 * i], responses[2 * i + 1]
        after = get_session(api, s["id"])
        if paid.status_code == 200:
            assert_error(cancelled, 422, "not_cancellable")
            assert after["status"] == "completed"
            assert after["payment"]["id"] == paid.json()["payment"]["id"]
        else:
            assert_error(paid, 422, "session_not_payable")
            assert cancelled.status_code == 200, cancelled.text
            assert after["status"] == "cancelled"
            assert after["payment"] is None


def test_concurrent_creates_with_one_order_number(api: httpx.Client, merchant: Merchant) -> None:
    order = "race-" + create_session(api)["id"]
    body = {"amount": 1000, "currency": "JPY", "payment_data": {"external_order_num": order}}
    responses = asyncio.run(_race(merchant, [("POST", "/sessions", body)] * 8))
    assert sorted(r.status_code for r in responses) == [200] + [422] * 7, [
        (r.status_code, r.text[:200]) for r in responses
    ]
    for resp in responses:
        if resp.status_code == 422:
            assert_error(resp, 422, "invalid_parameter", "payment_data[external_order_num]")


def test_concurrent_declines_and_approvals(api: httpx.Client, merchant: Merchant) -> None:
    """Declined attempts racing good ones never complete the session twice."""
    session = create_session(api)
    path = f"/sessions/{session['id']}/pay"
    declines = {"4123111111111000": "insufficient_funds", "4123111111111059": "card_declined"}
    numbers = ["4123111111111000", "4111111111111111", "4123111111111059", "5555555555554444"]
    requests = [("POST", path, {"payment_details": card(numbers[i % 4])}) for i in range(16)]
    responses = asyncio.run(_race(merchant, requests))
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [(r.status_code, r.text[:200]) for r in responses]
    for (_, _, body), resp in zip(requests, responses, strict=True):
        number = body["payment_details"]["number"]
        if resp.status_code == 402:
            assert number in declines
            assert_error(resp, 402, declines[number])
        elif resp.status_code != 200:
            assert_error(resp, 422, "session_not_payable")
    assert winners[0].json()["payment"]["payment_details"]["last_four_digits"] in ("1111", "4444")
    after = get_session(api, session["id"])
    assert after["status"] == "completed"
    assert after["payment"]["id"] == winners[0].json()["payment"]["id"]


def test_concurrent_pays_with_one_idempotency_key(api: httpx.Client, merchant: Merchant) -> None:
    session = create_session(api)
    headers = {"X-KOMOJU-IDEMPOTENCY": "pay-" + session["id"]}

    async def go() -> list[httpx.Response]:
        async with async_client(merchant) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"/sessions/{session['id']}/pay",
                        json={"payment_details": CARD},
                        headers=headers,
                    )
                    for _ in range(10)
                )
            )

    responses = asyncio.run(go())
    oks = [r for r in responses if r.status_code == 200]
    assert oks, [(r.status_code, r.text[:200]) for r in responses]
    for resp in responses:
        if resp.status_code != 200:
            assert_error(resp, 409, "conflict")
    assert len({r.text for r in oks}) == 1
    after = get_session(api, session["id"])
    assert after["payment"]["id"] == oks[0].json()["payment"]["id"]
