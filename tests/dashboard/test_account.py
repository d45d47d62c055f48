"""The dashboard's API keys and test clock, against a real server.

Rolling keys: the new keys are shown once, the old ones get 401 from the API at once, every
dashboard session of the old key goes to the sign-in page, the new secret key signs in, and
the other mode's keys keep working. The clock: moving it from the dashboard runs what fell
due (a konbini payment past its deadline is expired); bad input is a 422 naming the field
and moves nothing. Each test has a merchant of its own.
"""

from __future__ import annotations

import contextlib
import re

import httpx
import pytest

from tests.api.helpers import cash_details, create_payment, get_payment
from tests.conftest import Merchant, Server
from tests.dashboard.helpers import csrf_of, post_form, sign_in

DAY = 86400
SHOWN_KEY = re.compile(r'data-testid="new-(secret|publishable)-key">([^<]+)<')


def offset_of(merchant: Merchant) -> float:
    resp = httpx.get(
        f"{merchant.server.base_url}/kessai/v1/clock", auth=(merchant.secret_key, ""), timeout=30
    )
    assert resp.status_code == 200, resp.text
    return float(resp.json()["offset_seconds"])


def api_status(base_url: str, key: str, path: str = "/api/v1/payments") -> int:
    return httpx.get(f"{base_url}{path}", auth=(key, ""), timeout=30).status_code


def hint(key: str) -> str:
    return f"{key[:8]}…{key[-4:]}"


# --- API keys ------------------------------------------------------------------------


def test_the_keys_page_shows_hints_never_keys(server: Server) -> None:
    shop = server.merchant("Key Hints")
    other = server.merchant("Other Keys")
    with contextlib.closing(sign_in(shop)) as dash:
        page = dash.get("/dashboard/keys")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    for key in (shop.secret_key, shop.publishable_key):
        assert hint(key) in page.text and key not in page.text and key[8:-4] not in page.text
    assert hint(other.secret_key) not in page.text
    # A test-mode session never sees the live keys (nor a live one the test keys).
    assert shop.live_secret_key is not None
    assert hint(shop.live_secret_key) not in page.text
    with contextlib.closing(sign_in(shop, key=shop.live_secret_key)) as live:
        shown = live.get("/dashboard/keys")
    assert shown.status_code == 200 and hint(shop.live_secret_key) in shown.text
    assert hint(shop.secret_key) not in shown.text and hint(shop.publishable_key) not in shown.text


def test_a_roll_needs_the_confirmation_box(server: Server) -> None:
    shop = server.merchant("Unconfirmed Roll")
    with contextlib.closing(sign_in(shop)) as dash:
        resp = post_form(dash, "/dashboard/keys", "/dashboard/keys/roll")
        assert resp.status_code == 422, resp.text
        assert 'data-testid="field-problem"' in resp.text
        assert re.search(r'id="confirm"[^>]*aria-invalid="true"', resp.text)
        assert not SHOWN_KEY.search(resp.text)
        resp = post_form(dash, "/dashboard/keys", "/dashboard/keys/roll", confirm="on")
        assert resp.status_code == 422
        assert dash.get("/dashboard/keys").status_code == 200  # still signed in
        back = dash.get("/dashboard/keys/roll")  # a language link on the new keys' page
        assert back.status_code == 303 and back.headers["location"] == "/dashboard/keys"
    assert api_status(server.base_url, shop.secret_key) == 200  # nothing rolled


def test_a_roll_without_the_csrf_token_is_refused(server: Server) -> None:
    shop = server.merchant("Forged Roll")
    with contextlib.closing(sign_in(shop)) as dash:
        for data in ({"confirm": "yes"}, {"confirm": "yes", "csrf": "0" * 64}):
            resp = dash.post("/dashboard/keys/roll", data=data)
            assert resp.status_code == 403, resp.text
        assert dash.get("/dashboard/keys").status_code == 200
    assert api_status(server.base_url, shop.secret_key) == 200


def test_rolled_keys_are_shown_once_and_the_old_ones_stop_at_once(server: Server) -> None:
    shop = server.merchant("Rolling Shop")
    base = server.base_url
    # The old keys are in the server's key cache (KESSAI_AUTH_CACHE_SECONDS, 30 s here).
    assert api_status(base, shop.secret_key) == 200
    assert api_status(base, shop.publishable_key, "/api/v1/payment_methods") == 200
    with (
        contextlib.closing(sign_in(shop)) as dash,
        contextlib.closing(sign_in(shop)) as elsewhere,
    ):
        assert elsewhere.get("/dashboard/payments").status_code == 200
        resp = post_form(dash, "/dashboard/keys", "/dashboard/keys/roll", confirm="yes")
        assert resp.status_code == 200, resp.text
        assert resp.headers["cache-control"] == "no-store"
        new = dict(SHOWN_KEY.findall(resp.text))
        assert new["secret"].startswith("sk_test_") and new["publishable"].startswith("pk_test_")
        assert shop.secret_key not in resp.text
        # The old keys: 401 at once; every session they opened is over.
        assert api_status(base, shop.secret_key) == 401
        assert api_status(base, shop.publishable_key, "/api/v1/payment_methods") == 401
        for client in (dash, elsewhere):
            gone = client.get("/dashboard/payments")
            assert gone.status_code == 303 and gone.headers["location"] == "/dashboard/login"
        # Reloading the answer does not roll again (the session is gone).
        again = dash.post("/dashboard/keys/roll", data={"confirm": "yes", "csrf": "x"})
        assert again.status_code == 303 and again.headers["location"] == "/dashboard/login"
    # The new secret key works for the API and signs in; the keys page shows its hint only.
    assert api_status(base, new["secret"]) == 200
    with contextlib.closing(sign_in(shop, key=new["secret"])) as fresh:
        page = fresh.get("/dashboard/keys")
        assert hint(new["secret"]) in page.text and new["secret"] not in page.text
        assert hint(shop.secret_key) not in page.text
    # The live keys were not touched by a test-mode roll.
    assert shop.live_secret_key is not None
    assert api_status(base, shop.live_secret_key) == 200
    # The old key no longer signs in.
    with httpx.Client(base_url=base) as anon:
        login = anon.get("/dashboard/login")
        refused = anon.post(
            "/dashboard/login", data={"csrf": csrf_of(login.text), "key": shop.secret_key}
        )
        assert refused.status_code == 401


def test_a_live_session_rolls_the_live_keys_only(server: Server) -> None:
    shop = server.merchant("Live Roll")
    assert shop.live_secret_key is not None
    with contextlib.closing(sign_in(shop, key=shop.live_secret_key)) as dash:
        resp = post_form(dash, "/dashboard/keys", "/dashboard/keys/roll", confirm="yes")
        assert resp.status_code == 200, resp.text
    new = dict(SHOWN_KEY.findall(resp.text))
    assert new["secret"].startswith("sk_live_")
    assert api_status(server.base_url, shop.live_secret_key) == 401
    assert api_status(server.base_url, new["secret"]) == 200
    assert api_status(server.base_url, shop.secret_key) == 200  # the test key still works


# --- the test clock ------------------------------------------------------------------


def test_moving_the_clock_expires_a_konbini_payment(server: Server) -> None:
    shop = server.merchant("Dashboard Clock")
    other = server.merchant("Still Clock")
    with shop.client() as api:
        payment = create_payment(
            api, amount=1500, currency="JPY", payment_details=cash_details("konbini", expiry_days=1)
        )
        assert payment["status"] == "authorized"
        with contextlib.closing(sign_in(shop)) as dash:
            before = dash.get("/dashboard/clock")
            assert before.status_code == 200
            assert 'data-testid="clock-ahead"' in before.text and 'name="amount"' in before.text
            moved = post_form(dash, "/dashboard/clock", "/dashboard/clock", amount="2", unit="days")
            assert moved.status_code == 303, moved.text
            assert moved.headers["location"] == "/dashboard/clock?notice=advanced"
            # Expired before the answer came: what fell due ran in the move.
            assert get_payment(api, payment["id"])["status"] == "expired"
            after = dash.get(moved.headers["location"], headers={"accept-language": "en"})
            assert 'data-testid="notice"' in after.text
            assert re.search(r'data-testid="clock-ahead">2 days<', after.text)
    assert abs(offset_of(shop) - 2 * DAY) < 60  # the real time went on while it ran
    assert offset_of(other) == 0


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"amount": "0", "unit": "days"}, "amount"),
        ({"amount": "-3", "unit": "hours"}, "amount"),
        ({"amount": "abc", "unit": "days"}, "amount"),
        ({"amount": "1.5", "unit": "days"}, "amount"),
        ({"amount": "", "unit": "minutes"}, "amount"),
        ({"amount": "9" * 5000, "unit": "minutes"}, "amount"),
        ({"amount": "3661", "unit": "days"}, "amount"),
        ({"amount": "87841", "unit": "hours"}, "amount"),
        ({"amount": "１", "unit": "days"}, "amount"),
        ({"amount": "1", "unit": "weeks"}, "unit"),
        ({"amount": "1"}, "unit"),
    ],
)
def test_bad_moves_are_named_and_move_nothing(
    server: Server, still: Merchant, form: dict[str, str], field: str
) -> None:
    with contextlib.closing(sign_in(still)) as dash:
        resp = post_form(dash, "/dashboard/clock", "/dashboard/clock", **form)
    assert resp.status_code == 422, resp.text[:500]
    assert 'data-testid="field-problem"' in resp.text
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', resp.text), field
    assert offset_of(still) == 0


@pytest.fixture(scope="module")
def still(server: Server) -> Merchant:
    """A merchant whose clock every refused move leaves where it was."""
    return server.merchant("Refused Moves")


def test_a_move_without_the_csrf_token_is_refused(still: Merchant) -> None:
    with contextlib.closing(sign_in(still)) as dash:
        for data in ({"amount": "1", "unit": "days"}, {"amount": "1", "unit": "days", "csrf": ""}):
            assert dash.post("/dashboard/clock", data=data).status_code == 403
    assert offset_of(still) == 0


def test_live_mode_has_no_clock_to_move(server: Server) -> None:
    shop = server.merchant("Live Clock")
    assert shop.live_secret_key is not None
    with contextlib.closing(sign_in(shop, key=shop.live_secret_key)) as dash:
        page = dash.get("/dashboard/clock")
        assert page.status_code == 200
        assert 'data-testid="live-clock"' in page.text and 'name="amount"' not in page.text
        csrf = csrf_of(page.text)  # the sign-out form's
        refused = dash.post("/dashboard/clock", data={"csrf": csrf, "amount": "1", "unit": "days"})
        assert refused.status_code == 403
    assert offset_of(shop) == 0
