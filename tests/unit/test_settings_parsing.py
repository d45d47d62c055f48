"""Settings from `KESSAI_*`: what each kind of value accepts, and that anything else is
refused with a message naming the variable (the CLI prints it as its one line)."""

from __future__ import annotations

import pytest

from kessai.settings import DEFAULT_DATABASE_URL, Settings, SettingsError


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("true", True),
        ("yes", True),
        ("TRUE", True),
        (" Yes ", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("No", False),
        ("", True),
    ],
)
def test_booleans_accept_1_0_true_false_yes_no(raw: str, value: bool) -> None:
    assert Settings.from_env({"KESSAI_EMBEDDED_WORKER": raw}).embedded_worker is value


@pytest.mark.parametrize("raw", ["maybe", "2", "on", "off", "y", "n", "t", "f", "-1", "truee"])
def test_booleans_refuse_anything_else(raw: str) -> None:
    with pytest.raises(SettingsError, match="KESSAI_EMBEDDED_WORKER.*1/0, true/false or yes/no"):
        Settings.from_env({"KESSAI_EMBEDDED_WORKER": raw})


@pytest.mark.parametrize(
    ("variable", "raw", "words"),
    [
        ("KESSAI_DB_POOL_SIZE", "many", "whole number"),
        ("KESSAI_DB_POOL_SIZE", "0", "at least 1"),
        ("KESSAI_DB_POOL_SIZE", "2.5", "whole number"),
        ("KESSAI_SWEEP_INTERVAL", "soon", "not a number"),
        ("KESSAI_SWEEP_INTERVAL", "-5", "0 or more"),
        ("KESSAI_SWEEP_INTERVAL", "nan", "0 or more"),
        ("KESSAI_WEBHOOK_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("KESSAI_AUTH_CACHE_SECONDS", "inf", "0 or more"),
        ("KESSAI_LOG_LEVEL", "loud", "one of"),
        ("KESSAI_BASE_URL", "pay.example.com", "http(s)://"),
        ("KESSAI_BASE_URL", "ftp://pay.example.com", "http(s)://"),
        ("KESSAI_DATABASE_URL", "foo://", "unsupported database 'foo'"),
        ("KESSAI_DATABASE_URL", "mysql://u@h/db", "unsupported database 'mysql'"),
        ("KESSAI_DATABASE_URL", "sqlite://", "names no SQLite file"),
        ("KESSAI_DATABASE_URL", "sqlite:///:memory:", "names no SQLite file"),
        ("KESSAI_DATABASE_URL", "postgresql://u@h/", "a host and a database name"),
        ("KESSAI_DATABASE_URL", "postgresql://u@h:70000/db", "valid port"),
        ("KESSAI_DATABASE_URL", "postgresql://u@h:port/db", "not a database URL"),
        ("KESSAI_DATABASE_URL", "kessai.db", "not a database URL"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(variable: str, raw: str, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: raw})
    message = str(caught.value)
    assert message.startswith(variable) and words in message, message
    assert "\n" not in message


def test_a_database_password_is_never_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"KESSAI_DATABASE_URL": "postgresql://u:hunter2@h:70000/db"})
    assert "hunter2" not in str(caught.value) and "u:***@h" in str(caught.value)


def test_good_values_parse() -> None:
    s = Settings.from_env(
        {
            "KESSAI_DATABASE_URL": "postgresql://u:p@db.internal:6432/kessai",
            "KESSAI_BASE_URL": "https://pay.example.com/",
            "KESSAI_DB_POOL_SIZE": "5",
            "KESSAI_SWEEP_INTERVAL": "0",
            "KESSAI_LOG_LEVEL": "DEBUG",
            "KESSAI_AUTH_CACHE_SECONDS": "0.5",
        }
    )
    assert s.database_url == "postgresql://u:p@db.internal:6432/kessai"
    assert s.base_url == "https://pay.example.com"
    assert (s.db_pool_size, s.sweep_interval, s.log_level, s.auth_cache_seconds) == (
        5,
        0.0,
        "debug",
        0.5,
    )


def test_unset_and_empty_mean_the_default() -> None:
    assert Settings.from_env({}).database_url == DEFAULT_DATABASE_URL
    assert Settings.from_env({"KESSAI_DATABASE_URL": ""}).database_url == DEFAULT_DATABASE_URL
    assert Settings.from_env({"KESSAI_DB_POOL_SIZE": " "}).db_pool_size == 20
