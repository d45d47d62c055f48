"""Payment-method icons (`/payment_methods/...svg`) and the konbini `brands` that point at
them, in the shape KOMOJU's komoju-fields component reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from kessai.core.payment_types import KONBINI_STORES, PAYMENT_TYPES
from tests.api.helpers import create_session, get_session
from tests.conftest import Server, assert_schema

SVG = "{http://www.w3.org/2000/svg}svg"
PATHS = [f"/payment_methods/{slug}.svg" for slug in PAYMENT_TYPES] + [
    f"/payment_methods/konbini/{store}.svg" for store in KONBINI_STORES
]


@pytest.mark.parametrize("path", PATHS)
def test_every_icon_is_a_small_svg_any_origin_may_load(server: Server, path: str) -> None:
    resp = httpx.get(server.base_url + path, headers={"Origin": "https://shop.example"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("image/svg+xml")
    assert resp.headers["access-control-allow-origin"] == "*"
    assert "public" in resp.headers["cache-control"]
    assert "max-age" in resp.headers["cache-control"]
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert len(resp.content) < 2048
    root = ET.fromstring(resp.content)
    assert root.tag == SVG and root.get("viewBox")
    # Nothing that runs or loads: no scripts, no links, no foreign objects.
    tags = {element.tag.rsplit("}", 1)[-1] for element in root.iter()}
    assert not tags & {"script", "image", "foreignObject", "use", "a"}, tags
    assert b"href" not in resp.content and b"javascript" not in resp.content.lower()


def test_each_icon_is_its_own(server: Server) -> None:
    bodies = {httpx.get(server.base_url + path).content for path in PATHS}
    assert len(bodies) == len(PATHS)


@pytest.mark.parametrize(
    "path",
    [
        "/payment_methods/bitcoin.svg",
        "/payment_methods/konbini/circle-k.svg",
        "/payment_methods/konbini/konbini.svg",
        "/payment_methods/credit_card.png",
        "/payment_methods/..%2Fcheckout.css.svg",
        "/payment_methods/konbini/..%2F..%2Fcredit_card.svg",
    ],
)
def test_unknown_icons_are_404(server: Server, path: str) -> None:
    assert httpx.get(server.base_url + path).status_code == 404


def test_session_brands_as_komoju_fields_reads_them(
    server: Server, api: httpx.Client, public_api: httpx.Client
) -> None:
    session = create_session(api, payment_types=["credit_card", "konbini", "paypay"])
    for shown in (session, get_session(public_api, session["id"])):
        assert_schema(shown, "Session")
        methods = {m["type"]: m for m in shown["payment_methods"]}
        assert all(isinstance(b, str) for b in methods["credit_card"]["brands"])
        assert "brands" not in methods["paypay"]
        brands = methods["konbini"]["brands"]
        assert list(brands) == list(KONBINI_STORES)
        for store, brand in brands.items():
            assert brand == {"icon": f"/payment_methods/konbini/{store}.svg"}
            icon = httpx.get(server.base_url + brand["icon"])  # `{komoju-api}{icon}`
            assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
