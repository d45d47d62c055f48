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

from tests.conftest import _postgres_url, free_port, fresh_database, kessai, run_async

PG = _postgres_url()
needs_postgres = pytest.mark.skipif(PG is None, reason="needs KESSAI_DATABASE_URL=postgresql://")


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


# A port nothing listens on (0 is refused): these failures come before any bind.
UNUSED_PORT = str(free_port())
COMMANDS = [
    ("serve", "--port", UNUSED_PORT),
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
        "serve",
        "--port",
        UNUSED_PORT,
        env={**env, "KESSAI_EMBEDDED_WORKER": "maybe"},
        cwd=tmp_path,
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


WELL_FORMED_UNKNOWN = "a" * 25  # the form of an id (kessai.ids), but no merchant's


@pytest.mark.parametrize(
    "command",
    [
        ("merchant", "roll-keys", "--merchant", WELL_FORMED_UNKNOWN),
        ("webhook", "add", "--merchant", WELL_FORMED_UNKNOWN, "--url", "http://127.0.0.1:9/x"),
        ("webhook", "list", "--merchant", WELL_FORMED_UNKNOWN),
        ("webhook", "remove", "--merchant", WELL_FORMED_UNKNOWN, "whatever"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_well_formed_unknown_merchant_is_one_line(
    tmp_path: Path, store: str, command: tuple[str, ...]
) -> None:
    """Looked up in the store, and not there."""
    out = kessai(*command, env={"KESSAI_DATABASE_URL": store}, cwd=tmp_path)
    assert_one_line_failure(out, WELL_FORMED_UNKNOWN, "kessai merchant list")


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (("merchant", "roll-keys", "--merchant", b"\xffmerchant"), "\\udcffmerchant"),
        (("webhook", "add", "--merchant", "A" * 25, "--url", "http://127.0.0.1:9/x"), "A" * 25),
        (("webhook", "list", "--merchant", "a" * 26), "a" * 26),
        (("webhook", "remove", "--merchant", "tab\there", "whatever"), "tab\\there"),
    ],
    ids=["undecodable", "upper-case", "too-long", "control"],
)
def test_a_malformed_merchant_id_is_unknown_without_the_store(
    tmp_path: Path, command: tuple[str | bytes, ...], shown: str
) -> None:
    """Not 25 lowercase letters and digits: no merchant has it, said before the store opens."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    out = kessai(*command, env={"KESSAI_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_failure(out, shown, "kessai merchant list")
    assert not (tmp_path / "k.db").exists()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        (b"caf\xe9", ["--name", "UTF-8"]),  # Latin-1 bytes, not UTF-8
        ("", ["--name", "empty"]),
        ("x" * 256, ["--name", "at most 255"]),
        ("two\nlines", ["--name", "control characters"]),
        ("bell\x07", ["--name", "control characters"]),
    ],
    ids=["not-utf8", "empty", "too-long", "newline", "control"],
)
def test_a_bad_merchant_name_is_one_line(
    tmp_path: Path, name: str | bytes, words: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    out = kessai(
        "merchant", "create", "--name", name, env={"KESSAI_DATABASE_URL": url}, cwd=tmp_path
    )
    assert_one_line_failure(out, *words)
    assert not (tmp_path / "k.db").exists()  # refused before the store was touched


def test_a_name_of_the_longest_length_is_taken(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    name = "名" * 255
    out = kessai(
        "merchant", "create", "--name", name, env={"KESSAI_DATABASE_URL": url}, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    listed = kessai("merchant", "list", env={"KESSAI_DATABASE_URL": url}, cwd=tmp_path)
    assert name in listed.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--port", "70000"), ["--port", "1 to 65535", "70000"]),
        (("--port", "0"), ["--port", "1 to 65535"]),
        (("--port", "-1"), ["--port", "1 to 65535"]),
        (("--port", "http"), ["--port", "whole number", "http"]),
        (("--workers", "0"), ["--workers", "at least 1", "0"]),
        (("--workers", "many"), ["--workers", "at least 1"]),
    ],
    ids=["port-too-big", "port-0", "port-negative", "port-word", "workers-0", "workers-word"],
)
def test_a_bad_serve_option_is_one_line(
    tmp_path: Path, args: tuple[str, ...], words: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    out = kessai("serve", *args, env={"KESSAI_DATABASE_URL": url}, cwd=tmp_path)
    assert_one_line_failure(out, *words)
    assert out.stdout == ""
    assert not (tmp_path / "k.db").exists()
