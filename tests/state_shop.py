"""A merchant with one or more objects of every kind, made through a real server's API and
its test clock (for `kessai export|import|reset`: tests/test_state.py), and every answer
the API gives about them, to compare before and after.

The card's verification value is one no other field holds (`CVV`), so a test can look
for it in an export; card numbers are the simulated processor's test cards.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.api.helpers import cash_details, csrf_of, simulate_cash_payment
from tests.conftest import CARD, KESSAI, Merchant, Server, wait_for

CVV = "987"
GOOD = "4111111111111111"
DECLINED = "4123111111111059"
WON = "4123111111111208"  # a chargeback test card whose defense wins
NUMBERS = (GOOD, DECLINED, WON)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
ACCOUNT = {
    "currency": "JPY",
    "account_number": "1234567",
    "account_type": "ordinary",
    "account_name_kana": "ﾔﾏﾀﾞ ﾀﾛｳ",
    "bank_code": "0001",
    "branch_code": "001",
}
BANK = {
    "customer_name": "ﾔﾏﾀﾞ ﾀﾛｳ",
    "bank_name": "Mizuho",
    "branch_number": "123",
    "account_type": "normal",
    "account_number": "7654321",
    "include_payment_method_fee": False,
}
DAY = 86_400
LOCAL = re.compile(r"http://127\.0\.0\.1:[0-9]+")


def card(number: str = GOOD) -> dict[str, Any]:
    return {**CARD, "number": number, "verification_value": CVV}


def ok(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, (resp.request.method, str(resp.request.url), resp.text)
    return dict(resp.json())


def cli(
    database_url: str, *args: str, stdin: bytes | None = None, workdir: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """`kessai ARGS` on the store at `database_url`, `stdin` its input (empty if None)."""
    return subprocess.run(
        [*KESSAI, *args],
        env={**os.environ, "KESSAI_DATABASE_URL": database_url},
        cwd=workdir,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=300,
    )


def text(out: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[str]:
    """A finished command's output as text (for `assert_one_line_failure`)."""
    return subprocess.CompletedProcess(
        out.args, out.returncode, out.stdout.decode(), out.stderr.decode()
    )


@dataclass
class Made:
    """The ids of what `build` made, by kind."""

    ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, object_id: str) -> str:
        self.ids.setdefault(kind, []).append(object_id)
        return object_id


def admin_url(merchant: Merchant, path: str) -> str:
    return f"{merchant.server.base_url}/kessai/v1{path}"


def build(merchant: Merchant, hook_url: str) -> Made:
    """Objects of every kind for `merchant` (test mode, and a little of live mode)."""
    made = Made()
    auth = (merchant.secret_key, "")
    hook = {"url": hook_url}
    made.add(
        "endpoint",
        ok(httpx.post(admin_url(merchant, "/webhook_endpoints"), json=hook, auth=auth))["id"],
    )
    with merchant.client() as api:

        def post(path: str, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
            return ok(api.post(path, json=body, headers=headers))

        def pay(number: str = GOOD, amount: int = 1000, **params: Any) -> str:
            body = {"amount": amount, "currency": "JPY", "payment_details": card(number)}
            return made.add("payment", post("/payments", **{**body, **params})["id"])

        refunded = pay(amount=10_000, tax=1000)
        post(f"/payments/{refunded}/refund", amount=300, description="part")
        post(f"/payments/{pay(amount=2500)}/refund")
        post(f"/payments/{pay(capture=False, description='later')}/capture")
        post(f"/payments/{pay(capture=False, metadata={'order': 'A-1'})}/cancel")
        declined = api.post(
            "/payments", json={"amount": 700, "currency": "JPY", "payment_details": card(DECLINED)}
        )
        assert declined.status_code == 402, declined.text
        made.add("payment", declined.json()["error"]["details"]["payment"]["id"])
        konbini = pay(amount=1800, payment_details=cash_details("konbini"))
        simulate_cash_payment(merchant.server.base_url, konbini)
        post(f"/payments/{konbini}/refund_request", amount=1800, **BANK)
        pay(amount=600, headers={"X-KOMOJU-IDEMPOTENCY": "state-test-1"})

        # Customers, tokens, a subscription (its first charge is a payment too).
        saved = made.add(
            "customer",
            post(
                "/customers",
                email="saved@example.com",
                payment_details=card(),
                metadata={"tier": "gold"},
            )["id"],
        )
        made.add("customer", post("/customers", email="bare@example.com")["id"])
        gone = made.add("customer", post("/customers", email="gone@example.com")["id"])
        assert api.delete(f"/customers/{gone}").status_code == 200
        plan = {"customer": saved, "currency": "JPY"}
        made.add(
            "subscription", post("/subscriptions", amount=1980, period="monthly", **plan)["id"]
        )
        ended = made.add(
            "subscription", post("/subscriptions", amount=500, period="weekly", **plan)["id"]
        )
        assert api.delete(f"/subscriptions/{ended}").status_code == 200
        with merchant.client(merchant.publishable_key) as public:
            token = ok(public.post("/tokens", json={"payment_details": card()}))
        pay(amount=1200, payment_details=token["id"])
        made.add(
            "secure_token",
            post(
                "/secure_tokens",
                amount=1000,
                currency="JPY",
                return_url="https://shop.example/back",
                payment_details=card(),
            )["id"],
        )

        # A session paid through the API, one cancelled.
        session = made.add(
            "session",
            post("/sessions", amount=1500, currency="JPY", return_url="https://shop.example/done")[
                "id"
            ],
        )
        paid = post(f"/sessions/{session}/pay", payment_details=card())
        made.add("payment", paid["payment"]["id"])
        cancelled = made.add("session", post("/sessions", amount=900, currency="JPY")["id"])
        post(f"/sessions/{cancelled}/cancel")

        # A chargeback defended with a document, two disbursements (one cancelled).
        disputed = pay(WON, amount=3000)
        chargeback = made.add(
            "chargeback", post(admin_url(merchant, "/chargebacks"), payment_id=disputed)["id"]
        )
        document = {"document_base64": base64.b64encode(PNG).decode(), "filename": "r.png"}
        defended = api.post(
            f"/chargeback_requests/{chargeback}/defend",
            json={"description": "Signed for.", "document": document},
        )
        assert defended.status_code in (200, 204), defended.text
        payout = made.add("disbursement", post("/disbursements", **ACCOUNT, amount=500)["id"])
        stopped = made.add("disbursement", post("/disbursements", **ACCOUNT, amount=300)["id"])
        post(f"/disbursements/{stopped}/cancel", cancel_reason="Wrong account")

        # The clock over the settlement cut-off: the first disbursement is paid, the defense
        # decided, and everything so far settled.
        cutoff = ok(httpx.get(admin_url(merchant, "/ledger/settings"), auth=auth))
        merchant.move_clock(now=cutoff["next_cutoff_at"])
        merchant.move_clock(advance_seconds=6 * DAY)
        for settlement in ok(api.get("/settlements"))["data"]:
            made.add("settlement", settlement["id"])
        assert made.ids.get("settlement"), "the clock made no settlement"
        assert ok(api.get(f"/disbursements/{payout}"))["status"] == "paid"

        # After the clock moved: what is still open (a session, an authorization, a
        # konbini payment not yet paid, a wallet waiting for its page), a card kept.
        made.add("session", post("/sessions", amount=400, currency="JPY")["id"])
        pay(amount=800, capture=False)
        pay(amount=1100, payment_details=cash_details("konbini"))
        pay(amount=1300, payment_details={"type": "paypay"})
        made.add("session", keep_card(merchant, api, "user-1"))
    with merchant.client(merchant.live_secret_key) as live:
        customer = ok(live.post("/customers", json={"email": "live@example.com"}))
        made.add("live_customer", customer["id"])
    komoju = ["--api-url", "https://komoju.invalid", "--secret-key", "sk_live_state_test_1234"]
    out = cli(merchant.server.database_url, "processor", "set", "--merchant", merchant.id,
              "--mode", "live", "komoju", *komoju)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return made


def keep_card(merchant: Merchant, api: httpx.Client, external_id: str) -> str:
    """A session paid on the hosted page by a customer who keeps the card (one-click)."""
    session = ok(
        api.post(
            "/sessions",
            json={
                "amount": 700,
                "currency": "JPY",
                "external_customer_id": external_id,
                "default_locale": "en",
                "return_url": "https://shop.example/done",
            },
        )
    )
    with httpx.Client(base_url=merchant.server.base_url, timeout=30) as browser:
        page = browser.get(f"/sessions/{session['id']}")
        form = {
            "csrf": csrf_of(page.text),
            "locale": "en",
            "payment_type": "credit_card",
            "number": GOOD,
            "month": "12",
            "year": str(CARD["year"]),
            "verification_value": CVV,
            "name": "Hanako Sato",
            "keep_card": "yes",
        }
        resp = browser.post(f"/sessions/{session['id']}/pay", data=form)
        assert resp.status_code == 303, resp.text[:500]
    assert ok(api.get(f"/sessions/{session['id']}"))["status"] == "completed"
    return str(session["id"])


def delivered(merchant: Merchant) -> list[str]:
    """Every event id, once each has its deliveries done (none pending)."""
    key = (merchant.secret_key, "")

    def done() -> list[str] | None:
        events = ok(
            httpx.get(
                f"{merchant.server.base_url}/api/v1/events", params={"per_page": 100}, auth=key
            )
        )["data"]
        for event in events:
            found = ok(
                httpx.get(admin_url(merchant, f"/events/{event['id']}/deliveries"), auth=key)
            )
            if not found["deliveries"] or any(
                d["status"] == "pending" for d in found["deliveries"]
            ):
                return None
        return [event["id"] for event in events]

    return wait_for(done, what="every event delivered", timeout=90)


# What the API lists, and shows one by one: (kind in `Made`, path under /api/v1).
LISTS = ("payments", "customers", "subscriptions", "events", "settlements",
         "chargeback_requests", "disbursements")  # fmt: skip
OBJECTS = (("payment", "payments"), ("session", "sessions"), ("customer", "customers"),
           ("subscription", "subscriptions"), ("settlement", "settlements"),
           ("chargeback", "chargeback_requests"), ("disbursement", "disbursements"),
           ("secure_token", "secure_tokens"), ("event", "events"))  # fmt: skip
# Lists over a fixed range: an open one shows the time of the request.
MANY: dict[str, Any] = {
    "per_page": 100,
    "start_time": "2000-01-01T00:00:00Z",
    "end_time": "2200-01-01T00:00:00Z",
}


def answers(server: Server, merchant: Merchant, made: Made) -> dict[str, Any]:
    """Every answer the API gives about the merchant's objects: path -> status and body.
    Servers' addresses are written as BASE: objects keep the links their server made
    (instructions, barcodes, documents), which name the server that exported them."""
    out: dict[str, Any] = {}
    assert merchant.live_secret_key is not None
    test = httpx.Client(base_url=server.base_url, auth=(merchant.secret_key, ""), timeout=30)
    live = httpx.Client(base_url=server.base_url, auth=(merchant.live_secret_key, ""), timeout=30)

    def get(path: str, client: httpx.Client = test, **params: Any) -> None:
        """Its status and body (a deleted customer's 404 is an answer too)."""
        resp = client.get(path, params=params)
        assert resp.status_code in (200, 404), (path, resp.text)
        kind = resp.headers["content-type"]
        body = resp.text if "json" in kind or "text" in kind else base64.b64encode(resp.content)
        mode = "live " if client is live else ""
        out[f"{mode}{path}?{params}"] = LOCAL.sub("BASE", f"{resp.status_code} {body!s}")

    with test, live:
        for listing in LISTS:
            get(f"/api/v1/{listing}", **MANY)
        for kind, path in OBJECTS:
            for object_id in made.ids.get(kind, []):
                get(f"/api/v1/{path}/{object_id}")
        for settlement in made.ids.get("settlement", []):
            get(f"/api/v1/settlements/{settlement}/csv")
        for chargeback in made.ids.get("chargeback", []):
            get(f"/kessai/v1/chargebacks/{chargeback}/document")
        for event in made.ids.get("event", []):
            get(f"/kessai/v1/events/{event}/deliveries")
        get("/api/v1/balances/JPY")
        get("/api/v1/balances/JPY/transactions", **MANY)
        get("/kessai/v1/webhook_endpoints")
        get("/kessai/v1/ledger/settings")
        get("/api/v1/customers", live, **MANY)
        for customer in made.ids.get("live_customer", []):
            get(f"/api/v1/customers/{customer}", live)
        out["clock offset"] = test.get("/kessai/v1/clock").json()["offset_seconds"]
    return out
