"""/docs renders the OpenAPI document in a real browser, from this server alone."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, expect

from tests.conftest import Server

pytestmark = pytest.mark.browser


def test_docs_render_every_operation_from_this_server(page: Page, server: Server) -> None:
    requests: list[Request] = []
    console: list[ConsoleMessage] = []
    page.on("request", lambda r: requests.append(r))
    page.on("console", lambda m: console.append(m))
    page.goto(f"{server.base_url}/docs")
    # Swagger UI lists each operation by its path once the document has loaded.
    expect(page.get_by_text("/api/v1/sessions/{session_id}/pay")).to_be_visible()
    expect(page.get_by_text("/kessai/v1/webhook_endpoints/{endpoint_id}")).to_be_visible()
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert operations >= 60  # sessions, payments, ..., subscriptions, the clock, the ledger
    expect(page.locator(".opblock")).to_have_count(operations)
    host = urlsplit(server.base_url).netloc
    assert {urlsplit(r.url).netloc for r in requests if not r.url.startswith("data:")} == {host}
    refused = [m.text for m in console if "Content Security Policy" in m.text]
    assert not refused, refused
