"""The `kessai` command as a new user meets it."""

from __future__ import annotations

import json
import subprocess

import httpx

from tests.conftest import KESSAI, Server, start_server, stop_server


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
    assert set(data) == {"id", "name", "secret_key", "publishable_key"}
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


def test_serve_on_an_empty_store_creates_a_demo_merchant_and_prints_working_keys(
    tmp_path,
) -> None:
    srv = start_server(f"sqlite:///{tmp_path / 'demo.db'}", tmp_path)
    try:
        assert httpx.get(f"{srv.base_url}/health").json() == {"status": "ok"}
        log = srv.log_path.read_text()
        secret = next(line.split()[-1] for line in log.splitlines() if "secret key:" in line)
        assert secret.startswith("sk_test_")
        session = httpx.post(
            f"{srv.base_url}/api/v1/sessions",
            auth=(secret, ""),
            data={"amount": "1000", "currency": "JPY"},
        ).json()
        assert session["session_url"] == f"{srv.base_url}/sessions/{session['id']}"
    finally:
        stop_server(srv)
    # A second start on the same store keeps the data and creates no new demo merchant.
    srv = start_server(f"sqlite:///{tmp_path / 'demo.db'}", tmp_path)
    try:
        assert "secret key:" not in srv.log_path.read_text()
        again = httpx.get(f"{srv.base_url}/api/v1/sessions/{session['id']}", auth=(secret, ""))
        assert again.status_code == 200 and again.json()["id"] == session["id"]
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
