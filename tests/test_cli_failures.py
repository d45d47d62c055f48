"""Every failure a user can fix prints one line to stderr and exits 2: no traceback.

Each test runs the real command (`python -m kessai`) as a subprocess, the way a user meets
it. Stores are real: a SQLite file, or a fresh PostgreSQL database when
KESSAI_DATABASE_URL names a server.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import KESSAI, _postgres_url, free_port, fresh_database, run_async

PG = _postgres_url()
needs_postgres = pytest.mark.skipif(PG is None, reason="needs KESSAI_DATABASE_URL=postgresql://")


def kessai(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KESSAI, *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_failure(out: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, exactly one line on stderr naming the problem, and no traceback."""
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    line = lines[0]
    assert line.startswith("kessai: "), line
    for word in words:
        assert word in line, (word, line)
    assert "serving" not in out.stdout
    return line


COMMANDS = [
    ("serve", "--port", "0"),
    ("worker",),
    ("db", "upgrade"),
    ("merchant", "list"),
    ("merchant", "create", "--name", "X"),
]


@pytest.mark.parametrize(
    ("command", "url", "words"),
    [
        *[(c, "foo://", ["KESSAI_DATABASE_URL", "foo", "sqlite:///PATH"]) for c in COMMANDS],
        (COMMANDS[3], "sqlite://", ["KESSAI_DATABASE_URL", "sqlite:///PATH"]),
        (COMMANDS[3], "postgresql://u:hunter2@127.0.0.1:99999/x", ["KESSAI_DATABASE_URL", "port"]),
        (COMMANDS[3], "not a url", ["KESSAI_DATABASE_URL"]),
    ],
    ids=[*(f"foo-{' '.join(c[:2])}" for c in COMMANDS), "no-sqlite-file", "bad-port", "not-a-url"],
)
def test_a_malformed_database_url_is_one_line(
    tmp_path: Path, command: tuple[str, ...], url: str, words: list[str]
) -> None:
    out = kessai(*command, env={"KESSAI_DATABASE_URL": url}, cwd=tmp_path)
    line = assert_one_line_failure(out, *words)
    assert "hunter2" not in line  # a password is never echoed
    assert not list(tmp_path.iterdir())  # nothing was created


@pytest.mark.parametrize("command", COMMANDS[:4], ids=lambda c: " ".join(c[:2]))
def test_an_unreachable_postgresql_is_one_line(tmp_path: Path, command: tuple[str, ...]) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/kessai"
    out = kessai(*command, env={"KESSAI_DATABASE_URL": url}, cwd=tmp_path)
    line = assert_one_line_failure(out, f"127.0.0.1:{port}", "Connection refused")
    assert "hunter2" not in line


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("no-such-dir/kessai.db", ["no-such-dir", "directory", "does not exist"]),
        ("a-directory", ["a-directory", "is a directory"]),
        ("not-a-database.db", ["not-a-database.db", "not a database"]),
    ],
)
def test_a_sqlite_file_that_cannot_be_used_is_one_line(
    tmp_path: Path, name: str, words: list[str]
) -> None:
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "not-a-database.db").write_text("hello, I am a text file\n" * 100)
    url = f"sqlite:///{tmp_path / name}"
    out = kessai("merchant", "list", env={"KESSAI_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_failure(out, *words)


@needs_postgres
@pytest.mark.parametrize("command", [COMMANDS[0], COMMANDS[3]], ids=lambda c: " ".join(c[:2]))
def test_a_missing_postgresql_database_says_how_to_create_it(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    assert PG is not None
    url = f"{PG.rpartition('/')[0]}/kessai_missing_{os.getpid()}"
    out = kessai(*command, env={"KESSAI_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_failure(out, f"kessai_missing_{os.getpid()}", "kessai db upgrade", "createdb")


@needs_postgres
def test_db_upgrade_creates_a_missing_postgresql_database(tmp_path: Path) -> None:
    assert PG is not None
    name = f"kessai_created_{os.getpid()}"
    url = f"{PG.rpartition('/')[0]}/{name}"
    env = {"KESSAI_DATABASE_URL": url}
    try:
        out = kessai("db", "upgrade", env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert "created database" in out.stdout
        listed = kessai("merchant", "list", env=env, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert "No merchants yet" in listed.stdout
    finally:
        from tests.conftest import _pg

        run_async(_pg(PG, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_a_port_in_use_fails_before_serving_is_printed(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with fresh_database(tmp_path) as url:
            out = kessai(
                "serve", "--port", str(port), env={"KESSAI_DATABASE_URL": url}, cwd=tmp_path
            )
    assert_one_line_failure(out, f"127.0.0.1:{port}", "already in use", "--port")
    assert out.stdout == ""


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        (
            "KESSAI_EMBEDDED_WORKER",
            "maybe",
            ["KESSAI_EMBEDDED_WORKER", "1/0, true/false or yes/no"],
        ),
        ("KESSAI_EMBEDDED_WORKER", "2", ["KESSAI_EMBEDDED_WORKER", "boolean"]),
        ("KESSAI_DB_POOL_SIZE", "lots", ["KESSAI_DB_POOL_SIZE", "whole number"]),
        ("KESSAI_SWEEP_INTERVAL", "-1", ["KESSAI_SWEEP_INTERVAL", "0 or more"]),
        ("KESSAI_AUTH_CACHE_SECONDS", "soon", ["KESSAI_AUTH_CACHE_SECONDS", "number"]),
        ("KESSAI_BASE_URL", "pay.example", ["KESSAI_BASE_URL", "http(s)://"]),
        ("KESSAI_WEBHOOK_ALLOW_PRIVATE", "some", ["KESSAI_WEBHOOK_ALLOW_PRIVATE", "none"]),
    ],
)
def test_a_bad_setting_is_one_line(
    tmp_path: Path, variable: str, value: str, words: list[str]
) -> None:
    env = {"KESSAI_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}", variable: value}
    out = kessai("merchant", "list", env=env, cwd=tmp_path)
    assert_one_line_failure(out, *words)
    assert not (tmp_path / "k.db").exists()  # refused before the store was touched


def test_serve_refuses_a_bad_boolean_before_it_serves(tmp_path: Path) -> None:
    env = {"KESSAI_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"}
    out = kessai(
        "serve", "--port", "0", env={**env, "KESSAI_EMBEDDED_WORKER": "maybe"}, cwd=tmp_path
    )
    assert_one_line_failure(out, "KESSAI_EMBEDDED_WORKER", "1/0, true/false or yes/no")


@pytest.fixture
def store(tmp_path: Path):
    with fresh_database(tmp_path) as url:
        yield url


@pytest.mark.parametrize(
    "command",
    [
        ("merchant", "roll-keys", "--merchant", "nosuchmerchant"),
        ("webhook", "add", "--merchant", "nosuchmerchant", "--url", "http://127.0.0.1:9/x"),
        ("webhook", "list", "--merchant", "nosuchmerchant"),
        ("webhook", "remove", "--merchant", "nosuchmerchant", "whatever"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_an_unknown_merchant_is_one_line(
    tmp_path: Path, store: str, command: tuple[str, ...]
) -> None:
    out = kessai(*command, env={"KESSAI_DATABASE_URL": store}, cwd=tmp_path)
    assert_one_line_failure(out, "nosuchmerchant", "kessai merchant list")
