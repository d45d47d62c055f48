"""Checking that `kessai serve` can listen before it says it is serving."""

from __future__ import annotations

import errno
import socket

from kessai.commands import CliError


def reserve(host: str, port: int) -> socket.socket:
    """Bind (host, port) the way uvicorn will (SO_REUSEADDR, IPv6 if the host has a
    colon), so a port in use fails here with one line; the caller closes the socket
    just before uvicorn binds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1)  # a listening socket: nobody else can take the port meanwhile
    except OSError as exc:
        sock.close()
        raise CliError(_explain(exc, host, port)) from exc
    return sock


def _explain(exc: OSError, host: str, port: int) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: the port is already in use; stop the program "
            "using it or choose another port with --port"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"cannot listen on {where}: not allowed (ports below 1024 need privileges); use --port"
        )
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"cannot listen on {where}: {host!r} is not an address of this machine; use --host"
    return f"cannot listen on {where}: {exc.strerror or exc}; check --host and --port"
