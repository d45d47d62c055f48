"""Which webhook addresses a worker may call.

Private, loopback, link-local and other non-public addresses are refused unless the
`KESSAI_WEBHOOK_ALLOW_PRIVATE` setting allows them: `test` (the default) allows them for
test-mode endpoints only, so a developer's local receiver works while live webhooks can
never be pointed at the server's own network; `all` allows them always; `none` never.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

POLICIES = ("test", "all", "none")


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not ip.is_multicast


async def refusal(url: str, *, livemode: bool, policy: str) -> str | None:
    """None if the worker may call `url`; otherwise why not."""
    if policy == "all" or (policy == "test" and not livemode):
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    for info in infos:
        address = str(info[4][0])
        if not _public(address):
            return f"{host} resolves to non-public address {address} (KESSAI_WEBHOOK_ALLOW_PRIVATE)"
    return None
