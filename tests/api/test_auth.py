"""HTTP Basic auth with secret and publishable keys (contract section 1, Auth)."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.api.helpers import create_session, get_session, pay_ok
from tests.conftest import CARD, Merchant, assert_error


@pytest.fixture(scope="module")
def session_id(merchant: Merchant) -> str:
    with merchant.client() as client:
        return str(create_session(client)["id"])


def raw_client(merchant: Merchant, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=f"{merchant.server.base_url}/api/v1", headers=headers, timeout=30)


def basic(user: str | bytes, password: str = "") -> str:
    raw = user if isinstance(user, bytes) else user.encode()
    return "Basic " + base64.b64encode(raw + b":" + password.encode()).decode()


def requests_for(session_id: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("POST", "/sessions", {"amount": 1000, "currency": "JPY"}),
        ("GET", f"/sessions/{session_id}", None),
        ("POST", f"/sessions/{session_id}/cancel", None),
        ("POST", f"/sessions/{session_id}/pay", {"payment_details": CARD}),
    ]


@pytest.mark.parametrize("which", range(4), ids=["create", "show", "cancel", "pay"])
def test_no_key_is_401(merchant: Merchant, session_id: str, which: int) -> None:
    method, path, body = requests_for(session_id)[which]
    with raw_client(merchant) as client:
        resp = client.request(method, path, json=body)
    assert_error(resp, 401, "unauthorized")


@pytest.mark.parametrize(
    "key",
    [
        "sk_test_" + "0" * 32,
        "pk_test_" + "0" * 32,
        "sk_live_" + "0" * 32,
        "nonsense",
    ],
)
@pytest.mark.parametrize("which", range(4), ids=["create", "show", "cancel", "pay"])
def test_unknown_key_is_401(merchant: Merchant, session_id: str, key: str, which: int) -> None:
    method, path, body = requests_for(session_id)[which]
    with raw_client(merchant, Authorization=basic(key)) as client:
        resp = client.request(method, path, json=body)
    assert_error(resp, 401, "unauthorized")


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"\xff\xfe\xfd:").decode(),
        "Basic " + base64.b64encode(b":").decode(),
        "Digest username=x",
        "sk_test_whatever",
    ],
    ids=["empty", "not-base64", "not-utf8", "empty-user", "digest", "bare-key"],
)
def test_malformed_authorization_is_401(merchant: Merchant, session_id: str, header: str) -> None:
    with raw_client(merchant, Authorization=header) as client:
        resp = client.get(f"/sessions/{session_id}")
    assert_error(resp, 401, "unauthorized")


def test_mangled_real_key_is_401(merchant: Merchant, session_id: str) -> None:
    """A real key with one character changed is just an unknown key."""
    key = merchant.secret_key
    mangled = key[:-1] + ("0" if key[-1] != "0" else "1")
    with raw_client(merchant, Authorization=basic(mangled)) as client:
        resp = client.get(f"/sessions/{session_id}")
    assert_error(resp, 401, "unauthorized")


def test_publishable_key_cannot_create_session(public_api: httpx.Client) -> None:
    resp = public_api.post("/sessions", json={"amount": 1000, "currency": "JPY"})
    assert_error(resp, 403, "forbidden")


def test_publishable_key_cannot_cancel_session(public_api: httpx.Client, api: httpx.Client) -> None:
    session = create_session(api)
    resp = public_api.post(f"/sessions/{session['id']}/cancel")
    assert_error(resp, 403, "forbidden")
    assert get_session(api, session["id"])["status"] == "pending"


def test_publishable_key_can_show_and_pay(public_api: httpx.Client, api: httpx.Client) -> None:
    session = create_session(api)
    shown = get_session(public_api, session["id"])
    assert shown["id"] == session["id"]
    assert shown["amount"] == 1000
    result = pay_ok(public_api, session["id"])
    assert result["status"] == "completed"
    assert get_session(api, session["id"])["status"] == "completed"


def test_secret_key_works_with_explicit_empty_password(merchant: Merchant, session_id: str) -> None:
    with raw_client(merchant, Authorization=basic(merchant.secret_key)) as client:
        resp = client.get(f"/sessions/{session_id}")
    assert resp.status_code == 200, resp.text


def test_auth_scheme_is_case_insensitive(merchant: Merchant, session_id: str) -> None:
    token = basic(merchant.publishable_key).split(" ", 1)[1]
    with raw_client(merchant, Authorization="basic " + token) as client:
        resp = client.get(f"/sessions/{session_id}")
    assert resp.status_code == 200, resp.text


def test_keys_carry_their_mode(merchant: Merchant) -> None:
    assert merchant.secret_key.startswith("sk_test_")
    assert merchant.publishable_key.startswith("pk_test_")
    assert len(merchant.secret_key) > len("sk_test_") + 15


@pytest.mark.parametrize(
    "header",
    [
        b"Basic \xe9\xe9\xe9\xe9",  # latin-1 text: not base64
        b"Basic c2tfdGVzdF94Og==\xff",  # valid base64 then a non-ASCII byte
        b"Basic \xc3\xa9",  # UTF-8 bytes in the header
        "Basic " + base64.b64encode(b"sk_test_\x00abc:").decode(),  # NUL in the key
        "Basic " + base64.b64encode(b"sk_test_\xe2\x80\x8babc:").decode(),  # non-ASCII key
        "Basic " + base64.b64encode(b"sk_test_" + b"a" * 5000 + b":").decode(),  # huge key
        "Basic " + "A" * 7,  # bad padding
    ],
    ids=["latin1", "trailing-byte", "utf8", "nul", "zero-width", "huge", "padding"],
)
def test_hostile_authorization_is_401_never_500(
    merchant: Merchant, session_id: str, header: str | bytes
) -> None:
    """The class: whatever bytes follow `Basic`, the answer is 401 (was 500 for non-ASCII)."""
    with raw_client(merchant) as client:
        for method, path, body in requests_for(session_id):
            resp = client.request(method, path, json=body, headers={"Authorization": header})
            assert_error(resp, 401, "unauthorized")
