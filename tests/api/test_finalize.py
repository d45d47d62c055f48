"""POST /api/v1/payments/{id}/finalize: KOMOJU's card-present (EMV terminal) step, which
kessai does not offer (every kessai payment is card-not-present). The SDK's
FinalizePaymentRequest gets a KOMOJU error saying so and what to do instead."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import UNKNOWN_ID, authorized_payment, create_payment, get_payment
from tests.conftest import Merchant, Server, assert_error, assert_schema

TRACK2 = "4111111111111111D30121010000000000000"
FIELD55 = "9F2608A1B2C3D4E5F607089F2701409F100706011203A0B800"


def finalize_body(**overrides: Any) -> dict[str, Any]:
    body = {"ac_type": "tc", "field55": FIELD55, "track2": TRACK2, "capture": True}
    body.update(overrides)
    assert_schema(body, "FinalizePaymentRequest")
    return body


def finalize(client: httpx.Client, payment_id: str, **kwargs: Any) -> httpx.Response:
    return client.post(f"/payments/{payment_id}/finalize", **kwargs)


def test_an_authorized_payment_is_not_finalized_and_stays_as_it_was(api: httpx.Client) -> None:
    payment = authorized_payment(api, amount=1200)
    body = assert_error(
        finalize(api, payment["id"], json=finalize_body()), 422, "not_finalizable", None
    )
    message = body["error"]["message"]
    assert "card-present" in message, message
    assert f"/payments/{payment['id']}/capture" in message, message
    assert f"/payments/{payment['id']}/cancel" in message, message
    assert body["error"]["details"] == {"status": "authorized"}, body
    assert get_payment(api, payment["id"]) == payment
    captured = api.post(f"/payments/{payment['id']}/capture")
    assert captured.status_code == 200, captured.text
    assert captured.json()["status"] == "captured"


def test_every_decision_and_state_gets_the_same_answer(api: httpx.Client) -> None:
    captured = create_payment(api, amount=800)
    for ac_type in ("tc", "aac", "fault"):
        body = assert_error(
            finalize(api, captured["id"], json=finalize_body(ac_type=ac_type)),
            422,
            "not_finalizable",
            None,
        )
        assert body["error"]["details"] == {"status": "captured"}


def test_the_body_is_never_read_so_no_card_data_is_echoed_or_logged(
    server: Server, api: httpx.Client
) -> None:
    payment = authorized_payment(api)
    answers = [
        finalize(api, payment["id"], json=finalize_body()),
        finalize(api, payment["id"], content=b"{not json", headers={"content-type": "text/csv"}),
        finalize(api, payment["id"], data={"track2": TRACK2, "ac_type": "unknown"}),
        finalize(api, payment["id"]),
    ]
    for answer in answers:
        assert_error(answer, 422, "not_finalizable", None)
        assert TRACK2[:16] not in answer.text and FIELD55 not in answer.text
    log = server.log_path.read_text(errors="replace")
    assert TRACK2[:16] not in log and FIELD55 not in log


def test_unknown_and_other_merchants_payments_are_not_found(
    server: Server, api: httpx.Client
) -> None:
    assert_error(finalize(api, UNKNOWN_ID, json=finalize_body()), 404, "not_found")
    other = server.merchant("Other Shop")
    with other.client() as other_api:
        theirs = authorized_payment(other_api)
    assert_error(finalize(api, theirs["id"], json=finalize_body()), 404, "not_found")


def test_the_publishable_key_is_refused(merchant: Merchant, api: httpx.Client) -> None:
    payment = authorized_payment(api)
    with merchant.client(merchant.publishable_key) as public:
        assert_error(finalize(public, payment["id"], json=finalize_body()), 403, "forbidden")


def test_a_retry_with_the_same_key_gets_the_same_answer(api: httpx.Client) -> None:
    payment = authorized_payment(api)
    headers = {"X-KOMOJU-IDEMPOTENCY": f"finalize-{payment['id']}"}
    first = finalize(api, payment["id"], json=finalize_body(), headers=headers)
    again = finalize(api, payment["id"], json=finalize_body(), headers=headers)
    assert_error(first, 422, "not_finalizable", None)
    assert (again.status_code, again.content) == (first.status_code, first.content)


def test_the_document_declares_it(server: Server) -> None:
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    declared = document["paths"]["/api/v1/payments/{payment_id}/finalize"]["post"]
    assert {"404", "422"} <= set(declared["responses"]), declared["responses"]
    assert "not_finalizable" in declared["description"]
