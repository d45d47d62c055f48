"""Reading the dashboard's payment pages in tests (no fixtures: those live in the tests)."""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape
from zoneinfo import ZoneInfo

import httpx

ROW_ID = re.compile(r'data-testid="payment-row" data-id="([a-z0-9]{25})"')
OLDER = re.compile(r'<a rel="next" href="([^"]+)"')
NEWER = re.compile(r'<a rel="prev" href="([^"]+)"')
PROBLEM = re.compile(r'data-testid="problem">([^<]*)<')
NOTICE = re.compile(r'data-testid="notice">([^<]*)<')
ENTRY = re.compile(r'<tr data-testid="entry" data-kind="([a-z_]+)">(.*?)</tr>', re.S)
CALL = re.compile(r'<tr data-testid="call" data-kind="([a-z_]+)">', re.S)
JAPAN = ZoneInfo("Asia/Tokyo")


def nonce_of(html: str, action: str) -> str:
    """The nonce of the page's `action` form (each rendered form has its own)."""
    form = html[html.index(f'data-testid="{action}-form"') :].split("</form>")[0]
    found = re.search(r'name="nonce" value="([0-9a-f]+)"', form)
    assert found is not None, f"the {action} form has no nonce"
    return found.group(1)


def calls(html: str) -> list[str]:
    """The kinds of the page's processor calls, oldest first."""
    return CALL.findall(html)


def ids_on(html: str) -> list[str]:
    return ROW_ID.findall(html)


def listed(client: httpx.Client, **params: str) -> list[str]:
    """The payment ids on the list's first page with these filters (200 required)."""
    resp = client.get("/dashboard/payments", params=params)
    assert resp.status_code == 200, (params, resp.status_code, resp.text[:2000])
    return ids_on(resp.text)


def link(pattern: re.Pattern[str], html: str) -> str | None:
    found = pattern.search(html)
    return unescape(found.group(1)) if found else None


def problem_of(html: str) -> str:
    found = PROBLEM.search(html)
    assert found is not None, f"no problem shown:\n{html[:3000]}"
    return unescape(found.group(1))


def notice_of(html: str) -> str | None:
    found = NOTICE.search(html)
    return unescape(found.group(1)) if found else None


def entries(html: str) -> list[tuple[str, str]]:
    """The timeline's entries, oldest first: (kind, the row's text without tags)."""
    return [
        (kind, " ".join(unescape(re.sub(r"<[^>]+>", " ", row)).split()))
        for kind, row in ENTRY.findall(html)
    ]


def japan_day(iso: str) -> str:
    """The Japan date (YYYY-MM-DD) of an API timestamp."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(JAPAN).date().isoformat()
