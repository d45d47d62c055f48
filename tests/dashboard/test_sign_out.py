"""Signing out ends the session on the server, and a session's POSTs count against the
signed-in key's rate limit as the API's requests with that key do."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx

from tests.conftest import Server, served
from tests.dashboard.helpers import post_form, sign_in

COOKIE = "kessai_dashboard"


def _with_cookie(server: Server, value: str) -> httpx.Client:
    """A client carrying a copy of a dashboard cookie (as one copied to another machine)."""
    client = httpx.Client(base_url=server.base_url, timeout=30)
    client.cookies.set(COOKIE, value, domain="127.0.0.1", path="/dashboard")
    return client


def test_signing_out_ends_the_session_on_the_server(server: Server) -> None:
    shop = server.merchant("Signing Out")
    with contextlib.closing(sign_in(shop)) as dash:
        copied = dash.cookies[COOKIE]
        with contextlib.closing(_with_cookie(server, copied)) as copy:
            assert copy.get("/dashboard/keys").status_code == 200  # the copy works, for now
        out = post_form(dash, "/dashboard/keys", "/dashboard/logout")
        assert out.status_code == 303 and out.headers["location"] == "/dashboard/login"
        assert COOKIE not in dash.cookies
    # The cookie captured before signing out is refused, wherever it is sent from.
    with contextlib.closing(_with_cookie(server, copied)) as copy:
        gone = copy.get("/dashboard/keys")
        assert gone.status_code == 303 and gone.headers["location"] == "/dashboard/login"
        refused = copy.post("/dashboard/logout", data={"csrf": "x"})
        assert refused.status_code == 303 and refused.headers["location"] == "/dashboard/login"
    # Signing in again at once works (in the same second as the sign-out, too).
    with contextlib.closing(sign_in(shop)) as again:
        assert again.cookies[COOKIE] != copied
        assert again.get("/dashboard/keys").status_code == 200
    # ...and does not revive the old cookie; another merchant's sessions are untouched.
    with contextlib.closing(_with_cookie(server, copied)) as copy:
        assert copy.get("/dashboard/keys").status_code == 303


def test_a_sessions_posts_count_against_the_keys_rate_limit(tmp_path: Path) -> None:
    with served(tmp_path, env={"KESSAI_RATE_LIMIT_KEY": "4/minute"}) as srv:
        shop = srv.merchant("Limited")
        with contextlib.closing(sign_in(shop)) as dash:
            page = dash.get("/dashboard/clock")  # pages (GETs) are not counted
            assert page.status_code == 200
            answers = [
                post_form(dash, "/dashboard/clock", "/dashboard/clock", amount="x", unit="days")
                for _ in range(3)
            ]
            assert [a.status_code for a in answers] == [422, 422, 422]
            # The API shares the key's budget: one request there spends the last hit.
            assert shop.client().get("/payments").status_code == 200
            spent = post_form(dash, "/dashboard/clock", "/dashboard/clock", amount="1", unit="x")
            assert spent.status_code == 429, spent.text
