"""HTTP Basic authentication with an API key as the user name and an empty password.

What a request costs before it is known to be someone's:

1. A header that is not Basic credentials, or a user name that is not shaped like a key,
   is refused without a lookup (429 instead once step 3 applies).
2. A key found in this process's cache of known keys needs no lookup and no limiter call
   (a key a lookup found is remembered for `KESSAI_AUTH_CACHE_SECONDS`).
3. Any other request from an address that has spent its failed-authentication budget gets
   429 at once.
4. A key recently found to be no one's (the negative cache, kept in the rate-limit store,
   so shared by every process when that store is Redis) is refused without a lookup.
5. Only then is the store asked, once however many requests carry the key at the same
   time (`RateLimiter.once`); an unknown key is remembered as unknown.

Only a 401 counts against the address's failed-authentication budget (a malformed header,
or a key found to be no one's), so valid keys never spend it, however many merchants share
one address. The count comes after the verdict: requests already in flight when the budget
runs out can each still cost one lookup (one per distinct key). A known key counts against
its own limits (tighter on the endpoints that take card details).
"""

from __future__ import annotations

import base64
import re

from prometheus_client import Counter
from starlette.requests import Request

from kessai.edge.middleware import client_address
from kessai.errors import Forbidden, Unauthorized
from kessai.ids import digests_match, key_digest, parse_key
from kessai.observe import context
from kessai.services import clocks, execute
from kessai.services.runtime import Caller, Runtime
from kessai.store import merchants
from kessai.store.merchants import KeyOwner

STORE_LOOKUPS = Counter(
    "kessai_auth_store_lookups",
    "API keys looked up in the store (cache and negative-cache misses).",
)
CARD_PATHS = re.compile(r"^/api/v1/(sessions/[^/]+/pay|tokens|secure_tokens)/?$")
MAX_KEY_LENGTH = 200
UNKNOWN = "Unknown API key. Check the key and its mode (test or live)."


def key_from(header: str) -> str:
    """The API key in an `Authorization: Basic ...` header; 401 for anything else."""
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic" or not credentials.strip():
        raise Unauthorized(
            "Authenticate with HTTP Basic: your API key as the user name and an empty "
            "password (curl -u sk_test_...: ...)."
        )
    try:
        # Headers arrive as latin-1 text: anything outside ASCII is not base64.
        raw = base64.b64decode(credentials.strip().encode("ascii"), validate=True)
        decoded = raw.decode("utf-8")
    except (ValueError, UnicodeError):  # binascii.Error is a ValueError
        raise Unauthorized("The Authorization header is not valid Basic credentials.") from None
    key = decoded.partition(":")[0]
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise Unauthorized(UNKNOWN)
    if parse_key(key) is None:
        raise Unauthorized(UNKNOWN)
    return key


async def _lookup(rt: Runtime, digest: str) -> KeyOwner | None:
    STORE_LOOKUPS.inc()
    found = await execute.read(rt, lambda conn: merchants.find_key(conn, digest))
    if found is None or not digests_match(found.key_digest, digest):
        return None
    return found


async def _owner(rt: Runtime, digest: str, client: str) -> KeyOwner:
    """The owner of a key this process has not cached (steps 3 to 5 above)."""
    limiter = rt.limiter
    if limiter is None:
        found = await _lookup(rt, digest)
    else:
        await limiter.refuse_if_failing(client)
        found = await limiter.once(digest, lambda: _lookup(rt, digest))
        if found is None:
            await limiter.failed_auth(client)
    if found is None:
        raise Unauthorized(UNKNOWN)
    rt.keys.put(digest, found)
    return found


async def identify(rt: Runtime, key: str, client: str) -> KeyOwner:
    """The owner of `key`, typed by a person (the dashboard's sign-in): the same lookup,
    cache and failed-authentication budget as an API request; 401 if it is no one's."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or parse_key(key) is None:
        if rt.limiter is not None:
            await rt.limiter.refuse_if_failing(client)
            await rt.limiter.failed_auth(client)
        raise Unauthorized(UNKNOWN)
    digest = key_digest(key)
    return rt.keys.get(digest) or await _owner(rt, digest, client)


async def authenticate(rt: Runtime, request: Request, *, secret_only: bool) -> Caller:
    limiter = rt.limiter
    client = client_address(request.scope)
    try:
        key = key_from(request.headers.get("authorization", ""))
    except Unauthorized:
        if limiter is not None:
            await limiter.refuse_if_failing(client)  # a spent budget answers 429 first
            await limiter.failed_auth(client)
        raise
    digest = key_digest(key)
    owner = rt.keys.get(digest)
    if owner is None:
        owner = await _owner(rt, digest, client)
    context.note_merchant(owner.merchant_id, owner.livemode)  # for the request's log lines
    if secret_only and owner.kind != "secret":
        raise Forbidden(
            "This endpoint needs your secret key; publishable keys may only show or pay "
            "sessions, create tokens and list payment methods."
        )
    if limiter is not None:
        card = CARD_PATHS.match(request.url.path) is not None
        await limiter.key(digest, card=card, live=owner.livemode, client=client)
    await clocks.enter(rt, owner.merchant_id, owner.livemode)  # rt.now(): this merchant's
    return Caller(owner.merchant_id, owner.merchant_name, owner.livemode, owner.kind)
