"""Small request helpers shared by the API tests (no fixtures: those live in conftest.py)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import CARD, assert_schema

ID_RE = re.compile(r"^[a-z0-9]{25}$")

# A well-formed id that no server will ever have handed out.
UNKNOWN_ID = "zzzzzzzzzzzzzzzzzzzzzzzzz"

GOOD_CARD = CARD
DECLINES = {
    "4123111111111000": "insufficient_funds",
    "4123111111111018": "exceeds_limit",
    "4123111111111034": "bad_verification_value",
    "4123111111111042": "card_expired",
    "4123111111111059": "card_declined",
    "4123111111111067": "invalid_number",
    "4123111111111075": "invalid_number",
}


def card(number: str, **overrides: Any) -> dict[str, Any]:
    cvv = "1234" if number.startswith(("34", "37")) else CARD["verification_value"]
    return {**CARD, "number": number, "verification_value": cvv, **overrides}


def create_session(client: httpx.Client, **params: Any) -> dict[str, Any]:
    """POST /sessions with a valid JPY payment session plus `params`; fail unless it works."""
    body = {"amount": 1000, "currency": "JPY", **params}
    resp = client.post("/sessions", json=body)
    assert resp.status_code == 200, (body, resp.status_code, resp.text)
    data = resp.json()
    assert_schema(data, "Session")
    return data


def pay(
    client: httpx.Client, session_id: str, details: dict[str, Any] | None = None, **extra: Any
) -> httpx.Response:
    return client.post(
        f"/sessions/{session_id}/pay", json={"payment_details": details or CARD, **extra}
    )


def pay_ok(
    client: httpx.Client, session_id: str, details: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    resp = pay(client, session_id, details, **extra)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert_schema(data, "PaySessionResponse")
    assert_schema(data["payment"], "Payment")
    return data


def get_session(client: httpx.Client, session_id: str) -> dict[str, Any]:
    resp = client.get(f"/sessions/{session_id}")
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert_schema(data, "Session")
    return data


def parse_time(value: str) -> datetime:
    """Parse an ISO 8601 timestamp; fail unless it carries a UTC offset."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None, f"timestamp without offset: {value!r}"
    return parsed


def all_values(obj: Any) -> list[Any]:
    """Every scalar (and every key) inside a JSON document."""
    out: list[Any] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.append(key)
            out.extend(all_values(value))
    elif isinstance(obj, list):
        for value in obj:
            out.extend(all_values(value))
    else:
        out.append(obj)
    return out


# --- payments, customers, tokens (contract sections 3, 4 and 6) -------------------------------

KONBINI_STORES = [
    "seven-eleven",
    "lawson",
    "family-mart",
    "ministop",
    "daily-yamazaki",
    "seicomart",
]
CASH_TYPES = ["konbini", "bank_transfer", "pay_easy"]
WALLETS = ["paypay", "linepay", "merpay", "rakutenpay", "aupay", "alipay", "wechatpay", "paidy"]
ALL_TYPES = ["credit_card", *CASH_TYPES, *WALLETS]

CSRF_RE = re.compile(r'<input[^>]*name="csrf"[^>]*value="([^"]+)"')


def cash_details(ptype: str, **overrides: Any) -> dict[str, Any]:
    """Payment details of a cash-type payment (konbini, bank_transfer, pay_easy)."""
    details: dict[str, Any] = {"type": ptype, "email": "taro@example.com"}
    if ptype == "konbini":
        details["store"] = "lawson"
    else:
        details.update(
            family_name="Yamada",
            given_name="Taro",
            family_name_kana="ヤマダ",
            given_name_kana="タロウ",
            phone="0312345678",
        )
    return {**details, **overrides}


def post_payment(client: httpx.Client, **params: Any) -> httpx.Response:
    """POST /payments: 1000 JPY with the good card unless `params` say otherwise."""
    body: dict[str, Any] = {"amount": 1000, "currency": "JPY", **params}
    if "payment_details" not in body and "customer" not in body:
        body["payment_details"] = CARD
    body = {k: v for k, v in body.items() if v is not None}
    return client.post("/payments", json=body)


# Contract section 6 lists LINE Pay among the offsite wallets, but the KOMOJU SDK's response
# schema has no `payment_details` variant for it (KOMOJU dropped LINE Pay). Such details are
# checked against the variant of a wallet with the same shape; the rest is checked as is.
SCHEMA_STAND_INS = {"linepay": "paypay"}


def sdk_view(payment: dict[str, Any]) -> dict[str, Any]:
    details = payment.get("payment_details")
    if isinstance(details, dict) and details.get("type") in SCHEMA_STAND_INS:
        details = {**details, "type": SCHEMA_STAND_INS[details["type"]]}
        return {**payment, "payment_details": details}
    return payment


def assert_payment_schema(payment: Any) -> None:
    assert_schema(sdk_view(payment), "Payment")


def assert_pay_response(data: Any) -> None:
    """A /sessions/{id}/pay response: PaySessionResponse, with its payment checked as Payment."""
    view = dict(data)
    if isinstance(view.get("payment"), dict):
        view["payment"] = sdk_view(view["payment"])
        assert_schema(view["payment"], "Payment")
    assert_schema(view, "PaySessionResponse")


def payment_of(resp: httpx.Response) -> dict[str, Any]:
    """The payment in a 200 response; fail unless it validates against the Payment schema."""
    assert resp.status_code == 200, (resp.request.method, resp.request.url, resp.text)
    data = resp.json()
    assert_payment_schema(data)
    assert data["resource"] == "payment", data
    assert ID_RE.match(data["id"]), data["id"]
    assert data["total"] == data["amount"] + data["tax"] + data["payment_method_fee"], data
    for refund in data["refunds"]:
        assert_schema(refund, "Refund")
    for request in data["refund_requests"]:
        assert_schema(request, "RefundRequest")
    return data


def create_payment(client: httpx.Client, **params: Any) -> dict[str, Any]:
    return payment_of(post_payment(client, **params))


def get_payment(client: httpx.Client, payment_id: str) -> dict[str, Any]:
    return payment_of(client.get(f"/payments/{payment_id}"))


def authorized_payment(client: httpx.Client, amount: int = 1000, **params: Any) -> dict[str, Any]:
    payment = create_payment(client, amount=amount, capture=False, **params)
    assert payment["status"] == "authorized", payment
    return payment


def assert_no_card_secrets(body: Any, number: str, cvv: str | None = None) -> None:
    """Neither the full card number (nor its first digits) nor the CVV appear in `body`."""
    text = json.dumps(body)
    assert number not in text, "full card number in response"
    assert number[:-4] not in text, "card number prefix in response"
    if cvv is not None:
        for value in all_values(body):
            assert value != cvv and value != int(cvv), f"CVV {cvv!r} in response"


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, f"no csrf input in page:\n{html[:2000]}"
    return match.group(1)


def simulate_cash_payment(base_url: str, payment_id: str, locale: str = "ja") -> httpx.Response:
    """Play the customer paying a konbini / bank transfer / pay-easy payment (test mode)."""
    with httpx.Client(base_url=base_url, timeout=30) as browser:
        page = browser.get(f"/instructions/{payment_id}")
        assert page.status_code == 200, (page.status_code, page.text[:500])
        resp = browser.post(
            f"/instructions/{payment_id}/simulate",
            data={"csrf": csrf_of(page.text), "locale": locale},
        )
        assert resp.status_code in (200, 303), (resp.status_code, resp.text[:500])
        return resp


def drive_offsite(url: str, action: str, locale: str = "ja") -> httpx.Response:
    """Open the offsite wallet test page at `url` and press "Capture" or "Fail"."""
    with httpx.Client(timeout=30) as browser:
        page = browser.get(url)
        assert page.status_code == 200, (url, page.status_code, page.text[:500])
        assert page.headers["content-type"].startswith("text/html")
        post_url = url.split("?", 1)[0]
        return browser.post(
            post_url, data={"csrf": csrf_of(page.text), "locale": locale, "action": action}
        )


def answer_3ds(url: str, password: str, locale: str = "ja") -> httpx.Response:
    """Open the simulated 3-D Secure page at `url` and submit `password`."""
    with httpx.Client(timeout=30) as browser:
        page = browser.get(url)
        assert page.status_code == 200, (url, page.status_code, page.text[:500])
        post_url = url.split("?", 1)[0]
        return browser.post(
            post_url, data={"csrf": csrf_of(page.text), "locale": locale, "password": password}
        )


def captured_cash_payment(
    client: httpx.Client, base_url: str, ptype: str = "konbini", amount: int = 1000
) -> dict[str, Any]:
    """A cash-type payment the customer has paid (status captured)."""
    payment = create_payment(client, amount=amount, payment_details=cash_details(ptype))
    assert payment["status"] == "authorized", payment
    simulate_cash_payment(base_url, payment["id"])
    paid = get_payment(client, payment["id"])
    assert paid["status"] == "captured", paid
    return paid


def assert_list(body: Any, *, total: int, page: int, per_page: int) -> list[Any]:
    """Check a list body's envelope (contract section 1, Lists); return its `data`.

    Validating it against its schema (PaymentList, CustomerList) is left to the caller, at the
    end of the test, so that a schema mismatch does not hide what the list holds.
    """
    assert body["resource"] == "list", body["resource"]
    assert body["total"] == total, (body["total"], total)
    assert body["page"] == page
    assert body["per_page"] == per_page
    if total:
        assert body["last_page"] == -(-total // per_page), body["last_page"]
    else:
        assert body["last_page"] in (0, 1), body["last_page"]
    expected = max(0, min(per_page, total - (page - 1) * per_page))
    assert len(body["data"]) == expected, (len(body["data"]), expected)
    return list(body["data"])
