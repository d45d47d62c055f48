"""Which addresses a webhook may be sent to: pure rules, no I/O.

A webhook URL is parsed once (`target`) and every IP address its host stands for, written
in the URL or resolved from a name, is classified (`classify`) and judged against the
operator's policy (`refusal`):

- always refused, in every mode and policy: unspecified (`0.0.0.0/8`, `::`), link-local
  (`169.254/16`, `fe80::/10`), cloud metadata services, multicast, broadcast and reserved
  ranges, and any IPv6 form that wraps one of those (IPv4-mapped, -compatible and
  -translated, 6to4, NAT64, Teredo);
- loopback (`127/8`, `::1`): test-mode endpoints under the `test` and `test-private`
  policies, every endpoint under `all`;
- other non-public ranges (RFC 1918, CGNAT, ULA, documentation, benchmarking): test-mode
  endpoints under `test-private`, every endpoint under `all`;
- public addresses: always.

`KESSAI_WEBHOOK_ALLOW_PRIVATE` names the policy: `test` (the default), `test-private`, `all`
or `none` (public addresses only).

A host that looks like an IPv4 address but is not written in the canonical dotted-quad
form (`0177.0.0.1`, `127.000.000.001`, `2130706433`, `0x7f000001`, `127.1`) is refused:
resolvers, URL parsers and HTTP clients disagree about what such hosts mean, so none of
them is ever given one.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

POLICIES = ("test", "test-private", "all", "none")

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class Kind(Enum):
    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    REFUSED = "refused"  # whatever the policy


class Refused(ValueError):
    """This URL or address may not receive webhooks; the message says why."""


# Cloud metadata and platform services that sit outside the link-local range.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS DNS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer
        "192.0.0.192",  # Oracle Cloud (legacy)
    )
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765)
_COMPAT = ipaddress.ip_network("::/96")  # IPv4-compatible (deprecated)
_NUMERIC_LABEL = re.compile(r"^(?:0[xX][0-9a-fA-F]*|[0-9]+)$")


def _embedded(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, for the forms that route to it."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in net for net in _NAT64) or ip in _SIIT:
        return low32
    if ip in _COMPAT and int(ip) > 1:  # not :: or ::1
        return low32
    return None


def classify(ip: IP) -> Kind:
    """What kind of address `ip` is, looking through IPv6 forms that wrap an IPv4 one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return Kind.REFUSED  # a zone id names an interface: link-local by nature
        if ip.teredo is not None:
            return Kind.REFUSED  # the client address is obfuscated: cannot be judged
        inner = _embedded(ip)
        if inner is not None:
            kind = classify(inner)
            # the wrapper itself is not routable: at best a private-network address
            return Kind.PRIVATE if kind is Kind.PUBLIC and not ip.is_global else kind
    if ip in METADATA or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return Kind.REFUSED
    if ip.is_loopback:
        return Kind.LOOPBACK
    if ip.is_reserved or ip in _THIS_NETWORK or int(ip) == 0xFFFFFFFF:
        return Kind.REFUSED
    if ip.is_global:
        return Kind.PUBLIC
    return Kind.PRIVATE


def allowed(kind: Kind, *, livemode: bool, policy: str) -> bool:
    if kind is Kind.PUBLIC:
        return True
    if kind is Kind.REFUSED or policy == "none":
        return False
    if policy == "all":
        return True
    if livemode:
        return False
    return kind is Kind.LOOPBACK or policy == "test-private"


def refusal(ip: IP, *, livemode: bool, policy: str) -> str | None:
    """None if a webhook may go to `ip` under `policy`; otherwise why not."""
    kind = classify(ip)
    if allowed(kind, livemode=livemode, policy=policy):
        return None
    if kind is Kind.REFUSED:
        return (
            f"{ip} is a link-local, cloud metadata, unspecified, multicast or reserved "
            "address: webhooks are never sent there"
        )
    mode = "live" if livemode else "test"
    return (
        f"{ip} is a {kind.value} address, which {mode}-mode webhooks may not use on this "
        f"server (KESSAI_WEBHOOK_ALLOW_PRIVATE={policy})"
    )


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart once: everything needed to connect to a checked address."""

    scheme: str  # http | https
    host: str  # ASCII: the name as sent in Host and TLS SNI, or the IP address
    ip: IP | None  # the host when it is an IP address
    port: int
    explicit_port: bool
    path: str  # path and query, never empty
    username: str | None
    password: str | None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.host
        return f"{host}:{self.port}" if self.explicit_port else host

    def url_for(self, ip: IP) -> str:
        """The same URL with `ip` as its host: the request goes to the checked address."""
        host = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def target(url: str) -> Target:
    """Parse a webhook URL, refusing hosts that are not unambiguous (see the module doc)."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
    except ValueError:
        raise Refused("has an invalid host or port") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise Refused("must be an absolute http or https URL")
    ip: IP | None = None
    if ":" in host or "%" in host:  # an IPv6 literal (urlsplit checked the brackets)
        try:
            ip = ipaddress.IPv6Address(host.replace("%25", "%"))
        except ValueError:
            raise Refused(f"has an invalid IPv6 host {host!r}") from None
        host = str(ip)
    else:
        host = _ascii_host(host)
        if _NUMERIC_LABEL.match(host.rstrip(".").rsplit(".", 1)[-1]):
            try:
                ip = ipaddress.IPv4Address(host)
            except ValueError:
                raise Refused(
                    f"host {host!r} is not a canonical IPv4 address: write it as four decimal "
                    "numbers without leading zeros, like 203.0.113.7"
                ) from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        scheme=scheme,
        host=host,
        ip=ip,
        port=port if port is not None else (443 if scheme == "https" else 80),
        explicit_port=port is not None,
        path=path,
        username=parts.username,
        password=parts.password,
    )


def _ascii_host(host: str) -> str:
    if host.isascii():
        ascii_host = host
    else:
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise Refused(f"has a host that is not a valid domain name: {host!r}") from None
    if not re.fullmatch(r"[a-z0-9._-]+", ascii_host):
        raise Refused(f"has a host that is not a valid domain name: {host!r}")
    return ascii_host


def check(url_target: Target, addresses: list[IP], *, livemode: bool, policy: str) -> IP:
    """The address to connect to: the first of `addresses`, provided every one is allowed.

    Every address is judged, not only the one used: a name that resolves to a public and
    a metadata address is refused as a whole.
    """
    if not addresses:
        raise Refused(f"host {url_target.host!r} has no address")
    for ip in addresses:
        reason = refusal(ip, livemode=livemode, policy=policy)
        if reason is not None:
            if url_target.ip is None:
                reason = f"host {url_target.host!r} resolves to {reason}"
            raise Refused(reason)
    return addresses[0]
