"""Secure tokens: 3-D Secure for merchants who call the Payments API directly.

`create` checks and vaults the card (or takes a saved customer's) and decides, from the
card's test behaviour (`kessai.core.cards`), what 3-D Secure asks: a frictionless card is
`OK` at once, a challenge card `NEEDS_VERIFY` with kessai's challenge page as
`authentication_url`, any other card `SKIPPED` (it has no 3-D Secure). `answer` is that
page's form: 123456 authenticates a challenge card; the "challenge that fails" and "fails
on return" cards end `ERRORED` whatever is typed, as do other passwords. Past its lifetime
an unused token is `EXPIRED`. `redeem` is the token id given as a payment's
`payment_details`: an `OK` or `SKIPPED` token pays once (a conditional update of
`used_at`), without 3-D Secure again.

The simulation belongs to kessai's simulated processor: another processor (KOMOJU itself)
would run its own 3-D Secure, so secure tokens are refused there (503).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core.cards import THREE_DS_PASSWORD, CardRule, test_card
from kessai.errors import InvalidParameter, NotFound, ProcessorUnavailable
from kessai.ids import new_id
from kessai.processors import simulated
from kessai.processors.base import Declined
from kessai.schemas.requests import CreateSecureToken
from kessai.services import calls, cards, charging, execute, phases
from kessai.services.charging import Scope, Source
from kessai.services.customers import parse_card, scope_of
from kessai.services.phases import Done, Plan
from kessai.services.runtime import Caller, Runtime
from kessai.store import secure_tokens as store

LIFETIME = timedelta(hours=24)
OK, NEEDS_VERIFY, ERRORED, SKIPPED, EXPIRED = "OK", "NEEDS_VERIFY", "ERRORED", "SKIPPED", "EXPIRED"
# What a payment accepts: authenticated, or a card without 3-D Secure.
USABLE = (OK, SKIPPED)
CHALLENGES = (
    CardRule.THREE_DS_CHALLENGE,
    CardRule.THREE_DS_CHALLENGE_FAILS,
    CardRule.THREE_DS_FAILS_ON_RETURN,
)
MESSAGE_VERSION = "2.2.0"
DS_REFERENCES = {
    "visa": "VISA.V 17 0003",
    "master": "3DS_LOA_DIS_MACI_020200_00731",
    "jcb": "3DS_LOA_DIS_JCBI_020200_00047",
}


def status_at(row: Mapping[Any, Any], now: datetime) -> str:
    """The status as of `now`: an unused token past its lifetime is EXPIRED."""
    status: str = row["verification_status"]
    if row["used_at"] is None and status in (NEEDS_VERIFY, *USABLE) and now >= row["expires_at"]:
        return EXPIRED
    return status


def authentication_url(rt: Runtime, token_id: str) -> str:
    return f"{rt.settings.base_url}/secure_tokens/{token_id}/authenticate"


def return_target(row: Mapping[Any, Any]) -> str:
    """The merchant's return_url with `secure_token_id` (its own query kept), as a
    session's return carries `session_id`."""
    parts = urlsplit(row["return_url"])
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "secure_token_id"
    ]
    query.append(("secure_token_id", row["id"]))
    return urlunsplit(parts._replace(query=urlencode(query)))


def auth_result(brand: str, *, authenticated: bool, challenged: bool) -> dict[str, str]:
    """Plausible EMV 3-D Secure values for the simulated issuer's answer."""
    if authenticated:
        eci = "02" if brand == "master" else "05"
    else:
        eci = "00" if brand == "master" else "07"
    result = {
        "messageVersion": MESSAGE_VERSION,
        "transStatus": "Y" if authenticated else "N",
        "eci": eci,
        "threeDSServerTransID": str(uuid.uuid4()),
        "dsTransID": str(uuid.uuid4()),
        "acsTransID": str(uuid.uuid4()),
        "threeDSRequestorTransID": str(uuid.uuid4()),
        "dsReferenceNumber": DS_REFERENCES.get(brand, "KESSAI-TEST-DS"),
        "acsReferenceNumber": "KESSAI-TEST-ACS",
    }
    if challenged:
        result["authenticationType"] = "02"  # dynamic: a one-time password
    if authenticated:  # the CAVV: 20 bytes, base64
        result["authenticationValue"] = base64.b64encode(secrets.token_bytes(20)).decode()
    return result


def _first_look(rule: CardRule, brand: str) -> tuple[str, dict[str, str] | None, str | None]:
    """(status, auth result, challenge) right after creation."""
    if rule is CardRule.THREE_DS_FRICTIONLESS:
        return OK, auth_result(brand, authenticated=True, challenged=False), None
    if rule in CHALLENGES:
        return NEEDS_VERIFY, None, rule.value
    return SKIPPED, None, None


async def _simulating(rt: Runtime, scope: Scope) -> None:
    processor = await rt.processor(scope.merchant_id, scope.livemode)
    if processor.name != simulated.SimulatedProcessor.name:
        raise ProcessorUnavailable(
            "Secure tokens are simulated by kessai's test processor; this mode's processor "
            f"({processor.name}) runs 3-D Secure itself. Use a session, or the test processor."
        )


def create(rt: Runtime, caller: Caller, params: CreateSecureToken) -> Plan[RowMapping | Declined]:
    """Check and vault the card (before any transaction), then keep the token."""
    scope = scope_of(caller)
    if params.customer is not None and caller.kind != "secret":
        raise InvalidParameter(
            "customer: a publishable key may create secure tokens from card payment_details "
            "only; use the secret key to create one for a saved customer",
            param="customer",
        )
    card = parse_card(params.payment_details, rt) if params.payment_details is not None else None
    vaulted: list[str | Declined] = []

    async def before() -> None:
        await _simulating(rt, scope)
        if card is not None:
            vaulted.append(
                await calls.vault(rt, scope.merchant_id, scope.livemode, card, verify=False)
            )

    async def prepare(conn: AsyncConnection) -> Done[RowMapping | Declined]:
        if card is not None:
            reference = vaulted[0]
            if isinstance(reference, Declined):  # a processor may refuse to store a card
                return Done(reference)
            rule = test_card(card.number).rule
            fields: dict[str, Any] = {
                "customer_id": None,
                "payment_details": cards.summary(card, None),
                "card_reference": reference,
                "card_fingerprint": cards.fingerprint(rt.secret, card),
            }
        else:
            fields, rule = await _customer_card(conn, scope, str(params.customer))
        status, result, challenge = _first_look(rule, fields["payment_details"]["brand"])
        now = rt.now()
        values = {
            "id": new_id(),
            **scope.kw(),
            "amount": params.amount,
            "currency": params.currency,
            "return_url": params.return_url,
            **fields,
            "verification_status": status,
            "three_ds_auth_result": result,
            "challenge": challenge,
            "created_at": now,
            "expires_at": now + LIFETIME,
            "used_at": None,
        }
        await store.insert(conn, values)
        return Done(values)  # type: ignore[arg-type]

    return Plan(prepare, phases.never, before=before)


async def _customer_card(
    conn: AsyncConnection, scope: Scope, customer_id: str
) -> tuple[dict[str, Any], CardRule]:
    """A saved customer's card, and its test behaviour (kept in the simulator's reference:
    the number is gone)."""
    customer = await charging.customer_with_card(conn, scope, customer_id)
    rule, _ = simulated.unpack(customer["card_reference"])
    fields = {
        "customer_id": customer_id,
        "payment_details": {**customer["source"], "email": customer["email"] or ""},
        "card_reference": customer["card_reference"],
        "card_fingerprint": customer["card_fingerprint"],
    }
    return fields, rule


async def get(conn: AsyncConnection, caller: Caller, token_id: str) -> RowMapping:
    row = await store.get(conn, token_id, **scope_of(caller).kw())
    if row is None:
        raise NotFound(f"No secure token {token_id!r} exists for this merchant and mode.")
    return row


async def load(rt: Runtime, token_id: str) -> RowMapping:
    """The challenge page's token (its id is the page's only credential)."""
    row = await execute.read(rt, lambda conn: store.get(conn, token_id))
    if row is None:
        raise NotFound("No such authentication page.")
    return row


async def answer(rt: Runtime, row: Mapping[Any, Any], password: str | None) -> RowMapping:
    """The challenge page's form, applied once (a second tab, or a token that expired
    meanwhile, changes nothing); the token as it is after."""
    authenticated = row["challenge"] == CardRule.THREE_DS_CHALLENGE.value and (
        password == THREE_DS_PASSWORD
    )
    result = auth_result(
        row["payment_details"].get("brand", ""), authenticated=authenticated, challenged=True
    )

    async def apply(conn: AsyncConnection) -> RowMapping:
        await store.answer(conn, row["id"], rt.now(), OK if authenticated else ERRORED, result)
        found = await store.get(conn, row["id"])
        assert found is not None
        return found

    return await execute.write(rt, apply)


def _refusal(row: Mapping[Any, Any], status: str) -> InvalidParameter:
    if row["used_at"] is not None:
        why = "was already used for a payment; create a new secure token"
    elif status == EXPIRED:
        why = "has expired (secure tokens last 24 hours); create a new one"
    elif status == NEEDS_VERIFY:
        why = "is not authenticated yet: send the customer to its authentication_url first"
    else:
        why = f"failed 3-D Secure (verification_status {status}); create a new one"
    return InvalidParameter(
        f"payment_details: secure token {row['id']} {why}", param="payment_details"
    )


async def redeem(
    conn: AsyncConnection, scope: Scope, token_id: str, now: datetime
) -> Source | None:
    """A secure token id given as `payment_details`, used up (None: no such token of this
    merchant and mode). The payment must match its amount and currency
    (`charging.pending_payment` checks, in the same transaction)."""
    row = await store.get(conn, token_id, **scope.kw())
    if row is None:
        return None
    status = status_at(row, now)
    if row["used_at"] is not None or status not in USABLE:
        raise _refusal(row, status)
    if not await store.consume(conn, token_id, now, USABLE):  # another payment won the race
        raise _refusal({**row, "used_at": now}, status)
    return Source(
        "credit_card",
        dict(row["payment_details"]),
        card_reference=row["card_reference"],
        fingerprint=row["card_fingerprint"],
        customer_id=row["customer_id"],
        customer_present=False,  # authenticated already: no 3-D Secure again
        secured=(row["amount"], row["currency"]),
    )
