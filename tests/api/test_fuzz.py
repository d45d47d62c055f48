"""A property-based run over /openapi.json (schemathesis) against a real `kessai serve`.

Every operation of the document gets generated requests, valid and invalid, with the
merchant's secret key. Every response must be: not a 5xx, a status the document lists for
that operation, a content type it lists, and a body that validates against its schema.
Path ids are alternately generated and taken from real objects made first (a session, a
payment, a customer, an event, a webhook endpoint), so answers other than 404 are reached.

Bounded: a fixed number of examples per operation (FUZZ_EXAMPLES, default 20), no
per-example deadline; the whole run takes well under two minutes per store.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import CARD, Merchant, Server, served

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
LOOPBACK_RECEIVER = "http://127.0.0.1:9/fuzz"  # the discard port: nothing is delivered


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own on a fresh store; it delivers no webhooks (the fuzzer adds
    endpoints with made-up URLs), so it sends nothing anywhere."""
    workdir = tmp_path_factory.mktemp("fuzz")
    with served(workdir, env={"KESSAI_EMBEDDED_WORKER": "0"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def fuzz_merchant(fuzz_server: Server) -> Merchant:
    return fuzz_server.merchant("Fuzz Shop")


@pytest.fixture(scope="module")
def known_ids(fuzz_merchant: Merchant) -> dict[str, str]:
    """Real objects for the path parameters (a week on the clock first, so a settlement
    exists; the server is this module's own)."""
    fuzz_merchant.move_clock(advance_seconds=8 * 86400)
    with fuzz_merchant.client() as api:
        captured = api.post(
            "/payments",
            json={"amount": 100_000, "currency": "JPY", "capture": True, "payment_details": CARD},
        ).json()
        fuzz_merchant.move_clock(advance_seconds=8 * 86400)  # settles the capture
        disputed = api.post(
            "/payments",
            json={"amount": 5_000, "currency": "JPY", "capture": True, "payment_details": CARD},
        ).json()
        chargeback = api.post(
            f"{fuzz_merchant.server.base_url}/kessai/v1/chargebacks",
            json={"payment_id": disputed["id"]},
        ).json()
        disbursement = api.post(
            "/disbursements",
            json={
                "amount": 1_000,
                "currency": "JPY",
                "account_number": "1234567",
                "account_type": "ordinary",
                "account_name_kana": "ｶｽﾀﾏｰ",
                "bank_code": "0001",
                "branch_code": "001",
            },
        ).json()
        settlement = api.get("/settlements").json()["data"][0]
        transaction = api.get("/balances/JPY/transactions").json()["data"][0]
        session = api.post("/sessions", json={"amount": 1000, "currency": "JPY"}).json()
        payment = api.post(
            "/payments",
            json={"amount": 1000, "currency": "JPY", "capture": False, "payment_details": CARD},
        ).json()
        customer = api.post("/customers", json={"email": "fuzz@example.com"}).json()
        events = api.get("/events").json()["data"]
        endpoint = api.post(
            f"{fuzz_merchant.server.base_url}/kessai/v1/webhook_endpoints",
            json={"url": LOOPBACK_RECEIVER},
        ).json()
    return {
        "session_id": session["id"],
        "payment_id": payment["id"],
        "customer_id": customer["id"],
        "event_id": events[0]["id"],
        "endpoint_id": endpoint["id"],
        "currency": "JPY",
        "settlement_id": settlement["id"],
        "transaction_id": transaction["id"],
        "chargeback_id": chargeback["id"],
        "disbursement_id": disbursement["id"],
    }
    assert captured["status"] == "captured"


@pytest.fixture(scope="module")
def kessai_schema(fuzz_server: Server) -> Any:
    return schemathesis.openapi.from_url(f"{fuzz_server.base_url}/openapi.json")


def test_responses_agree_with_the_document(
    kessai_schema: Any, fuzz_server: Server, fuzz_merchant: Merchant, known_ids: dict[str, str]
) -> None:
    # Not schemathesis' pytest plugin: its lazy fixture loader reads a pytest private
    # (`Function._nodeid`) that pytest 9 no longer has. Each operation gets a Hypothesis
    # run of its own here instead, and every operation is run before failures are reported.
    credentials = base64.b64encode(f"{fuzz_merchant.secret_key}:".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}"}
    failures: dict[str, str] = {}
    seen: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in kessai_schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    for operation in operations:
        real = {k: v for k, v in known_ids.items() if k in operation.path_parameters}
        strategies = [operation.as_strategy(mode) for mode in GenerationMode]
        if real:
            strategies += [
                operation.as_strategy(mode, path_parameters=real) for mode in GenerationMode
            ]

        run = _fuzzer(operation.label, st.one_of(strategies), fuzz_server.base_url, headers, seen)
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every operation runs; all are reported
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    # The run reached every operation, and got past validation to a 200 on most of them.
    assert {label for label, _ in seen} == {op.label for op in operations}
    succeeded = {label for label, status in seen if status == 200}
    assert len(succeeded) >= len(operations) // 2, sorted(seen.items())
    print(f"fuzz: {sum(seen.values())} requests; by operation and status: {sorted(seen.items())}")


def _fuzzer(
    label: str,
    cases: st.SearchStrategy[Any],
    base_url: str,
    headers: dict[str, str],
    seen: Counter[tuple[str, int]],
) -> Callable[[], None]:
    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a bounded run
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any) -> None:
        if case.headers:  # an injected fault is a 5xx on purpose (tests/test_faults.py)
            case.headers.pop("Kessai-Fault", None)
        if isinstance(case.body, dict) and isinstance(case.body.get("url"), str):
            case.body["url"] = LOOPBACK_RECEIVER  # never a receiver elsewhere
        response = case.call_and_validate(
            base_url=base_url, headers=headers, checks=CHECKS, timeout=30
        )
        seen[(label, response.status_code)] += 1

    return run
