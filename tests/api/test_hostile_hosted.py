"""Hostile input to the hosted page, and the one URL a customer is sent to.

- every hosted error page (400, 403, 404, 405, 422) carries the security headers of a
  normal page (the 500 page is checked in tests/unit/test_edge.py);
- a CSRF field that is not ASCII is simply wrong (403 page), never a 500;
- path ids that are not ids are the 404 page; form fields with NUL are a 422 page;
- the CSRF cookie is Secure exactly when the public base URL is https;
- return_url is normalised once: the API's redirect_url and the hosted page's redirect
  name the same host (the one a browser goes to) for a table of tricky URLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ada_url
import httpx
import pytest

from tests.api.helpers import UNKNOWN_ID, create_session, csrf_of, pay_ok
from tests.conftest import CARD, Server, assert_error, start_server, stop_server

SECURITY = ("content-security-policy", "x-content-type-options", "referrer-policy")


@pytest.fixture
def browser(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


def _normal_headers(browser: httpx.Client, api: httpx.Client) -> dict[str, str]:
    page = browser.get(f"/sessions/{create_session(api)['id']}")
    assert page.status_code == 200, page.text[:500]
    return {name: page.headers[name] for name in SECURITY}


def _assert_page(resp: httpx.Response, status: int, normal: dict[str, str]) -> None:
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    assert resp.headers["content-type"].startswith("text/html"), resp.headers
    for name, value in normal.items():
        assert resp.headers.get(name) == value, (name, resp.headers)
    assert "Traceback" not in resp.text


def _card_form(page: httpx.Response, **fields: str) -> dict[str, str]:
    return {
        "csrf": csrf_of(page.text),
        "locale": "en",
        "payment_type": "credit_card",
        "number": str(CARD["number"]),
        "month": str(CARD["month"]),
        "year": str(CARD["year"]),
        "verification_value": str(CARD["verification_value"]),
        "name": str(CARD["name"]),
        **fields,
    }


HOSTED_NOT_IDS = ["%00", "%ED%A0%80", "ABCDEFGHIJKLMNOPQRSTUVWXY", "short"]
HOSTED_BY_ID = [
    ("GET", "/sessions/{}"),
    ("POST", "/sessions/{}/pay"),
    ("GET", "/three_d_secure/{}"),
    ("POST", "/offsite/{}"),
    ("GET", "/instructions/{}"),
    ("POST", "/instructions/{}/simulate"),
    ("GET", "/payments/{}/done"),
]


@pytest.mark.parametrize("bad", HOSTED_NOT_IDS)
@pytest.mark.parametrize(
    ("method", "path"), HOSTED_BY_ID, ids=[f"{m} {p}" for m, p in HOSTED_BY_ID]
)
def test_hosted_path_id_that_is_not_an_id_is_the_404_page(
    browser: httpx.Client, api: httpx.Client, method: str, path: str, bad: str
) -> None:
    normal = _normal_headers(browser, api)
    resp = browser.request(
        method, path.format(bad), data={"csrf": "x"} if method == "POST" else None
    )
    _assert_page(resp, 404, normal)


def test_every_hosted_error_page_has_the_security_headers(
    browser: httpx.Client, api: httpx.Client
) -> None:
    normal = _normal_headers(browser, api)
    _assert_page(browser.get(f"/sessions/{UNKNOWN_ID}"), 404, normal)
    _assert_page(browser.get("/no/such/page"), 404, normal)
    _assert_page(browser.get("/static/missing.css"), 404, normal)
    _assert_page(browser.put(f"/sessions/{UNKNOWN_ID}"), 405, normal)
    no_boundary = {"Content-Type": "multipart/form-data"}
    resp = browser.post(f"/sessions/{UNKNOWN_ID}/pay", content=b"broken", headers=no_boundary)
    _assert_page(resp, 400, normal)


@pytest.mark.parametrize("submitted", ["é", "\u3042" * 64, "ｃｓｒｆ", "\U0001f600"])
def test_non_ascii_csrf_field_is_a_403_page(
    browser: httpx.Client, api: httpx.Client, submitted: str
) -> None:
    normal = _normal_headers(browser, api)
    session = create_session(api)
    page = browser.get(f"/sessions/{session['id']}")  # sets the CSRF cookie
    assert browser.cookies.get("kessai_csrf")
    resp = browser.post(f"/sessions/{session['id']}/pay", data=_card_form(page, csrf=submitted))
    _assert_page(resp, 403, normal)
    assert api.get(f"/sessions/{session['id']}").json()["status"] == "pending"


@pytest.mark.parametrize("field", ["name", "number", "email", "csrf", "x\x00"])
def test_nul_in_a_hosted_form_field_is_a_422_page(
    browser: httpx.Client, api: httpx.Client, field: str
) -> None:
    normal = _normal_headers(browser, api)
    session = create_session(api)
    page = browser.get(f"/sessions/{session['id']}")
    form = _card_form(page)
    form[field] = f"{form.get(field, '')}\x00"
    resp = browser.post(f"/sessions/{session['id']}/pay", data=form)
    _assert_page(resp, 422, normal)
    assert api.get(f"/sessions/{session['id']}").json()["status"] == "pending"


def _set_cookie(resp: httpx.Response) -> str:
    cookies = [v for v in resp.headers.get_list("set-cookie") if v.startswith("kessai_csrf=")]
    assert len(cookies) == 1, resp.headers
    return cookies[0].lower()


def test_csrf_cookie_is_secure_only_behind_https(
    server: Server, api: httpx.Client, tmp_path: Path
) -> None:
    session = create_session(api)
    plain = httpx.get(f"{server.base_url}/sessions/{session['id']}")
    assert "secure" not in [p.strip() for p in _set_cookie(plain).split(";")]
    behind_tls = start_server(
        server.database_url, tmp_path, env={"KESSAI_BASE_URL": "https://pay.example"}
    )
    try:
        page = httpx.get(f"{behind_tls.base_url}/sessions/{session['id']}")
        assert page.status_code == 200, page.text[:500]
        attributes = [p.strip() for p in _set_cookie(page).split(";")]
        assert "secure" in attributes and "httponly" in attributes, attributes
    finally:
        stop_server(behind_tls)


# --- one URL everywhere ---------------------------------------------------------------------

# (what the merchant sends, the normalised return_url kessai keeps)
ACCEPTED = [
    ("HTTPS://Shop.Example:443/Return?x=1", "https://shop.example/Return?x=1"),
    ("https://ｓｈｏｐ.example/r", "https://shop.example/r"),
    ("https://bücher.example/r", "https://xn--bcher-kva.example/r"),
    ("http://0x7f.1:8080/r", "http://127.0.0.1:8080/r"),
    ("http://[0:0::1]/r", "http://[::1]/r"),
    ("https://shop.example/a|b^c", "https://shop.example/a%7Cb%5Ec"),
    ("https://shop.example/r#@evil.example", "https://shop.example/r#@evil.example"),
    ("https://shop.example/r?next=https://evil.example/@x", None),
    ("https://shop.example./r", "https://shop.example./r"),
]
REFUSED = [
    "https://shop.example\\@evil.example/",
    "https://shop.example@evil.example/",
    "https://user:pass@shop.example/",
    "https://:@shop.example/",
    "https:/\\evil.example/",
    "https:evil.example/",
    "//evil.example/",
    "https://shop.example\t.evil.example/",
    "https://shop example/",
    "https://shop.example/\u2028",
    "javascript://shop.example/%0aalert(1)",
    "ftp://shop.example/",
    "https://[::1/",
    "https://shop.example:99999/",
    "https://exa%00mple/",
    "https://exa<mple/",
    "https:///r",
]


@pytest.mark.parametrize("url", REFUSED)
def test_tricky_return_url_is_refused(api: httpx.Client, url: str) -> None:
    resp = api.post("/sessions", json={"amount": 1000, "currency": "JPY", "return_url": url})
    assert_error(resp, 422, "invalid_parameter", "return_url")


def _hosted_redirect(browser: httpx.Client, session_id: str) -> str:
    page = browser.get(f"/sessions/{session_id}")
    resp = browser.post(f"/sessions/{session_id}/pay", data=_card_form(page))
    assert resp.status_code == 303, (resp.status_code, resp.text[:500])
    return resp.headers["location"]


@pytest.mark.parametrize(("url", "kept"), ACCEPTED, ids=[u for u, _ in ACCEPTED])
def test_api_and_hosted_page_send_the_customer_to_the_same_host(
    api: httpx.Client, browser: httpx.Client, url: str, kept: Any
) -> None:
    by_api = create_session(api, return_url=url)
    by_page = create_session(api, return_url=url)
    assert by_api["return_url"] == by_page["return_url"]
    if kept is not None:
        assert by_api["return_url"] == kept
    redirect_url = pay_ok(api, by_api["id"])["redirect_url"]
    location = _hosted_redirect(browser, by_page["id"])
    # The same string, but for the session id; and the host a browser goes to is the one
    # kessai kept (parsed as browsers parse it).
    assert redirect_url.replace(by_api["id"], "ID") == location.replace(by_page["id"], "ID")
    hosts = {ada_url.URL(u).host for u in (by_api["return_url"], redirect_url, location)}
    assert hosts == {ada_url.URL(by_api["return_url"]).host}, hosts
    assert ada_url.URL(location).href == location  # already normalised: nothing to change
