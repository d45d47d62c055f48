"""KOMOJU's own `komoju-fields` web component, on a merchant's page of another origin, pays a
kessai session by konbini at a store it renders from kessai's `brands`, showing kessai's icons.

komoju-fields is not published on the npm registry: KOMOJU serves its build from its own
host. So the test builds it from its source (degica/komoju-fields, MIT) at a pinned commit,
given as a directory in `KOMOJU_FIELDS_SRC` (e.g. `git archive` of that commit), with the
esbuild release that source locks, installed from npm into ~/.cache/kessai-tests. Nothing
fetched is kept in the repository. No source given: skipped. npm unreachable: skipped, but
under CI=true a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Request, Response, expect

from tests.conftest import Merchant, Server
from tests.e2e.pages import create_session

pytestmark = pytest.mark.browser

# degica/komoju-fields at this commit, and the esbuild its package-lock.json pins.
KOMOJU_FIELDS_COMMIT = "f599085620a33fb849fffc092998ddaa6e4ac99e"
ESBUILD = "esbuild@0.15.13"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kessai-tests"
KOMOJU = "https://komoju.com"
ESBUILD_ARGS = ["--bundle", "--target=firefox100", "--format=esm", "--loader:.html=text"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (under CI=true this fails instead of skipping)")
    pytest.skip(reason)


def _esbuild() -> Path:
    """esbuild as komoju-fields pins it, from the npm registry into the cache (once)."""
    prefix = CACHE / ESBUILD.replace("@", "-")
    binary = prefix / "node_modules" / ".bin" / "esbuild"
    if binary.exists():
        return binary
    if shutil.which("npm") is None:
        _unavailable("npm is not installed")
    done = subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", ESBUILD],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 or not binary.exists():
        _unavailable(f"npm could not install {ESBUILD}: {done.stderr.strip()[-300:]}")
    return binary


def build(source: Path, out: Path, cdn: str) -> None:
    """What komoju-fields' bin/generate.sh and bin/build.sh do, with `cdn` as its CDN."""
    esbuild = _esbuild()
    work = out.parent / "komoju-fields-src"
    shutil.copytree(source / "src", work / "src")
    generated = work / "src" / "generated"
    generated.mkdir(exist_ok=True)
    fields = sorted(p.name for p in (work / "src" / "fields").iterdir() if p.is_dir())
    (generated / "supported-payment-types.ts").write_text(
        "const supported: Set<string> = new Set();\n"
        + "".join(f"supported.add('{name}');\n" for name in fields)
        + "export default supported;\n"
    )
    # ENV development: the component's shadow root is open, so the test can reach inside.
    (generated / "env.ts").write_text(
        f'export default {{ "CDN": "{cdn}", "ENV": "development", '
        f'"HONEYBADGER_API_KEY": "", "GIT_REV": "{KOMOJU_FIELDS_COMMIT}" }};\n'
    )
    bundles = [("src/index.ts", out / "fields.js")] + [
        (f"src/fields/{name}/module.ts", out / "fields" / name / "module.js") for name in fields
    ]
    for entry, target in bundles:
        subprocess.run(
            [str(esbuild), *ESBUILD_ARGS, entry, f"--outfile={target}"],
            cwd=work,
            check=True,
            capture_output=True,
            timeout=120,
        )
    shutil.copytree(work / "src" / "static", out / "static")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def merchant_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The merchant's own site on loopback (another origin than kessai), also serving the
    komoju-fields build as KOMOJU's CDN would."""
    source = os.environ.get("KOMOJU_FIELDS_SRC")
    if not source:
        pytest.skip(
            "komoju-fields is not on the npm registry: set KOMOJU_FIELDS_SRC to its source "
            f"(degica/komoju-fields at {KOMOJU_FIELDS_COMMIT})"
        )
    root = tmp_path_factory.mktemp("merchant-site")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    site = f"http://127.0.0.1:{httpd.server_address[1]}"
    build(Path(source), root, site)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def shop_page(root: Path, kessai: str, session_id: str, publishable_key: str) -> str:
    name = f"checkout-{session_id}.html"
    (root / name).write_text(
        '<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>'
        # The component's optional error reporting loads a module kessai has no part in.
        "<script>window.komojuErrorReporting = false;</script>"
        '<script type="module" src="/fields.js"></script></head><body>'
        '<form id="form"><komoju-picker></komoju-picker>'
        f'<komoju-fields session-id="{session_id}" publishable-key="{publishable_key}" '
        f'komoju-api="{kessai}" locale="en"></komoju-fields>'
        '<button type="submit" id="pay">Pay</button></form></body></html>'
    )
    return name


def test_komoju_fields_pays_a_session_by_konbini_with_kessai_icons(
    page: Page, server: Server, merchant: Merchant, merchant_site: tuple[str, Path]
) -> None:
    site, root = merchant_site
    with merchant.client() as api:
        session = create_session(
            api, payment_types=["credit_card", "konbini"], return_url=f"{site}/thanks"
        )
    # The card module hard-codes KOMOJU's own host for card-brand icons
    # (`https://komoju.com/payment_methods/credit_card.svg?brands=visa`): never reached here.
    page.route(f"{KOMOJU}/**", lambda route: route.abort())
    requests: list[Request] = []
    icons: list[Response] = []
    page.on("request", lambda r: requests.append(r))
    page.on(
        "response",
        lambda r: icons.append(r) if "/payment_methods/" in urlsplit(r.url).path else None,
    )
    page.goto(f"{site}/{shop_page(root, server.base_url, session['id'], merchant.publishable_key)}")

    # The picker lists the session's types with kessai's icons; pick konbini.
    konbini = page.locator(
        "komoju-picker label.radio", has=page.locator("img[src$='/konbini.svg']")
    )
    konbini.locator("input").check()
    fields = page.locator("komoju-fields")
    stores = fields.locator("input[name='kb-store']")
    expect(stores).to_have_count(6)
    assert [stores.nth(i).get_attribute("value") for i in range(6)] == [
        "seven-eleven", "lawson", "family-mart", "ministop", "daily-yamazaki", "seicomart",
    ]  # fmt: skip
    store_icons = fields.locator("img.konbini-icon")
    for i in range(6):  # every store's icon drawn (loaded, not a broken image)
        expect(store_icons.nth(i)).to_have_js_property("complete", True)
        assert store_icons.nth(i).evaluate("img => img.naturalWidth") > 0
    fields.locator("input[value='ministop']").check()
    fields.locator("#kb-name").fill("Taro Yamada")
    fields.locator("#kb-email").fill("taro@example.com")
    with page.expect_navigation(url=f"{server.base_url}/instructions/**"):
        page.locator("#pay").click()
    expect(page.get_by_test_id("barcode")).to_be_visible()

    with merchant.client() as api:
        paid = api.get(f"/sessions/{session['id']}").json()
    assert paid["status"] == "completed", paid
    details = paid["payment"]["payment_details"]
    assert (details["type"], details["store"], details["email"]) == (
        "konbini", "ministop", "taro@example.com",
    )  # fmt: skip
    assert paid["payment"]["status"] == "authorized"

    # Every icon came from kessai, and loaded.
    kessai = urlsplit(server.base_url).netloc
    wanted = {"/payment_methods/credit_card.svg", "/payment_methods/konbini.svg"} | {
        f"/payment_methods/konbini/{s}.svg"
        for s in (
            "seven-eleven",
            "lawson",
            "family-mart",
            "ministop",
            "daily-yamazaki",
            "seicomart",
        )
    }
    loaded = {urlsplit(r.url).path for r in icons if urlsplit(r.url).netloc == kessai and r.ok}
    assert wanted <= loaded, wanted - loaded
    assert all(urlsplit(r.url).netloc == kessai for r in icons), [r.url for r in icons]
    # The component spoke to kessai and the merchant's site only.
    hosts = {
        urlsplit(r.url).netloc
        for r in requests
        if r.url.startswith("http") and not r.url.startswith(f"{KOMOJU}/payment_methods/")
    }
    assert hosts <= {kessai, urlsplit(site).netloc}, [r.url for r in requests]
    assert httpx.get(f"{server.base_url}/payment_methods/konbini/ministop.svg").status_code == 200
