"""No card number or CVV is ever stored, logged or returned.

Pays with every test card (API and hosted form), then searches the whole store, the server
log and every response for the numbers and the CVV. Run with the rest of the suite, it also
covers everything the other tests paid with, because they share the server and the store.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx

from kessai.core.cards import TEST_CARDS
from tests.conftest import Merchant, Server, run_async

CVV = "7319"  # distinctive, so a search for it means something
NUMBERS = [
    "4111111111111111",
    "5555555555554444",
    "3530111333300000",
    "378282246310005",
    "30569309025904",
    *TEST_CARDS,
]


def _store_text(server: Server) -> str:
    url = server.database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()).decode(
            "latin-1"
        )
        with sqlite3.connect(path) as conn:
            dump = "\n".join(conn.iterdump())
        return raw + dump

    async def dump_pg() -> str:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            tables = [
                r["tablename"]
                for r in await conn.fetch(
                    "select tablename from pg_tables where schemaname = 'public'"
                )
            ]
            rows = []
            for table in tables:
                rows += [r[0] for r in await conn.fetch(f'select t::text from "{table}" t')]
            return "\n".join(rows)
        finally:
            await conn.close()

    return str(run_async(dump_pg()))


def test_no_card_number_or_cvv_is_stored_logged_or_returned(
    server: Server, merchant: Merchant
) -> None:
    seen: list[str] = []
    with merchant.client() as api:
        for number in NUMBERS:
            session = api.post("/sessions", json={"amount": 1200, "currency": "JPY"}).json()
            details = {
                "type": "credit_card",
                "number": number,
                "month": 12,
                "year": 2035,
                "verification_value": CVV,
                "name": "Card Test",
            }
            response = api.post(f"/sessions/{session['id']}/pay", json={"payment_details": details})
            assert response.status_code in (200, 402), response.text
            seen.append(response.text)
            seen.append(api.get(f"/sessions/{session['id']}").text)
        # The hosted form path too (its HTML response is searched as well).
        session = api.post("/sessions", json={"amount": 1200, "currency": "JPY"}).json()
    with httpx.Client(base_url=server.base_url) as browser:
        page = browser.get(f"/sessions/{session['id']}")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        result = browser.post(
            f"/sessions/{session['id']}/pay",
            data={
                "csrf": csrf.group(1),
                "payment_type": "credit_card",
                "number": "4123111111111059",
                "month": "12",
                "year": "2035",
                "verification_value": CVV,
            },
        )
        assert result.status_code == 402
        seen.append(result.text)
        paid = browser.post(
            f"/sessions/{session['id']}/pay",
            data={
                "csrf": csrf.group(1),
                "payment_type": "credit_card",
                "number": "5555 5555 5555 4444",
                "month": "12",
                "year": "2035",
                "verification_value": CVV,
            },
        )
        assert paid.status_code == 303
    with merchant.client() as api:
        assert api.get(f"/sessions/{session['id']}").json()["status"] == "completed"

    haystacks = {
        "responses": "\n".join(seen),
        "server log": server.log_path.read_text(errors="replace"),
        "store": _store_text(server),
    }
    for where, text in haystacks.items():
        for number in NUMBERS:
            assert number not in text, f"card number ending {number[-4:]} found in {where}"
        # Bounded, so a hex digest or id that happens to contain the digits is no match.
        assert not re.search(rf"(?<![0-9a-zA-Z]){CVV}(?![0-9a-zA-Z])", text), (
            f"CVV found in {where}"
        )
    # The store does keep what the contract allows: last four digits and brand.
    assert "4444" in haystacks["store"]
