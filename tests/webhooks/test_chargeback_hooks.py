"""Chargeback events reach the merchant's webhook endpoint like any other: signed, with the
ChargebackRequestDetail as it was at that move as their data."""

from __future__ import annotations

from tests.api.chargeback_helpers import answer, open_now
from tests.conftest import CARD, Server, assert_schema
from tests.webhooks.conftest import Receiver, create_merchant, create_payment, signature


def test_chargeback_events_are_delivered(hooks_server: Server, receiver: Receiver) -> None:
    merchant = create_merchant(hooks_server, "Chargeback Hooks", webhook_url=receiver.url)
    assert merchant.webhook_secret is not None
    with merchant.client() as api:
        payment = create_payment(api, payment_details=CARD)
        found = open_now(api, payment["id"])
        assert answer(api, found["id"], "accept").status_code == 204

    def chargeback_hooks(recv: Receiver) -> list[dict[str, object]] | None:
        bodies = [r.json() for r in recv.snapshot() if r.json()["type"].startswith("chargeback.")]
        return bodies if len(bodies) >= 2 else None

    bodies = receiver.wait(chargeback_hooks, timeout=30, what="two chargeback webhooks")
    bodies.sort(key=lambda b: len(b["data"]["timeline"]))  # delivered side by side, any order
    assert [b["type"] for b in bodies] == ["chargeback.created", "chargeback.accepted"]
    for request in receiver.snapshot():
        if request.json()["type"].startswith("chargeback."):
            assert request.headers["x-komoju-signature"] == signature(
                merchant.webhook_secret, request.body
            )
            assert_schema(request.json(), "Event")
            assert_schema(request.json()["data"], "ChargebackRequestDetail")
    created, accepted = (b["data"] for b in bodies)
    assert isinstance(created, dict) and isinstance(accepted, dict)
    assert (created["id"], created["status"]) == (found["id"], "pending")
    assert accepted["status"] == "accepted"
    assert [e["type"] for e in accepted["timeline"]] == ["created", "accepted"]
