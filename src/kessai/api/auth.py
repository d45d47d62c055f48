"""HTTP Basic authentication with an API key as the user name and an empty password."""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request

from kessai.errors import Forbidden, Unauthorized
from kessai.ids import digests_match, key_digest, parse_key
from kessai.services import execute
from kessai.services.runtime import Caller, Runtime
from kessai.store import merchants


def _key_from(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic" or not credentials:
        raise Unauthorized(
            "Authenticate with HTTP Basic: your API key as the user name and an empty "
            "password (curl -u sk_test_...: ...)."
        )
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("The Authorization header is not valid Basic credentials.") from None
    return decoded.partition(":")[0]


async def authenticate(rt: Runtime, request: Request, *, secret_only: bool) -> Caller:
    key = _key_from(request)
    if parse_key(key) is None:
        raise Unauthorized("Unknown API key. Check the key and its mode (test or live).")
    digest = key_digest(key)
    owner = rt.keys.get(digest)
    if owner is None:
        owner = await execute.read(rt, lambda conn: merchants.find_key(conn, digest))
        if owner is not None:
            rt.keys.put(digest, owner)
    if owner is None or not digests_match(owner.key_digest, digest):
        raise Unauthorized("Unknown API key. Check the key and its mode (test or live).")
    if secret_only and owner.kind != "secret":
        raise Forbidden(
            "This endpoint needs your secret key; publishable keys may only show or pay "
            "sessions, create tokens and list payment methods."
        )
    return Caller(owner.merchant_id, owner.merchant_name, owner.livemode, owner.kind)
