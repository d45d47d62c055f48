"""The `kessai` command as a new user meets it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import (
    KESSAI,
    Server,
    free_port,
    fresh_database,
    kessai,
    start_server,
    stop_server,
)


def test_merchant_create_json_prints_exactly_one_object(server: Server) -> None:
    out = subprocess.run(
        [*KESSAI, "merchant", "create", "--name", "JSON Shop", "--json"],
        env=server.env(),
        cwd=server.workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)  # the whole of stdout is one JSON document
    assert set(data) == {
        "id",
        "name",
        "secret_key",
        "publishable_key",
        "live_secret_key",
        "live_publishable_key",
    }
    assert data["name"] == "JSON Shop"
    assert data["secret_key"].startswith("sk_test_")
    assert data["publishable_key"].startswith("pk_test_")
    assert len(data["id"]) == 25 and data["id"].isalnum() and data["id"].islower()
    # The printed keys work at once.
    response = httpx.post(
        f"{server.base_url}/api/v1/sessions",
        auth=(data["secret_key"], ""),
        json={"amount": 500, "currency": "JPY"},
    )
    assert response.status_code == 200, response.text


def test_merchant_create_migrates_a_store_that_was_never_served(tmp_path) -> None:
    env = {"KESSAI_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    import os

    out = subprocess.run(
        [*KESSAI, "merchant", "create", "--name", "First", "--json"],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["name"] == "First"
    assert (tmp_path / "fresh.db").exists()


def _serve(workdir: Path, env: dict[str, str], *extra: str) -> tuple[Server, Path, Path]:
    """`kessai serve` with stdout and stderr (the log) kept apart."""
    port = free_port()
    out_path, err_path = workdir / f"out-{port}.txt", workdir / f"err-{port}.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [*KESSAI, "serve", "--port", str(port), *extra],
            env={**os.environ, "KESSAI_LOG_LEVEL": "info", **env},
            cwd=workdir,
            stdout=out,
            stderr=err,
        )
    base_url = f"http://127.0.0.1:{port}"
    srv = Server(base_url, env.get("KESSAI_DATABASE_URL", ""), err_path, workdir, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return srv, out_path, err_path
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(srv)
    raise RuntimeError(f"kessai serve did not start:\n{err_path.read_text()}")


def _demo_secret(stdout: str) -> str | None:
    lines = [line for line in stdout.splitlines() if "secret key:" in line]
    return lines[0].split()[-1] if lines else None


def test_serve_on_the_default_store_creates_a_demo_merchant_and_prints_its_keys(
    tmp_path: Path,
) -> None:
    env = {"KESSAI_DATABASE_URL": ""}  # unset: the embedded default, ./kessai.db
    srv, out, err = _serve(tmp_path, env)
    try:
        secret = _demo_secret(out.read_text())
        assert secret is not None and secret.startswith("sk_test_")
        assert secret not in err.read_text()  # on the terminal, not in the log
        session = httpx.post(
            f"{srv.base_url}/api/v1/sessions",
            auth=(secret, ""),
            data={"amount": "1000", "currency": "JPY"},
        ).json()
        assert session["session_url"] == f"{srv.base_url}/sessions/{session['id']}"
    finally:
        stop_server(srv)
    assert (tmp_path / "kessai.db").exists()
    # A second start on the same store keeps the data and creates no new demo merchant.
    srv, out, err = _serve(tmp_path, env)
    try:
        assert _demo_secret(out.read_text()) is None
        again = httpx.get(f"{srv.base_url}/api/v1/sessions/{session['id']}", auth=(secret, ""))
        assert again.status_code == 200 and again.json()["id"] == session["id"]
    finally:
        stop_server(srv)


def test_a_configured_store_gets_a_demo_merchant_only_with_demo(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        env = {"KESSAI_DATABASE_URL": url}
        srv, out, _ = _serve(tmp_path, env)
        stop_server(srv)
        assert _demo_secret(out.read_text()) is None
        assert "No merchants yet" in kessai_ok("merchant", "list", env=env, cwd=tmp_path).stdout

        srv, out, err = _serve(tmp_path, env, "--demo")
        try:
            secret = _demo_secret(out.read_text())
            assert secret is not None and secret not in err.read_text()
            response = httpx.get(f"{srv.base_url}/api/v1/payments", auth=(secret, ""))
            assert response.status_code == 200, response.text
        finally:
            stop_server(srv)
        listed = json.loads(kessai_ok("merchant", "list", "--json", env=env, cwd=tmp_path).stdout)
        assert [m["name"] for m in listed] == ["Demo Merchant"]


def kessai_ok(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    out = kessai(*args, env=env, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return out


# What `merchant create` and `roll-keys` print, in the order `merchant list` shows hints.
KEYS = ("secret_key", "publishable_key", "live_secret_key", "live_publishable_key")


def hint(key: str) -> str:
    return f"{key[:8]}…{key[-4:]}"


def test_merchant_list_shows_ids_names_and_key_hints(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        env = {"KESSAI_DATABASE_URL": url}
        made = [
            json.loads(
                kessai_ok("merchant", "create", "--name", n, "--json", env=env, cwd=tmp_path).stdout
            )
            for n in ("Alpha Shop", "Beta")
        ]
        table = kessai_ok("merchant", "list", env=env, cwd=tmp_path).stdout.splitlines()
        assert table[0].split() == ["ID", "NAME", "KEYS"]
        for m, line in zip(made, table[1:], strict=True):  # oldest first
            assert line.split() == [
                m["id"],
                *m["name"].split(),
                *(hint(m[k]) for k in KEYS),
            ]
            assert m["secret_key"] not in line
        listed = json.loads(kessai_ok("merchant", "list", "--json", env=env, cwd=tmp_path).stdout)
        assert [(m["id"], m["name"], m["keys"]) for m in listed] == [
            (m["id"], m["name"], [hint(m[k]) for k in KEYS]) for m in made
        ]


def test_roll_keys_issues_new_keys_and_the_old_stop_working(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        srv = start_server(url, tmp_path, env={"KESSAI_AUTH_CACHE_SECONDS": "0"})
        try:
            shop, other = srv.merchant("Rolling Shop"), srv.merchant("Bystander")
            for key in (shop.secret_key, other.secret_key):
                assert (
                    httpx.get(f"{srv.base_url}/api/v1/payments", auth=(key, "")).status_code == 200
                )
            rolled = json.loads(
                kessai_ok(
                    "merchant",
                    "roll-keys",
                    "--merchant",
                    shop.id,
                    "--json",
                    env=srv.env(),
                    cwd=tmp_path,
                ).stdout
            )
            assert rolled["id"] == shop.id and rolled["name"] == "Rolling Shop"
            assert {rolled["secret_key"], rolled["publishable_key"]}.isdisjoint(
                {shop.secret_key, shop.publishable_key}
            )
            payments = f"{srv.base_url}/api/v1/payments"
            assert httpx.get(payments, auth=(shop.secret_key, "")).status_code == 401
            assert httpx.get(payments, auth=(rolled["secret_key"], "")).status_code == 200
            assert httpx.get(payments, auth=(other.secret_key, "")).status_code == 200
            created = httpx.post(
                f"{srv.base_url}/api/v1/sessions",
                auth=(rolled["secret_key"], ""),
                json={"amount": 500, "currency": "JPY"},
            )
            assert created.status_code == 200, created.text
            # The old publishable key is refused too (and the new one accepted).
            methods = f"{srv.base_url}/api/v1/payment_methods"
            assert httpx.get(methods, auth=(shop.publishable_key, "")).status_code == 401
            assert httpx.get(methods, auth=(rolled["publishable_key"], "")).status_code == 200
            listed = json.loads(
                kessai_ok("merchant", "list", "--json", env=srv.env(), cwd=tmp_path).stdout
            )
            keys = {m["id"]: m["keys"] for m in listed}
            assert keys[shop.id] == [hint(rolled[k]) for k in KEYS]
        finally:
            stop_server(srv)


def test_roll_keys_says_how_long_a_running_server_may_accept_the_old_keys(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        env = {"KESSAI_DATABASE_URL": url, "KESSAI_AUTH_CACHE_SECONDS": "1"}
        shop = json.loads(
            kessai_ok("merchant", "create", "--name", "S", "--json", env=env, cwd=tmp_path).stdout
        )
        srv = start_server(url, tmp_path, env={"KESSAI_AUTH_CACHE_SECONDS": "1"})
        try:
            payments = f"{srv.base_url}/api/v1/payments"
            assert httpx.get(payments, auth=(shop["secret_key"], "")).status_code == 200  # cached
            out = kessai_ok(
                "merchant", "roll-keys", "--merchant", shop["id"], env=env, cwd=tmp_path
            ).stdout
            assert "up to 1 s more" in out and "KESSAI_AUTH_CACHE_SECONDS" in out
            # The bound it states holds: wait for the refusal, up to well past that bound.
            deadline = time.monotonic() + 30
            while httpx.get(payments, auth=(shop["secret_key"], "")).status_code != 401:
                assert time.monotonic() < deadline, "the old key still works"
                time.sleep(0.1)
        finally:
            stop_server(srv)


def test_default_store_is_kessai_db_in_the_working_directory(tmp_path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "KESSAI_DATABASE_URL"}
    subprocess.run(
        [*KESSAI, "merchant", "create", "--name", "Default"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    assert (tmp_path / "kessai.db").exists()
