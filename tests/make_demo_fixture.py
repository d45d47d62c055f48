"""Make `fixtures/demo.json`, the demo merchant CI imports (docs/export-format.md):

    .venv/bin/python -m tests.make_demo_fixture fixtures/demo.json

It runs a real server on a store of its own, makes the objects through the API, exports
the merchant's test mode with `kessai export`, and then makes the file predictable: every
id is renamed after its table (`demopayments000000000001`), the API keys are replaced by
the known ones below (a key exists only as its digest and hint, so the file holds those),
the webhook endpoint's secret by a known one, and the server's address by kessai's default
(http://127.0.0.1:8000), so CI can hard-code them; the one delivery (the new endpoint's
ping, which nobody received) is left out. Run it again after a migration (the
file names the schema revision it was exported at; `kessai import` refuses any other).

Every object is in a state time does not change (captured, refunded, cancelled, failed,
paid; the subscription ended), and the clock was moved over the settlement cut-off: an
import years later answers the same.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from kessai.ids import key_digest
from kessai.store.merchants import key_hint
from tests.api.helpers import cash_details, simulate_cash_payment
from tests.conftest import CARD, served
from tests.state_shop import DECLINED, admin_url, cli, ok

SECRET_KEY = "sk_test_kessai_demo_secret"
PUBLISHABLE_KEY = "pk_test_kessai_demo_publishable"
WEBHOOK_URL = "http://127.0.0.1:8089/webhooks"
WEBHOOK_SECRET = "kessai_demo_webhook_secret_0123456789abcdef"
BASE_URL = "http://127.0.0.1:8000"
MERCHANT_ID = "demomerchant0000000000001"


def make(workdir: Path) -> dict[str, Any]:
    with served(workdir) as server:
        merchant = server.merchant("Kessai Demo Shop")
        card = {**CARD, "name": "Taro Yamada"}
        with merchant.client() as api:

            def pay(**params: Any) -> dict[str, Any]:
                body = {"amount": 1000, "currency": "JPY", "payment_details": card, **params}
                return ok(api.post("/payments", json=body))

            captured = pay(amount=5000, tax=500, external_order_num="demo-order-1",
                           metadata={"order": "demo-order-1"})  # fmt: skip
            ok(api.post(f"/payments/{captured['id']}/refund", json={"amount": 1000}))
            refunded = pay(amount=2000, description="refunded in full")
            ok(api.post(f"/payments/{refunded['id']}/refund", json={}))
            cancelled = pay(amount=3000, capture=False)
            ok(api.post(f"/payments/{cancelled['id']}/cancel"))
            declined = {"amount": 1500, "currency": "JPY",
                        "payment_details": {**card, "number": DECLINED}}  # fmt: skip
            assert api.post("/payments", json=declined).status_code == 402
            konbini = pay(amount=1800, payment_details=cash_details("konbini"))
            simulate_cash_payment(server.base_url, konbini["id"])
            session = ok(api.post("/sessions", json={"amount": 1200, "currency": "JPY",
                         "return_url": "https://shop.example/thanks"}))  # fmt: skip
            ok(api.post(f"/sessions/{session['id']}/pay", json={"payment_details": card}))
            customer = ok(api.post("/customers", json={"email": "demo@example.com",
                          "payment_details": card, "metadata": {"plan": "gold"}}))  # fmt: skip
            subscription = ok(api.post("/subscriptions", json={"customer": customer["id"],
                              "amount": 1980, "currency": "JPY", "period": "monthly"}))  # fmt: skip
            assert api.delete(f"/subscriptions/{subscription['id']}").status_code == 200
            auth = (merchant.secret_key, "")
            cutoff = ok(httpx.get(admin_url(merchant, "/ledger/settings"), auth=auth))
            merchant.move_clock(now=cutoff["next_cutoff_at"])
            assert ok(api.get("/settlements"))["total"] == 1
        ok(httpx.post(admin_url(merchant, "/webhook_endpoints"), json={"url": WEBHOOK_URL},
                      auth=auth))  # fmt: skip
        out = cli(server.database_url, "export", "--merchant", merchant.id, "--mode", "test")
        assert out.returncode == 0, out.stderr
        return predictable(json.loads(out.stdout), server.base_url)


def predictable(document: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The export with known keys, secret and address, and ids named after their tables."""
    tables = document["tables"]
    for row in tables["api_keys"]:
        key = SECRET_KEY if row["kind"] == "secret" else PUBLISHABLE_KEY
        row.update(key_digest=key_digest(key), key_hint=key_hint(key))
    [endpoint] = tables["webhook_endpoints"]
    endpoint["secret"] = WEBHOOK_SECRET
    # The endpoint's ping found nobody listening: CI starts with no delivery to retry.
    tables["webhook_deliveries"], tables["webhook_attempts"] = [], []
    names = {document["merchant"]["id"]: MERCHANT_ID}
    for table, rows in tables.items():
        tag = "demo" + table.replace("_", "")[:12]
        ordered = sorted(
            (row for row in rows if isinstance(row.get("id"), str)),
            key=lambda row: (row.get("created_at") or row.get("happened_at") or "", row["id"]),
        )
        for n, row in enumerate(ordered, start=1):
            names[row["id"]] = tag + str(n).zfill(25 - len(tag))
    text = json.dumps(document)
    for old, new in names.items():
        text = text.replace(old, new)
    text = text.replace(base_url, BASE_URL)
    renamed: dict[str, Any] = json.loads(text)
    return renamed


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("fixtures/demo.json")
    with tempfile.TemporaryDirectory() as workdir:
        document = make(Path(workdir))
    text = json.dumps(document, indent=2, ensure_ascii=True) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    print(f"wrote {target} ({len(text)} bytes, sha256 {digest}…)")


if __name__ == "__main__":
    main()
