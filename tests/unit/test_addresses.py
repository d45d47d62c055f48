"""Which addresses webhooks may go to (`kessai.core.addresses`), and resolving a URL once
(`kessai.worker.addresses.vet`) with a resolver the test injects: no real lookups, and no
connection is ever made here."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from kessai.core.addresses import POLICIES, Kind, Refused, classify, refusal, target
from kessai.worker.addresses import Unresolvable, vet

ALWAYS_REFUSED = [
    "0.0.0.0",
    "0.1.2.3",  # this network
    "::",
    "169.254.169.254",  # cloud metadata
    "169.254.170.2",
    "169.254.0.1",  # link-local
    "fe80::1",
    "fd00:ec2::254",  # AWS metadata over IPv6 (inside the ULA range)
    "100.100.100.200",  # Alibaba metadata (inside CGNAT)
    "168.63.129.16",  # Azure WireServer (a public-looking address)
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "ff02::1",
    "255.255.255.255",  # broadcast
    "240.0.0.1",  # reserved
    # IPv6 forms that carry one of the above
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "::169.254.169.254",  # IPv4-compatible
    "::ffff:0:169.254.169.254",  # IPv4-translated
    "2002:a9fe:a9fe::1",  # 6to4
    "64:ff9b::169.254.169.254",  # NAT64
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo: the client address is hidden
]
LOOPBACK = ["127.0.0.1", "127.255.0.1", "::1", "::ffff:127.0.0.1"]
PRIVATE = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # CGNAT
    "fd12:3456::1",  # ULA
    "198.18.0.1",  # benchmarking
    "192.0.2.1",  # documentation
    "::ffff:10.0.0.1",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(
    ("address", "kind"),
    [(a, Kind.REFUSED) for a in ALWAYS_REFUSED]
    + [(a, Kind.LOOPBACK) for a in LOOPBACK]
    + [(a, Kind.PRIVATE) for a in PRIVATE]
    + [(a, Kind.PUBLIC) for a in PUBLIC],
)
def test_classification(address: str, kind: Kind) -> None:
    assert classify(ipaddress.ip_address(address)) is kind


# policy -> (loopback in test mode, private in test mode, loopback/private in live mode)
ALLOWED = {
    "test": (True, False, False),
    "test-private": (True, True, False),
    "all": (True, True, True),
    "none": (False, False, False),
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("livemode", [False, True])
def test_policies(policy: str, livemode: bool) -> None:
    loop_test, private_test, live = ALLOWED[policy]
    want_loopback = live if livemode else loop_test
    want_private = live if livemode else private_test
    for address in ALWAYS_REFUSED:
        assert refusal(ipaddress.ip_address(address), livemode=livemode, policy=policy)
    for address in PUBLIC:
        assert refusal(ipaddress.ip_address(address), livemode=livemode, policy=policy) is None
    for address in LOOPBACK:
        got = refusal(ipaddress.ip_address(address), livemode=livemode, policy=policy) is None
        assert got is want_loopback, (address, policy, livemode)
    for address in PRIVATE:
        got = refusal(ipaddress.ip_address(address), livemode=livemode, policy=policy) is None
        assert got is want_private, (address, policy, livemode)


@pytest.mark.parametrize(
    "url",
    [
        "http://0177.0.0.1:8080/x",  # octal
        "http://127.000.000.001:8080/x",  # zero-padded
        "http://2130706433/x",  # decimal
        "http://0x7f000001/x",  # hex
        "http://0x7f.0.0.1/x",
        "http://127.1/x",  # short form
        "http://2852039166/latest",  # 169.254.169.254 in decimal
        "http://0xa9fea9fe/latest",  # and in hex
        "http://0251.0376.0251.0376/",  # and in octal
        "http://0/",  # 0.0.0.0
        "http://127.0.0.1./x",  # a trailing dot
        "http://1.2.3.4.5/",
        "http://shop.example.123/",  # a numeric last label is an IPv4 address (WHATWG)
        "http://[not-an-ip]/",
        "ftp://shop.example/",
    ],
)
def test_ambiguous_hosts_are_refused(url: str) -> None:
    with pytest.raises(Refused):
        target(url)


def test_target_keeps_what_the_request_needs() -> None:
    t = target("https://Shop.Example:8443/hooks/in?a=1&b=2#frag")
    assert (t.scheme, t.host, t.ip, t.port, t.path) == (
        "https",
        "shop.example",
        None,
        8443,
        "/hooks/in?a=1&b=2",
    )
    assert t.host_header == "shop.example:8443"
    assert (
        t.url_for(ipaddress.ip_address("2606:4700::1"))
        == "https://[2606:4700::1]:8443/hooks/in?a=1&b=2"
    )
    v6 = target("http://[::ffff:169.254.169.254]/")
    assert v6.ip == ipaddress.ip_address("::ffff:a9fe:a9fe")
    assert v6.host_header == "[::ffff:a9fe:a9fe]"
    assert target("https://bücher.example/").host == "xn--bcher-kva.example"


class Resolver:
    """Answers from a table, and counts the lookups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise OSError(f"{host}: name or service not known")
        return self.table[host]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("livemode", [False, True])
@pytest.mark.parametrize(
    "answer",
    [["169.254.169.254"], ["::ffff:169.254.169.254"], ["0.0.0.0"], ["93.184.216.34", "fe80::1"]],
)
async def test_a_name_resolving_to_a_refused_address_is_refused(
    policy: str, livemode: bool, answer: list[str]
) -> None:
    resolve = Resolver({"metadata.attacker.example": answer})
    with pytest.raises(Refused) as refused:
        await vet(
            "http://metadata.attacker.example/x",
            livemode=livemode,
            policy=policy,
            resolve=resolve,
        )
    assert not isinstance(refused.value, Unresolvable)
    assert "metadata.attacker.example" in str(refused.value)
    assert resolve.calls == ["metadata.attacker.example"]


async def test_vet_resolves_once_and_returns_the_checked_address() -> None:
    resolve = Resolver({"shop.example": ["93.184.216.34", "2606:4700::1111"]})
    vetted = await vet("https://shop.example/h", livemode=True, policy="none", resolve=resolve)
    assert vetted.ip == ipaddress.ip_address("93.184.216.34")
    assert resolve.calls == ["shop.example"]
    # an IP address host needs no lookup
    literal = await vet("http://93.184.216.34/", livemode=True, policy="none", resolve=resolve)
    assert literal.ip == ipaddress.ip_address("93.184.216.34")
    assert resolve.calls == ["shop.example"]


async def test_unresolvable_and_slow_names() -> None:
    with pytest.raises(Unresolvable):
        await vet("http://nowhere.example/", livemode=False, policy="test", resolve=Resolver({}))

    never = asyncio.Event()

    async def hangs(host: str, port: int) -> list[str]:
        await never.wait()
        return []

    with pytest.raises(Unresolvable):
        await vet(
            "http://slow.example/", livemode=False, policy="test", resolve=hangs, lookup_seconds=0
        )
