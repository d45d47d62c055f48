"""The fault SPEC parser (kessai/edge/faults.py) and the one-line refusal of a bad SPEC."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from kessai.edge.faults import FaultSpec, key_mode, parse_faults
from kessai.settings import Settings
from kessai.settings_parsing import SettingsError
from tests.conftest import kessai


def test_unset_or_empty_is_no_faults() -> None:
    for raw in (None, "", "  "):
        spec = parse_faults(raw)
        assert spec == FaultSpec() and not spec.draws
    assert Settings.from_env({}).faults == FaultSpec()


def test_the_documented_example() -> None:
    spec = parse_faults("error_before=0.1,error_after=0.1,drop_after=0.05,stall_after=0.05")
    assert spec.probabilities() == (
        ("error_before", 0.1),
        ("error_after", 0.1),
        ("drop_after", 0.05),
        ("stall_after", 0.05),
    )
    assert spec.stall_seconds == 30 and spec.seed is None and spec.latency_ms is None
    assert spec.draws


def test_every_option() -> None:
    spec = parse_faults(" drop_after = 1 , stall_seconds=2.5, latency_ms=5-50 ,seed=42 ")
    assert spec == FaultSpec(drop_after=1.0, stall_seconds=2.5, latency_ms=(5, 50), seed=42)
    assert spec.describe() == "drop_after=1,latency_ms=5-50,stall_seconds=2.5,seed=42"
    assert parse_faults("latency_ms=20").latency_ms == (20, 20)
    assert parse_faults("latency_ms=0-0").draws  # a latency draw, even of 0 ms
    assert not parse_faults("stall_seconds=1,seed=3").draws  # the header only


def test_settings_read_kessai_faults() -> None:
    spec = Settings.from_env({"KESSAI_FAULTS": "error_after=0.5,seed=1"}).faults
    assert spec == FaultSpec(error_after=0.5, seed=1)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("explode=0.1", "unknown fault 'explode'"),
        ("Error_Before=0.1", "unknown fault 'Error_Before'"),
        ("error_before", "error_before needs a value"),
        ("error_before=", "error_before needs a value"),
        ("error_before=1.5", "error_before is a probability from 0 to 1, not '1.5'"),
        ("error_after=-0.1", "error_after is a probability from 0 to 1"),
        ("drop_after=nan", "drop_after is a probability"),
        ("drop_after=ten", "drop_after is a probability"),
        ("error_before=0.6,error_after=0.5", "add up to 1.1"),
        ("error_before=0.1,error_before=0.2", "error_before is given twice"),
        ("error_before=0.1,", "an empty entry"),
        ("stall_seconds=0", "stall_seconds must be"),
        ("stall_seconds=4000", "stall_seconds must be"),
        ("stall_seconds=inf", "stall_seconds must be"),
        ("latency_ms=50-5", "MIN <= MAX"),
        ("latency_ms=a-b", "latency_ms must be MIN-MAX"),
        ("latency_ms=-5", "latency_ms must be MIN-MAX"),
        ("latency_ms=1-2-3", "latency_ms must be MIN-MAX"),
        ("latency_ms=0-100000", "MIN <= MAX <= 60000"),
        ("seed=-1", "seed must be a whole number"),
        ("seed=1.5", "seed must be a whole number"),
    ],
)
def test_bad_specs_say_why(raw: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_faults(raw)
    message = str(caught.value)
    assert message.startswith(f"KESSAI_FAULTS={raw!r}: ") and says in message, message
    assert "\n" not in message


def test_probabilities_may_add_up_to_exactly_one() -> None:
    spec = parse_faults("error_before=0.1,error_after=0.2,drop_after=0.3,stall_after=0.4")
    assert sum(p for _, p in spec.probabilities()) == pytest.approx(1)


def _scope(authorization: bytes | None) -> dict[str, object]:
    headers = [] if authorization is None else [(b"authorization", authorization)]
    return {"type": "http", "headers": headers}


def _basic(user: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:".encode())


@pytest.mark.parametrize(
    ("authorization", "mode"),
    [
        (_basic("sk_test_abc"), "test"),
        (_basic("pk_test_abc"), "test"),
        (_basic("sk_live_abc"), "live"),
        (_basic("pk_live_abc"), "live"),
        (_basic("sk_test_"), None),
        (_basic("xk_test_abc"), None),
        (b"Bearer sk_test_abc", None),
        (b"Basic !!!", None),
        (b"Basic " + base64.b64encode(b"\xff\xfe:"), None),
        (None, None),
    ],
)
def test_key_mode_reads_the_basic_user_name(authorization: bytes | None, mode: str | None) -> None:
    assert key_mode(_scope(authorization)) == mode


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--faults", "explode=0.1"], {}, "kessai: --faults='explode=0.1': unknown fault"),
        (["--faults", "error_before=2"], {}, "kessai: --faults='error_before=2': error_before"),
        ([], {"KESSAI_FAULTS": "latency_ms=9-1"}, "kessai: KESSAI_FAULTS='latency_ms=9-1': "),
    ],
)
def test_serve_refuses_a_bad_spec_in_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    url = f"sqlite:///{tmp_path / 'never.db'}"
    out = kessai(
        "serve", "--port", "1", *args, env={"KESSAI_DATABASE_URL": url, **env}, cwd=tmp_path
    )
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.startswith(says) and out.stderr.count("\n") == 1, out.stderr
    assert not (tmp_path / "never.db").exists()
