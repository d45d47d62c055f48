"""Signing in to the dashboard over HTTP, as a browser does, and reading its forms."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import Merchant

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(merchant: Merchant, key: str | None = None, **kwargs: Any) -> httpx.Client:
    """An httpx client signed in to the dashboard with `key` (the merchant's test secret
    key by default); it keeps the cookies, and does not follow redirects."""
    client = httpx.Client(base_url=merchant.server.base_url, timeout=30, **kwargs)
    login = client.get("/dashboard/login")
    assert login.status_code == 200, login.text
    done = client.post(
        "/dashboard/login", data={"csrf": csrf_of(login.text), "key": key or merchant.secret_key}
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/dashboard/payments"
    return client


def post_form(client: httpx.Client, page: str, action: str, **fields: Any) -> httpx.Response:
    """Submit one of `page`'s forms to `action`, with the page's own CSRF token."""
    shown = client.get(page)
    assert shown.status_code == 200, shown.text
    return client.post(action, data={"csrf": csrf_of(shown.text), **fields})
