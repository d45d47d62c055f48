"""`kessai processor set|show` and live keys, as an operator meets them.

The CLI runs as a subprocess against a real store; the last test runs a real server and
shows that a `processor set` reaches it without a restart.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kessai.store import merchants
from kessai.store.db import Database
from kessai.store.migrate import upgrade
from tests.conftest import (
    CARD,
    fresh_database,
    kessai,
    run_async,
    start_server,
    stop_server,
    wait_for,
)

UPSTREAM_KEY = "sk_live_" + "7" * 28 + "ab12"
HOOK_SECRET = "whsec-upstream-0123456789"


class Store:
    def __init__(self, url: str, workdir: Path) -> None:
        self.url, self.workdir = url, workdir

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        if stdin is None:
            return kessai(*args, env={"KESSAI_DATABASE_URL": self.url}, cwd=self.workdir)
        import os
        import sys

        return subprocess.run(
            [sys.executable, "-m", "kessai", *args],
            env={**os.environ, "KESSAI_DATABASE_URL": self.url},
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ok(self, *args: str, **kw: Any) -> str:
        out = self.run(*args, **kw)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def refused(self, *args: str) -> str:
        """The one line of a refusal (exit 2, nothing on stdout)."""
        out = self.run(*args)
        assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
        assert out.stdout == ""
        lines = out.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("kessai: "), out.stderr
        return lines[0]

    def merchant(self, name: str = "Shop") -> dict[str, str]:
        data: dict[str, str] = json.loads(self.ok("merchant", "create", "--name", name, "--json"))
        return data


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    workdir = tmp_path_factory.mktemp("processor-cli")
    with fresh_database(workdir) as url:
        yield Store(url, workdir)


def komoju(shop: str, mode: str, *extra: str) -> tuple[str, ...]:
    return (
        "processor",
        "set",
        "--merchant",
        shop,
        "--mode",
        mode,
        "komoju",
        "--api-url",
        "http://127.0.0.1:9/api/v1",
        "--secret-key",
        UPSTREAM_KEY,
        *extra,
    )


def test_merchant_create_prints_live_keys_too(store: Store) -> None:
    made = store.merchant("Live Keys Shop")
    assert set(made) == {
        "id",
        "name",
        "secret_key",
        "publishable_key",
        "live_secret_key",
        "live_publishable_key",
    }
    assert made["live_secret_key"].startswith("sk_live_")
    assert made["live_publishable_key"].startswith("pk_live_")
    human = store.ok("merchant", "create", "--name", "Human Shop")
    live = [line.split()[-1] for line in human.splitlines() if "_live_" in line]
    assert [k[:8] for k in live] == ["sk_live_", "pk_live_"]
    listed = json.loads(store.ok("merchant", "list", "--json"))
    hints = {m["id"]: m["keys"] for m in listed}[made["id"]]
    assert len(hints) == 4 and [h[:8] for h in hints] == [
        "sk_test_",
        "pk_test_",
        "sk_live_",
        "pk_live_",
    ]
    assert made["live_secret_key"] not in json.dumps(listed)


def test_roll_keys_gives_an_older_merchant_its_first_live_keys(store: Store) -> None:
    async def old_style() -> str:  # a merchant made before live keys existed
        await upgrade(store.url)
        db = Database.from_url(store.url, pool_size=1)
        try:
            async with db.transaction() as conn:
                from kessai.services.runtime import utcnow

                merchant_id, _ = await merchants.insert_merchant(conn, "Old Shop", utcnow())
                return merchant_id
        finally:
            await db.dispose()

    shop = run_async(old_style())
    rolled = json.loads(store.ok("merchant", "roll-keys", "--merchant", shop, "--json"))
    assert rolled["secret_key"].startswith("sk_test_")
    assert rolled["live_secret_key"].startswith("sk_live_")
    human = store.ok("merchant", "roll-keys", "--merchant", shop)
    assert "live secret key:" in human and rolled["live_secret_key"] not in human


def test_show_defaults_then_set_komoju_with_secrets_as_hints(store: Store) -> None:
    shop = store.merchant()["id"]
    shown = json.loads(store.ok("processor", "show", "--merchant", shop, "--json"))
    assert shown == {"merchant": shop, "test": {"name": "simulated"}, "live": None}
    assert "live mode: none" in store.ok("processor", "show", "--merchant", shop)

    out = store.ok(*komoju(shop, "live", "--webhook-secret", HOOK_SECRET, "--timeout", "4.5"))
    expected_live = {
        "name": "komoju",
        "api_url": "http://127.0.0.1:9/api/v1",
        "secret_key": "sk_live_…ab12",
        "webhook_secret": "set",
        "timeout": 4.5,
    }
    assert "within 2 s" in out
    for printed in (
        out,
        store.ok("processor", "show", "--merchant", shop),
        store.ok("processor", "show", "--merchant", shop, "--json"),
    ):
        assert UPSTREAM_KEY not in printed and HOOK_SECRET not in printed
    shown = json.loads(store.ok("processor", "show", "--merchant", shop, "--json"))
    assert shown == {"merchant": shop, "test": {"name": "simulated"}, "live": expected_live}

    # Test mode to KOMOJU too (--json prints what show prints), then back to the simulator.
    both = json.loads(store.ok(*komoju(shop, "test", "--json")))
    assert both["test"] == {**expected_live, "webhook_secret": None, "timeout": 10.0}
    store.ok("processor", "set", "--merchant", shop, "--mode", "test", "simulated")
    store.ok("processor", "set", "--merchant", shop, "--mode", "live", "none")
    shown = json.loads(store.ok("processor", "show", "--merchant", shop, "--json"))
    assert shown == {"merchant": shop, "test": {"name": "simulated"}, "live": None}


def test_the_secret_key_can_come_from_stdin(store: Store) -> None:
    shop = store.merchant()["id"]
    args = [a if a != UPSTREAM_KEY else "-" for a in komoju(shop, "live", "--json")]
    shown = json.loads(store.ok(*args, stdin=UPSTREAM_KEY + "\n"))
    assert shown["live"]["secret_key"] == "sk_live_…ab12"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--api-url", "ftp://komoju.com"), "--api-url must be an absolute http or https URL"),
        (("--api-url", "http://komoju.com/api/v1"), "--api-url must be https"),
        (("--secret-key", "pk_live_0123456789abcdef"), "--secret-key must be a KOMOJU secret"),
        (("--timeout", "0"), "--timeout must be a positive number of seconds, not '0'"),
        (("--timeout", "-3"), "--timeout must be a positive number of seconds"),
        (("--timeout", "soon"), "--timeout must be a positive number of seconds, not 'soon'"),
        (("--timeout", "500"), "--timeout must be more than 0 and at most 120 seconds"),
        (("--webhook-secret", ""), "--webhook-secret"),
    ],
)
def test_bad_komoju_options_are_one_line(store: Store, args: tuple[str, ...], says: str) -> None:
    shop = store.merchant()["id"]
    base = list(komoju(shop, "live"))
    for i in range(0, len(args), 2):  # replace the option if given, else add it
        if args[i] in base:
            base[base.index(args[i]) + 1] = args[i + 1]
        else:
            base += [args[i], args[i + 1]]
    line = store.refused(*base)
    assert says in line and UPSTREAM_KEY not in line
    shown = json.loads(store.ok("processor", "show", "--merchant", shop, "--json"))
    assert shown["live"] is None  # nothing was written


def test_other_refusals_are_one_line(store: Store) -> None:
    shop = store.merchant()["id"]
    nobody = "a" * 25
    set_ = ("processor", "set", "--merchant")
    cases = {
        (*set_, nobody, "--mode", "live", "none"): f"no merchant '{nobody}' in this store",
        ("processor", "show", "--merchant", nobody): f"no merchant '{nobody}'",
        ("processor", "show", "--merchant", "../x"): "no merchant '../x'",
        (*set_, shop, "--mode", "prod", "none"): "--mode must be live or test, not 'prod'",
        (*set_, shop, "--mode", "live", "stripe"): "known processors: komoju, simulated",
        (*set_, shop, "--mode", "live", "komoju", "--api-url", "https://komoju.com"): (
            "--secret-key is required for the komoju processor"
        ),
        (*set_, shop, "--mode", "live", "komoju", "--secret-key", UPSTREAM_KEY): (
            "--api-url is required for the komoju processor"
        ),
        (*set_, shop, "--mode", "test", "simulated", "--timeout", "3"): (
            "--timeout is not a setting of the simulated processor"
        ),
        (*set_, shop, "--mode", "live", "none", "--api-url", "https://komoju.com"): (
            "--api-url makes no sense with `none`"
        ),
        (*set_, shop, "--mode", "live", "simulated"): "--allow-simulated-live",
        (*set_, shop, "--mode", "test", "none"): "test mode always has a processor",
    }
    for args, says in cases.items():
        line = store.refused(*args)
        assert says in line, (args, line)
        assert UPSTREAM_KEY not in line


def test_a_running_server_follows_processor_set_without_a_restart(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        srv = start_server(url, tmp_path)
        cli = Store(url, tmp_path)
        try:
            made = cli.merchant("Pickup Shop")
            shop, live_key = made["id"], made["live_secret_key"]
            live = httpx.Client(base_url=f"{srv.base_url}/api/v1", auth=(live_key, ""), timeout=30)

            def pay() -> httpx.Response:
                return live.post(
                    "/payments",
                    json={"amount": 1000, "currency": "JPY", "payment_details": CARD},
                )

            refused = pay()
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "processor_unavailable"
            demo = ("--mode", "live", "simulated", "--allow-simulated-live")
            cli.ok("processor", "set", "--merchant", shop, *demo)

            def approved() -> httpx.Response | None:
                response = pay()
                return response if response.status_code == 200 else None

            paid = wait_for(approved, what="the live processor to be picked up", timeout=10)
            assert paid.json()["status"] == "captured", paid.text
            # A live payment: the test-mode key does not see it.
            test_view = httpx.get(
                f"{srv.base_url}/api/v1/payments/{paid.json()['id']}",
                auth=(made["secret_key"], ""),
            )
            assert test_view.status_code == 404, test_view.text
            cli.ok("processor", "set", "--merchant", shop, "--mode", "live", "none")
            wait_for(lambda: pay().status_code == 503, what="the live processor to go", timeout=10)
            live.close()
        finally:
            stop_server(srv)
