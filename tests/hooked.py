"""A merchant of the shared server with a webhook endpoint on a local receiver (for the
`kessai trigger`, `kessai events tail` and delivery log tests)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from tests.conftest import Merchant, Server, kessai
from tests.webhooks.receiver import Receiver


def cli(server: Server, *args: str) -> tuple[int, str, str]:
    """`kessai ARGS` on the server's store: (exit status, stdout, stderr)."""
    done = kessai(*args, env={"KESSAI_DATABASE_URL": server.database_url}, cwd=server.workdir)
    return done.returncode, done.stdout, done.stderr


def add_endpoint(merchant: Merchant, url: str) -> str:
    args = ("webhook", "add", "--merchant", merchant.id, "--url", url)
    status, out, err = cli(merchant.server, *args)
    assert status == 0, err
    return str(json.loads(out)["id"])


@contextlib.contextmanager
def hooked(server: Server, name: str) -> Iterator[tuple[Merchant, Receiver]]:
    """A new merchant whose test mode sends every event to a receiver on 127.0.0.1; the
    endpoints are removed afterwards (nothing is retried against a stopped receiver)."""
    receiver = Receiver()
    receiver.up()
    merchant = server.merchant(name)
    endpoint = add_endpoint(merchant, receiver.url)
    try:
        yield merchant, receiver
    finally:
        cli(server, "webhook", "remove", "--merchant", merchant.id, endpoint)
        receiver.down()
