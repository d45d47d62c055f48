"""Resolving a webhook URL to the one address it will be sent to.

The rules are pure and live in `kessai.core.addresses`; this module adds the one piece of
I/O, the name lookup. `vet` resolves once and judges every address; the caller then
connects to the address it returns (never to the name again), so a name that answers
differently the second time (DNS rebinding) cannot move the request elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kessai.core.addresses import IP, Refused, Target, check, target

# host, port -> the IP addresses (as text) the host has; raises OSError when it has none.
Resolver = Callable[[str, int], Awaitable[list[str]]]
LOOKUP_TIMEOUT = 5.0


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (getaddrinfo), without blocking the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Unresolvable(Refused):
    """The host name has no address now (or the lookup timed out)."""


@dataclass(frozen=True)
class Vetted:
    target: Target
    ip: IP  # where to connect


async def vet(
    url: str,
    *,
    livemode: bool,
    policy: str,
    resolve: Resolver = system_resolver,
    lookup_seconds: float = LOOKUP_TIMEOUT,
) -> Vetted:
    """Parse `url`, resolve its host once and check every address; Refused if any fails.

    A name that cannot be resolved is refused too (OSError and timeouts become Refused):
    nothing can be sent to it.
    """
    parsed = target(url)
    if parsed.ip is not None:
        addresses: list[IP] = [parsed.ip]
    else:
        try:
            found = await asyncio.wait_for(resolve(parsed.host, parsed.port), lookup_seconds)
        except (OSError, UnicodeError, TimeoutError) as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise Unresolvable(f"host {parsed.host!r} cannot be resolved ({why})") from None
        try:
            addresses = [ipaddress.ip_address(a) for a in found]
        except ValueError as exc:
            raise Refused(f"host {parsed.host!r} resolved to a non-address: {exc}") from None
    ip = check(parsed, addresses, livemode=livemode, policy=policy)
    return Vetted(parsed, ip)
