"""The KOMOJU API through the gateway with G's live key: every money move happens once at
the upstream, on the payment the gateway marked with its own id, and both sides agree on
status and refunds after each step."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.api.helpers import DECLINES, answer_3ds, card, drive_offsite, payment_of
from tests.conftest import CARD, assert_error, wait_for
from tests.gateway.conftest import (
    Pair,
    all_pages,
    assert_mirrored,
    delivered,
    the_upstream_payment,
    upstream_payments_of,
)


def pay(live: httpx.Client, **params: Any) -> dict[str, Any]:
    body = {"amount": 1000, "currency": "JPY", "payment_details": CARD, **params}
    return payment_of(live.post("/payments", json=body))


def mirrored(pair: Pair, payment: dict[str, Any]) -> dict[str, Any]:
    """The gateway's payment as it reads now, checked against the upstream's one."""
    with pair.live() as live, pair.up() as up:
        now = payment_of(live.get(f"/payments/{payment['id']}"))
        assert_mirrored(now, the_upstream_payment(up, payment["id"]))
        return now


def test_captured_card_payment_is_one_upstream_payment_and_one_webhook(pair: Pair) -> None:
    with pair.live() as live, pair.up() as up:
        payment = pay(live, amount=1234, external_order_num="order-1234")
        assert payment["status"] == "captured", payment
        assert payment["external_order_num"] == "order-1234"
        upstream = the_upstream_payment(up, payment["id"])
    assert_mirrored(payment, upstream)
    assert upstream["amount"] == 1234 and upstream["status"] == "captured"
    assert upstream["payment_details"]["last_four_digits"] == "1111"
    assert "number" not in upstream["payment_details"]
    assert set(upstream["metadata"]) == {"kessai_payment", "kessai_operation"}
    hook = delivered(pair, "payment.captured", payment["id"]).json()
    assert hook["data"]["status"] == "captured"
    assert hook["data"]["amount"] == 1234
    assert hook["data"]["external_order_num"] == "order-1234"  # the merchant's, not kessai's


def test_authorize_partial_capture_partial_refunds(pair: Pair) -> None:
    with pair.live() as live:
        payment = pay(live, amount=5000, capture=False)
        assert payment["status"] == "authorized", payment
        mirrored(pair, payment)

        captured = payment_of(
            live.post(f"/payments/{payment['id']}/capture", json={"amount": 3000})
        )
        assert (captured["status"], captured["amount"]) == ("captured", 3000), captured
        mirrored(pair, captured)

        once = payment_of(live.post(f"/payments/{payment['id']}/refund", json={"amount": 1000}))
        assert (once["status"], once["amount_refunded"]) == ("captured", 1000), once
        mirrored(pair, once)

        too_much = live.post(f"/payments/{payment['id']}/refund", json={"amount": 2001})
        assert too_much.status_code in (400, 422), too_much.text
        mirrored(pair, once)  # nothing moved on either side

        rest = payment_of(live.post(f"/payments/{payment['id']}/refund", json={"amount": 2000}))
        assert (rest["status"], rest["amount_refunded"]) == ("refunded", 3000), rest
    done = mirrored(pair, rest)
    with pair.up() as up:
        refunds = the_upstream_payment(up, payment["id"])["refunds"]
    assert sorted(r["amount"] for r in refunds) == [1000, 2000], refunds
    assert done["refunds"] and sum(r["amount"] for r in done["refunds"]) == 3000
    delivered(pair, "payment.authorized", payment["id"])
    delivered(pair, "payment.captured", payment["id"])
    delivered(pair, "payment.refunded", payment["id"])


def test_cancel_an_authorization(pair: Pair) -> None:
    with pair.live() as live:
        payment = pay(live, amount=2000, capture=False)
        cancelled = payment_of(live.post(f"/payments/{payment['id']}/cancel"))
        assert cancelled["status"] == "cancelled", cancelled
        mirrored(pair, cancelled)
        again = live.post(f"/payments/{payment['id']}/capture")
        assert again.status_code in (400, 422), again.text
    mirrored(pair, cancelled)
    delivered(pair, "payment.cancelled", payment["id"])


@pytest.mark.parametrize(("number", "code"), sorted(DECLINES.items()))
def test_test_card_declines_are_402_with_their_code(pair: Pair, number: str, code: str) -> None:
    with pair.live() as live:
        resp = live.post(
            "/payments", json={"amount": 1000, "currency": "JPY", "payment_details": card(number)}
        )
        body = assert_error(resp, 402, code)
        failed = body["error"]["details"]["payment"]
        assert failed["status"] == "failed", failed
    mirrored(pair, failed)


def test_tokens_customers_and_a_payment_by_customer_vault_upstream(pair: Pair) -> None:
    with pair.live() as live, pair.up() as up:
        token = live.post("/tokens", json={"payment_details": CARD})
        assert token.status_code == 200, token.text
        assert token.json()["payment_details"]["last_four_digits"] == "1111"
        by_token = pay(live, amount=700, payment_details=token.json()["id"])
        assert by_token["status"] == "captured", by_token
        assert_mirrored(by_token, the_upstream_payment(up, by_token["id"]))
        reused = live.post(
            "/payments",
            json={"amount": 700, "currency": "JPY", "payment_details": token.json()["id"]},
        )
        assert reused.status_code >= 400, reused.text  # a token pays once

        before = {c["id"] for c in all_pages(up, "/customers")}
        made = live.post("/customers", json={"payment_details": CARD, "email": "g@example.com"})
        assert made.status_code == 200, made.text
        customer = made.json()
        new = [c for c in all_pages(up, "/customers") if c["id"] not in before]
        assert len(new) == 1, new  # the card is vaulted upstream, as a KOMOJU customer
        assert new[0]["source"]["last_four_digits"] == "1111"

        by_customer = pay(live, amount=800, payment_details=None, customer=customer["id"])
        assert by_customer["customer"] == customer["id"]
        upstream = the_upstream_payment(up, by_customer["id"])
        assert upstream["customer"] == new[0]["id"], upstream
        assert_mirrored(by_customer, upstream)

        declined = live.post(
            "/customers", json={"payment_details": card("4123111111111059"), "email": "d@ex.com"}
        )
        assert_error(declined, 402, "card_declined")


def test_same_idempotency_key_twice_is_one_upstream_payment(pair: Pair) -> None:
    key = {"X-KOMOJU-IDEMPOTENCY": f"order-{secrets.token_hex(6)}"}
    body = {"amount": 4321, "currency": "JPY", "payment_details": CARD, "capture": False}
    with pair.live() as live, pair.up() as up:
        first = payment_of(live.post("/payments", json=body, headers=key))
        second = payment_of(live.post("/payments", json=body, headers=key))
        assert second == first
        assert_mirrored(first, the_upstream_payment(up, first["id"]))

        capture_key = {"X-KOMOJU-IDEMPOTENCY": f"capture-{secrets.token_hex(6)}"}
        path = f"/payments/{first['id']}/capture"
        captured = payment_of(live.post(path, json={}, headers=capture_key))
        assert payment_of(live.post(path, json={}, headers=capture_key)) == captured

        refund_key = {"X-KOMOJU-IDEMPOTENCY": f"refund-{secrets.token_hex(6)}"}
        path = f"/payments/{first['id']}/refund"
        refunded = payment_of(live.post(path, json={"amount": 21}, headers=refund_key))
        assert payment_of(live.post(path, json={"amount": 21}, headers=refund_key)) == refunded
        assert refunded["amount_refunded"] == 21

        upstream = the_upstream_payment(up, first["id"])
        assert [r["amount"] for r in upstream["refunds"]] == [21], upstream
        assert_mirrored(refunded, upstream)
        assert len(upstream_payments_of(up, first["id"])) == 1


def test_upstream_webhooks_reach_the_gateway_and_are_accepted(pair: Pair) -> None:
    """The upstream tells the gateway about every payment it made; for one the gateway
    already settled through the API, the notice is accepted and changes nothing."""
    with pair.live() as live, pair.up() as up:
        payment = pay(live, amount=999)
        upstream = the_upstream_payment(up, payment["id"])
    admin = pair.admin(pair.u, pair.u.secret_key)

    def accepted() -> dict[str, Any] | None:
        with pair.up() as up:
            for event in all_pages(up, "/events"):
                if event["type"] == "payment.captured" and event["data"]["id"] == upstream["id"]:
                    resp = admin.get(f"/events/{event['id']}/deliveries")
                    assert resp.status_code == 200, resp.text
                    for delivery in resp.json()["deliveries"]:
                        if delivery["delivered_at"]:
                            return dict(delivery)
        return None

    with admin:
        delivery = wait_for(accepted, what="the upstream's payment.captured at the gateway")
    assert delivery["endpoint"] == pair.upstream_hook_id
    last = delivery["attempts"][-1]
    assert last["status_code"] == 200, delivery
    assert '"result":"unchanged"' in (last["response"] or ""), delivery
    with pair.live() as live:
        assert payment_of(live.get(f"/payments/{payment['id']}")) == payment


@pytest.mark.parametrize("email", [None, "w@example.com"])
def test_wallet_payment_goes_to_the_upstreams_page_and_back(pair: Pair, email: str | None) -> None:
    """A PayPay payment by API (the merchant sent no email, or one): pending, with the
    upstream's offsite page as redirect_url; "Capture" there sends the customer back to
    the gateway's /payments/{id}/return, which settles it."""
    details = {"type": "paypay", **({"email": email} if email else {})}
    with pair.live() as live:
        payment = pay(live, amount=1800, payment_details=details)
    assert payment["status"] == "pending", payment
    redirect = payment["payment_details"]["redirect_url"]
    assert redirect.startswith(f"{pair.upstream.base_url}/offsite/"), redirect

    answered = drive_offsite(redirect, "capture")
    assert answered.status_code == 303, answered.text
    back = answered.headers["location"]
    assert back.startswith(f"{pair.gateway.base_url}/payments/{payment['id']}/return"), back
    assert httpx.get(back, timeout=30).status_code == 303  # on to the payment's done page

    done = mirrored(pair, payment)
    assert done["status"] == "captured", done
    delivered(pair, "payment.captured", payment["id"])


@pytest.mark.parametrize(("password", "status"), [("123456", "captured"), ("111111", "failed")])
def test_three_d_secure_on_the_upstreams_page_settles_the_gateway_payment(
    pair: Pair, password: str, status: str
) -> None:
    with pair.live() as live:
        payment = pay(live, amount=2600, payment_details=card("4100000000005000"))
    assert payment["status"] == "pending", payment
    challenge = payment["payment_details"]["redirect_url"]
    assert challenge.startswith(f"{pair.upstream.base_url}/three_d_secure/"), challenge

    answered = answer_3ds(challenge, password)
    assert answered.status_code == 303, answered.text
    back = answered.headers["location"]
    assert back.startswith(f"{pair.gateway.base_url}/payments/{payment['id']}/return"), back
    assert httpx.get(back, timeout=30).status_code == 303

    done = mirrored(pair, payment)
    assert done["status"] == status, done
    assert "redirect_url" not in done["payment_details"]
    delivered(pair, f"payment.{status}", payment["id"])


def test_the_gateways_komoju_webhook_checks_its_signature(pair: Pair) -> None:
    url = f"{pair.gateway.base_url}/kessai/v1/processors/komoju/webhooks/{pair.g.id}"
    body = b'{"id":"evt_forged","type":"payment.captured","data":{}}'
    forged = httpx.post(url, content=body, headers={"X-Komoju-Signature": "0" * 64})
    assert_error(forged, 401, "unauthorized")
    unsigned = httpx.post(url, content=body)
    assert_error(unsigned, 401, "unauthorized")
    other = (
        f"{pair.gateway.base_url}/kessai/v1/processors/komoju/webhooks/zzzzzzzzzzzzzzzzzzzzzzzzz"
    )
    assert_error(httpx.post(other, content=body), 404, "not_found")


def test_the_customers_locale_reaches_the_upstreams_pages(pair: Pair) -> None:
    with pair.live() as live, pair.up() as up:
        payment = pay(live, locale="en", payment_details=card("4100000000005000"))
        assert payment["status"] == "pending" and payment["locale"] == "en", payment
        assert the_upstream_payment(up, payment["id"])["locale"] == "en"


def test_konbini_expired_upstream_expires_the_gateway_payment(pair: Pair) -> None:
    """The gateway leaves a KOMOJU cash payment's deadline to KOMOJU: when the upstream's
    (test) clock passes it, its payment.expired webhook expires the gateway's payment."""
    details = {"type": "konbini", "store": "seven-eleven", "email": "k@example.com"}
    with pair.live() as live:
        payment = pay(live, amount=1500, payment_details=details)
    assert payment["status"] == "authorized", payment
    mirrored(pair, payment)

    # U's clock stays 8 days ahead for the rest of the module: only U's own deadlines move
    # (G is in live mode, whose clock is the real time): the expiry seen below can only
    # come from the upstream's webhook.
    with pair.admin(pair.u, pair.u.secret_key) as up_admin:
        moved = up_admin.post("/clock", json={"advance_seconds": 8 * 24 * 3600}, timeout=120)
        assert moved.status_code == 200, moved.text

    def expired() -> dict[str, Any] | None:
        with pair.live() as live:
            now = payment_of(live.get(f"/payments/{payment['id']}"))
        return now if now["status"] == "expired" else None

    wait_for(expired, what="the upstream's payment.expired to reach the gateway")
    mirrored(pair, payment)
    delivered(pair, "payment.expired", payment["id"])


def test_customer_back_after_the_webhook_settled_it_still_goes_to_the_shop(pair: Pair) -> None:
    shop = "http://127.0.0.1:9/thanks?order=3"
    with pair.live() as live:
        made = live.post(
            "/sessions",
            json={
                "amount": 3300,
                "currency": "JPY",
                "payment_types": ["paypay"],
                "return_url": shop,
            },
        )
        assert made.status_code == 200, made.text
        session = made.json()
        paid = live.post(
            f"/sessions/{session['id']}/pay", json={"payment_details": {"type": "paypay"}}
        )
        assert paid.status_code == 200, paid.text
        payment = paid.json()["payment"]
    answered = drive_offsite(payment["payment_details"]["redirect_url"], "capture")
    back = answered.headers["location"]
    assert back.startswith(f"{pair.gateway.base_url}/payments/{payment['id']}/return"), back

    # The upstream's payment.captured reaches the gateway before the customer does.
    def settled() -> dict[str, Any] | None:
        with pair.live() as live:
            now = live.get(f"/sessions/{session['id']}").json()
        return now if now["status"] == "completed" else None

    wait_for(settled, what="the upstream's webhook to complete the gateway session")
    mirrored(pair, payment)
    arrived = httpx.get(back, timeout=30)
    assert arrived.status_code == 303, arrived.text
    assert arrived.headers["location"] == f"{shop}&session_id={session['id']}"
