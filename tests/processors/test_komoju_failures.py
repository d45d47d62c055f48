"""Failure paths of the KOMOJU processor, on an `httpx.MockTransport` that records every
request and never connects: 5xx, 409, 429, timeouts and stalls, unreadable answers. What
it sends (auth, headers, the same key and bytes on every retry) and that no card number
or CVV ever leaves in an exception, a log line or an outcome."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from typing import Any

import httpx
import pytest

from kessai.processors.base import (
    Approved,
    AwaitingCustomer,
    Declined,
    NeedsAction,
    OpenOperation,
    OutcomeUnknown,
    Transaction,
)
from kessai.processors.komoju import KomojuConfig, KomojuProcessor
from kessai.processors.komoju_wire import idempotency_key
from tests.processors.conftest import CVV, GOOD, call, charge, processor_via

KEY = "sk_test_" + "abc" * 8
CONFIG = KomojuConfig(api_url="https://komoju.test/", secret_key=KEY, timeout=5)
TX = Transaction("p" * 25, "credit_card", 1000, "JPY", reference="u" * 25, capture=False)


def payment(status: str = "captured", **extra: Any) -> dict[str, Any]:
    return {
        "id": "u" * 25,
        "resource": "payment",
        "status": status,
        "payment_details": {"type": "credit_card", "last_four_digits": "1111"},
        **extra,
    }


def scripted(*answers: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[Any]]:
    """A transport answering each request with the next of `answers` (the last repeats)."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


def ok(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json=payment() if body is None else body)


def error(status: int, code: str, message: str = "no", **headers: str) -> httpx.Response:
    body: dict[str, Any] = {
        "error": {"code": code, "message": message, "param": None, "details": {}}
    }
    return httpx.Response(status, json=body, headers=headers)


def no_secrets(*texts: str) -> None:
    for text in texts:
        assert GOOD not in text and CVV not in text, text


@pytest.mark.parametrize(
    "failure",
    [
        error(503, "unavailable"),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
    ],
    ids=["503", "502-html", "connect", "read-timeout", "dropped"],
)
async def test_no_answer_is_unknown_after_a_few_attempts_with_one_key(
    failure: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    transport, seen = scripted(failure)
    op = call()
    async with processor_via(CONFIG, transport) as komoju:
        with pytest.raises(OutcomeUnknown) as lost:
            await komoju.authorize(op, charge())
    assert len(seen) == 3
    assert {r.headers["X-KOMOJU-IDEMPOTENCY"] for r in seen} == {idempotency_key(op.operation_id)}
    assert len({r.content for r in seen}) == 1
    no_secrets(str(lost.value), repr(lost.value.resume), caplog.text)
    assert KEY not in str(lost.value) + caplog.text


@pytest.mark.parametrize(
    "first",
    [error(500, "internal_server_error"), error(409, "conflict"), httpx.ReadError("lost")],
    ids=["500", "409-in-flight", "read-error"],
)
async def test_a_retry_that_gets_an_answer_returns_it(first: Any) -> None:
    transport, seen = scripted(first, ok())
    async with processor_via(CONFIG, transport) as komoju:
        outcome = await komoju.authorize(call(), charge())
    assert outcome == Approved(True, "u" * 25)
    assert len(seen) == 2


async def test_429_is_retried_after_its_retry_after() -> None:
    transport, seen = scripted(error(429, "too_many_requests", **{"Retry-After": "0"}), ok())
    async with processor_via(CONFIG, transport) as komoju:
        assert isinstance(await komoju.capture(call(), TX, 1000), Approved)
    assert len(seen) == 2


async def test_a_stalled_upstream_is_unknown_within_the_budget() -> None:
    never = asyncio.Event()

    async def stall(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    started = time.monotonic()
    async with processor_via(CONFIG, httpx.MockTransport(stall)) as komoju:
        with pytest.raises(OutcomeUnknown):
            await komoju.authorize(call(timeout=0.3), charge())
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(200, text="<html>ok</html>"), httpx.Response(200, json=[1, 2])],
    ids=["html", "not-an-object"],
)
async def test_an_unreadable_success_is_unknown_without_retry(answer: httpx.Response) -> None:
    transport, seen = scripted(answer)
    async with processor_via(CONFIG, transport) as komoju:
        with pytest.raises(OutcomeUnknown):
            await komoju.refund(call(), TX, 100)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (402, "card_declined", "card_declined"),
        (422, "not_capturable", "not_capturable"),
        (404, "not_found", "not_found"),
        (400, "bad_request", "bad_request"),
        (401, "unauthorized", "processor_unavailable"),
        (403, "forbidden", "processor_unavailable"),
    ],
)
async def test_refusals_are_declines_and_not_retried(status: int, code: str, expected: str) -> None:
    transport, seen = scripted(error(status, code, f"refused: card {GOOD} or so"))
    async with processor_via(CONFIG, transport) as komoju:
        result = await komoju.capture(call(), TX, 500)
    assert isinstance(result, Declined) and result.code == expected, result
    no_secrets(result.message)
    assert len(seen) == 1


async def test_what_goes_on_the_wire() -> None:
    bodies: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> httpx.Response:
        bodies.append(
            {"url": str(request.url), "headers": request.headers, "body": request.content}
        )
        return ok()

    op = call()
    ch = charge(1500, capture=False, scenario="card_declined")
    async with processor_via(CONFIG, httpx.MockTransport(record)) as komoju:
        await komoju.authorize(op, ch)
        await komoju.refund(op, TX, 300)
    first, second = bodies
    assert first["url"] == "https://komoju.test/api/v1/payments"
    assert (
        first["headers"]["authorization"]
        == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    )
    assert first["headers"]["content-type"] == "application/json"
    assert first["headers"]["komoju-scenario"] == "card_declined"
    sent = json.loads(first["body"])
    assert sent == {
        "amount": 1500,
        "currency": "JPY",
        "capture": False,
        "external_order_num": ch.payment_id,
        "metadata": {"kessai_payment": ch.payment_id, "kessai_operation": op.operation_id},
        "return_url": ch.return_url,
        "payment_details": {
            "type": "credit_card",
            "number": GOOD,
            "month": 12,
            "year": ch.card.year if ch.card else 0,
            "verification_value": CVV,
            "name": "Taro Yamada",
            "email": "taro@example.com",
        },
    }
    assert second["url"] == f"https://komoju.test/api/v1/payments/{TX.reference}/refund"
    assert json.loads(second["body"]) == {
        "amount": 300,
        "description": f"kessai refund {op.operation_id}",
    }


def test_idempotency_keys_fit_komojus_limit() -> None:
    assert idempotency_key("abc") == "kessai-abc"
    assert idempotency_key("abc", "token") == "kessai-abc-token"
    long = idempotency_key("x" * 200)
    assert len(long) <= 100 and long.startswith("kessai-")
    assert long == idempotency_key("x" * 200) != idempotency_key("x" * 201)
    assert idempotency_key("caf\u00e9").isascii()


STATE = "komoju:" + "u" * 25  # TX's upstream payment


@pytest.mark.parametrize(
    ("status", "ptype", "expect"),
    [
        # Not finished on KOMOJU's page: kessai lets go and waits (nothing held).
        ("pending", "credit_card", NeedsAction(STATE, None, "u" * 25)),
        ("failed", "credit_card", "three_d_secure_failed"),
        ("failed", "paypay", "request_failed"),
        ("expired", "paypay", "request_failed"),
        ("cancelled", "credit_card", "request_failed"),
        ("captured", "paypay", Approved(True, "u" * 25)),
        ("authorized", "credit_card", Approved(False, "u" * 25)),
    ],
)
async def test_complete_reads_the_payment_status(status: str, ptype: str, expect: Any) -> None:
    details = {"type": ptype}
    transport, seen = scripted(ok(payment(status, payment_details=details)))
    async with processor_via(CONFIG, transport) as komoju:
        for run in (
            lambda: komoju.complete(call(), TX, STATE, None),
            lambda: komoju.reconcile(call(), OpenOperation("complete", TX, None, state=STATE)),
        ):
            if expect is OutcomeUnknown:
                with pytest.raises(OutcomeUnknown):
                    await run()
            elif isinstance(expect, Approved | NeedsAction):
                assert await run() == expect
            else:
                result = await run()
                assert isinstance(result, Declined) and result.code == expect, result
    assert {(r.method, r.url.path) for r in seen} == {("GET", f"/api/v1/payments/{'u' * 25}")}


@pytest.mark.parametrize(
    "answer",
    [
        error(401, "unauthorized"),
        error(403, "forbidden"),
        error(404, "not_found"),
        error(400, "bad_request"),
        error(422, "unprocessable_entity"),
        error(429, "too_many_requests", **{"Retry-After": "0"}),
        ok(payment("captured", id="w" * 25)),  # not the payment asked for
        httpx.Response(200, json={"error": "none"}),  # no payment at all
    ],
    ids=["401", "403", "404", "400", "422", "429", "other-payment", "no-payment"],
)
async def test_complete_of_anything_but_a_readable_payment_is_unknown(answer: Any) -> None:
    """The customer may have paid upstream: only KOMOJU's payment, failed, can decline it.
    A key refused after a rotation, a 404, a rate limit: kessai asks again later."""
    transport, seen = scripted(answer)
    async with processor_via(CONFIG, transport) as komoju:
        with pytest.raises(OutcomeUnknown) as lost:
            await komoju.complete(call(), TX, STATE, None)
        assert KEY not in str(lost.value)
        with pytest.raises(OutcomeUnknown):
            await komoju.reconcile(call(), OpenOperation("complete", TX, None, state=STATE))
    assert {r.method for r in seen} == {"GET"}


async def test_cash_sends_expiry_days_and_returns_komojus_deadline() -> None:
    sent: list[dict[str, Any]] = []
    deadline = "2026-12-08T14:59:59.000Z"

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        details = {**body["payment_details"], "receipt": "123"}
        details.pop("expiry_days", None)
        upstream = payment("authorized", payment_details=details, payment_deadline=deadline)
        return httpx.Response(200, json=upstream)

    konbini = {"store": "lawson", "email": "k@example.com"}
    async with processor_via(CONFIG, httpx.MockTransport(answer)) as komoju:
        for days in (7, None):
            ch = charge(900, payment_type="konbini", details=konbini, expiry_days=days)
            outcome = await komoju.authorize(call(), ch)
            assert isinstance(outcome, AwaitingCustomer), outcome
            assert outcome.details["payment_deadline"] == deadline
            assert outcome.details["receipt"] == "123"
        await komoju.authorize(call(), charge(expiry_days=7))  # a card has no expiry
    with_days, without, card_body = (b["payment_details"] for b in sent)
    assert with_days == {**konbini, "type": "konbini", "expiry_days": 7}
    assert without == {**konbini, "type": "konbini"}
    assert "expiry_days" not in card_body


async def test_a_pending_payment_with_nowhere_to_go_is_unknown() -> None:
    transport, _ = scripted(ok(payment("pending")))
    async with processor_via(CONFIG, transport) as komoju:
        with pytest.raises(OutcomeUnknown):
            await komoju.authorize(call(), charge())


async def test_own_client_is_closed_and_a_given_one_is_not() -> None:
    own = KomojuProcessor(CONFIG)
    await own.aclose()
    assert own._http.is_closed
    async with httpx.AsyncClient(transport=scripted(ok())[0]) as given:
        shared = KomojuProcessor(CONFIG, given)
        await shared.aclose()
        assert not given.is_closed
