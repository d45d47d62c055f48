"""Connections a client opens and never uses, or uses half-way, are closed; past the cap,
the longest-waiting idle one makes room; a normal client is served throughout.

The deadlines are the server's; the tests wait for each close with a bound and never time
it. kessai/edge/connections.py subclasses uvicorn internals: these tests (and the hook
check below) fail if those change.
"""

from __future__ import annotations

import inspect
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kessai.edge.connections import HOOKS, DeadlineHttpTools, check_uvicorn
from tests.conftest import Server, fresh_database, served, start_server, stop_server

BOUND = 20.0  # seconds any close may take before the test fails (deadlines are 1 s)


@pytest.fixture(scope="module")
def short_deadlines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("connections")
    env = {
        "KESSAI_HEADER_TIMEOUT_SECONDS": "1",
        "KESSAI_KEEP_ALIVE_SECONDS": "1",
        "KESSAI_MAX_HEADER_BYTES": "4096",
        "KESSAI_MAX_CONNECTIONS": "500",
    }
    with served(tmp, env=env) as srv:
        yield srv


def address(server: Server) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def open_socket(server: Server, first_bytes: bytes = b"") -> socket.socket:
    sock = socket.create_connection(address(server), timeout=BOUND)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def closed_by_server(sock: socket.socket) -> bytes:
    """Wait (at most BOUND) for the server to close; returns what it sent before."""
    received = []
    try:
        while chunk := sock.recv(65536):
            received.append(chunk)
    except ConnectionResetError:
        pass
    sock.close()
    return b"".join(received)


def answers(server: Server) -> bool:
    return httpx.get(f"{server.base_url}/health", timeout=BOUND).status_code == 200


def test_idle_and_half_sent_connections_are_closed(short_deadlines: Server) -> None:
    srv = short_deadlines
    idle = [open_socket(srv) for _ in range(40)]
    half_sent = [
        open_socket(srv, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(40)
    ]
    kept_alive = open_socket(srv, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answers(srv)  # while they are all open
    for sock in idle + half_sent:
        assert closed_by_server(sock) == b""  # closed without an answer
    assert closed_by_server(kept_alive).startswith(b"HTTP/1.1 200")  # then idle: closed
    assert answers(srv)


def test_a_slow_second_request_on_a_kept_connection_is_closed(short_deadlines: Server) -> None:
    sock = open_socket(short_deadlines, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /hea")
    assert closed_by_server(sock).count(b"HTTP/1.1 ") == 1


def test_oversized_headers_are_refused(short_deadlines: Server) -> None:
    sock = open_socket(short_deadlines, b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 8000)
    assert closed_by_server(sock).startswith(b"HTTP/1.1 400")
    assert answers(short_deadlines)


def test_the_server_raised_its_open_file_limit(short_deadlines: Server) -> None:
    limits = Path(f"/proc/{short_deadlines.process.pid}/limits").read_text()
    line = next(row for row in limits.splitlines() if row.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    assert soft == hard, line


def test_past_the_cap_the_oldest_idle_connection_makes_room(tmp_path: Path) -> None:
    env = {"KESSAI_HEADER_TIMEOUT_SECONDS": "600", "KESSAI_MAX_CONNECTIONS": "10"}
    with fresh_database(tmp_path) as url:
        srv = start_server(url, tmp_path, env=env)
        try:
            flood = [open_socket(srv) for _ in range(30)]
            # Each new connection past 10 evicted the oldest idle one: a client still gets in.
            assert answers(srv)
            oldest = flood[:20]
            for i, sock in enumerate(oldest):
                assert closed_by_server(sock) == b"", i
            for sock in flood[20:]:
                sock.close()
        finally:
            stop_server(srv)


def test_uvicorn_still_has_the_hooks_the_deadline_uses() -> None:
    check_uvicorn()
    for name in HOOKS:
        ours = getattr(DeadlineHttpTools, name)
        theirs = getattr(HttpToolsProtocol, name)
        assert inspect.signature(ours) == inspect.signature(theirs), name
    params = inspect.signature(HttpToolsProtocol.__init__).parameters
    assert {"config", "server_state", "app_state"} <= set(params)
