"""The edge's string rules, URL normaliser, timestamps, CSRF comparison, last-resort page,
and the rate limits' client addresses and store timeout."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import ada_url
import pytest
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import check_edge
from kessai.app import create_app
from kessai.core import rules
from kessai.core.rules import Invalid
from kessai.core.times import iso
from kessai.edge.middleware import client_address, limit_address
from kessai.edge.ratelimit import STORE_TIMEOUT, RateLimiter
from kessai.edge.settings import EdgeSettings
from kessai.errors import InvalidParameter, NotFound
from kessai.hosted import csrf
from kessai.hosted.pages import SECURITY_HEADERS, plain_page
from kessai.settings import Settings

# --- URLs: normalised once, as browsers read them -----------------------------------------------

NORMALISED = [
    ("HTTPS://Shop.Example:443/Return?x=1", "https://shop.example/Return?x=1"),
    ("http://shop.example:80", "http://shop.example/"),
    ("https://ｓｈｏｐ.example/r", "https://shop.example/r"),
    ("https://BÜCHER.example/", "https://xn--bcher-kva.example/"),
    ("http://0x7f.1/", "http://127.0.0.1/"),
    ("http://2130706433/", "http://127.0.0.1/"),
    ("http://[0:0::1]:8080/", "http://[::1]:8080/"),
    ("https://shop.example/a|b^c`d{e}", "https://shop.example/a%7Cb%5Ec%60d%7Be%7D"),
    ("https://shop.example/caf\u00e9?q=\u3042", "https://shop.example/caf%C3%A9?q=%E3%81%82"),
    ("https://shop.example/%7e/./x/../y", "https://shop.example/%7e/y"),
    ("https://shop.example/r#@evil.example", "https://shop.example/r#@evil.example"),
]


@pytest.mark.parametrize(("url", "expected"), NORMALISED)
def test_url_is_normalised(url: str, expected: str) -> None:
    normalised = rules.http_url(url)
    assert normalised == expected
    assert rules.http_url(normalised) == normalised  # normalising twice changes nothing
    assert ada_url.URL(normalised).href == normalised  # what a browser would make of it


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example\\@evil.example/",
        "https://shop.example\\evil",
        "https://shop.example@evil.example/",
        "https://user:pass@shop.example/",
        "https://:@shop.example/",
        "https://@shop.example/",
        "https:///r",
        "https:evil.example",
        "https:/\\evil.example",
        "//evil.example/",
        "ftp://shop.example/",
        "https://shop\u3000example/",  # ideographic space
        "https://shop.example/\u2028",
        "https://shop.example/\u0085",
        "https://exa%00mple/",
        "https://exa<mple/",
        "https://[::1/",
        "https://shop.example:65536/",
    ],
)
def test_url_tricks_are_refused(url: str) -> None:
    with pytest.raises(Invalid):
        rules.http_url(url)


# --- strings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\x00", "a\x00", "\ud800", "x\udfffy"])
def test_storable_refuses_nul_and_lone_surrogates(bad: str) -> None:
    with pytest.raises(Invalid):
        rules.storable(bad)
    with pytest.raises(Invalid):
        rules.text(bad, max_length=100)


@pytest.mark.parametrize("bad", ["\x01", "\x07", "\x1b", "\x7f", "\x85", "\x9f", "\x0b", "\x0c"])
def test_text_refuses_control_characters_but_tab_and_line_breaks(bad: str) -> None:
    with pytest.raises(Invalid):
        rules.text(f"a{bad}b", max_length=100)
    assert rules.text("a\tb\r\nc", max_length=100) == "a\tb\r\nc"
    assert rules.text("\U0001f600 \u3042", max_length=100) == "\U0001f600 \u3042"


@pytest.mark.parametrize("bad", ["\t", "\n", "\x00", "\x85"])
def test_single_line_refuses_every_control_character(bad: str) -> None:
    with pytest.raises(Invalid):
        rules.single_line(f"a{bad}")


@pytest.mark.parametrize(
    "value", ["\x00", "metadata[\x00]", "\ud800", "\u200b", "bell\x07", "e\u0301"]
)
def test_printable_names_render_and_keep_what_is_printable(value: str) -> None:
    shown = rules.printable(value)
    shown.encode("utf-8")  # never fails
    assert all(c.isprintable() for c in shown)


def test_ids() -> None:
    assert rules.is_id("abcdefghijklmnopqrstuvwx0")
    for bad in ("", "\x00", "ABCDEFGHIJKLMNOPQRSTUVWX0", "a" * 24, "a" * 26, "a" * 24 + "\n"):
        assert not rules.is_id(bad), bad


# --- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"],
)
def test_timestamps_beyond_the_calendar_in_utc_are_refused(value: str) -> None:
    with pytest.raises(Invalid):
        rules.timestamp(value)


def test_timestamps_are_returned_in_utc() -> None:
    assert rules.timestamp("2030-01-01T09:00:00+09:00") == datetime(2030, 1, 1, tzinfo=UTC)
    assert rules.timestamp("2030-01-01T00:00:00") == datetime(2030, 1, 1, tzinfo=UTC)
    assert rules.timestamp("2030-01-01T09:00:00 09:00") == datetime(2030, 1, 1, tzinfo=UTC)
    edge = rules.timestamp("0001-01-01T00:00:00Z")
    assert edge.utcoffset() is not None and iso(edge) == "0001-01-01T00:00:00.000Z"


# --- CSRF and the last-resort page ------------------------------------------------------------


@pytest.mark.parametrize("submitted", ["é", "\u3042" * 64, "\U0001f600", "\x00", "\ud800"])
def test_csrf_comparison_of_any_submitted_text_is_false_not_an_error(submitted: str) -> None:
    cookie = csrf.new_cookie()
    assert csrf.valid(b"secret", cookie, "target", submitted) is False
    assert csrf.valid(b"secret", cookie, "target", csrf.token(b"secret", cookie, "target"))


def test_csrf_cookie_secure_follows_the_base_url() -> None:
    assert csrf.secure_cookie("https://pay.example")
    assert csrf.secure_cookie("HTTPS://pay.example")
    assert not csrf.secure_cookie("http://127.0.0.1:8000")


def test_unhandled_error_on_a_hosted_page_has_the_security_headers() -> None:
    app = create_app(Settings())
    handler: Any = app.exception_handlers[Exception]
    request = Request({"type": "http", "method": "GET", "path": "/sessions/x", "headers": []})
    response: Response = asyncio.run(handler(request, RuntimeError("boom")))
    assert response.status_code == 500
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert b"boom" not in response.body
    assert b"&lt;b&gt;" in bytes(plain_page(500, "<b>").body)


# --- the API's per-request checks ---------------------------------------------------------------


def _request(
    path_params: dict[str, str], query: bytes = b"", headers: list | None = None
) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/x",
        "path_params": path_params,
        "query_string": query,
        "headers": headers or [],
    }
    return Request(scope)


@pytest.mark.parametrize("bad", ["\x00", "short", "A" * 25, "a" * 26, "é" * 25])
def test_check_edge_refuses_path_ids_that_cannot_exist(bad: str) -> None:
    with pytest.raises(NotFound):
        check_edge(_request({"payment_id": bad}))
    check_edge(_request({"payment_id": "a" * 25}))
    check_edge(_request({"locale": "not an id"}))  # only *_id parameters are ids


@pytest.mark.parametrize(
    ("query", "headers", "param"),
    [
        (b"currency=%00", [], "currency"),
        (b"a%01=1", [], "a\\u0001"),
        (b"", [(b"komoju-scenario", b"capture\x85")], "Komoju-Scenario"),
    ],
)
def test_check_edge_refuses_control_characters(query: bytes, headers: list, param: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        check_edge(_request({}, query, headers))
    assert caught.value.param == param


# --- rate limits: whom an address stands for, and a store that does not answer ------------------


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("unknown", "unknown"),
    ],
)
def test_limits_count_an_ipv6_client_by_its_64_and_unmap_ipv4(
    address: str, counted_as: str
) -> None:
    assert limit_address(address) == counted_as
    assert client_address({"client": (address, 443)}) == counted_as


def test_a_black_holed_rate_limit_store_lets_requests_through_quickly() -> None:
    """A Redis that accepts connections and never answers: every limiter call gives up after
    `STORE_TIMEOUT` and lets the request through, as when the store is down."""

    async def scenario() -> float:
        held: list[asyncio.StreamWriter] = []

        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)  # read nothing, answer nothing

        hole = await asyncio.start_server(swallow, "127.0.0.1", 0)
        port = hole.sockets[0].getsockname()[1]
        limiter = RateLimiter(
            EdgeSettings(
                rate_limit_storage=f"redis://127.0.0.1:{port}", rate_limit_address="1/hour"
            )
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(2):  # past the limit, were the store answering
            await limiter.address("192.0.2.1")
        await limiter.key("digest", card=True, live=True, client="192.0.2.1")
        await limiter.checkout("merchant", live=True, client="192.0.2.1")
        await limiter.refuse_if_failing("192.0.2.1")
        await limiter.failed_auth("192.0.2.1")

        async def fetch() -> str:
            return "owner"

        assert await limiter.once("digest", fetch) == "owner"
        elapsed = loop.time() - started
        for writer in held:
            writer.close()
        hole.close()
        return elapsed

    calls = 12  # store calls made above, at most
    assert asyncio.run(scenario()) < calls * STORE_TIMEOUT + 5  # unbounded: forever
