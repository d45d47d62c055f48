"""The store as the CLI uses it: migrate, run one transaction, and turn the failures a
user can fix (unreachable server, missing database, wrong credentials, unusable SQLite
file) into one line saying what to do."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from kessai.commands import CliError
from kessai.settings import Settings
from kessai.settings_parsing import safe_url
from kessai.store.db import Database, async_url, is_sqlite
from kessai.store.migrate import upgrade

T = TypeVar("T")

# PostgreSQL SQLSTATEs a user fixes by changing the URL or the server.
_MISSING_DATABASE = "3D000"
_AUTH_FAILED = ("28000", "28P01")
_TOO_MANY = ("53300",)
_STARTING = ("57P03",)


async def in_store(settings: Settings, operation: Callable[[Any], Awaitable[T]]) -> T:
    """Migrate the store, then run one operation in one transaction."""
    await upgrade(settings.database_url)
    db = Database.from_url(settings.database_url, pool_size=1)
    try:
        async with db.transaction() as conn:
            return await operation(conn)
    finally:
        await db.dispose()


def missing_database(exc: BaseException) -> bool:
    return _sqlstate(exc) == _MISSING_DATABASE


@contextlib.contextmanager
def store_failures(url: str) -> Iterator[None]:
    """Re-raise a failure to reach or open the store as a one-line `CliError`."""
    if is_sqlite(url):
        check_sqlite_file(url)
    try:
        yield
    except Exception as exc:
        message = explain(exc, url)
        if message is None:
            raise
        raise CliError(message) from exc


def check_sqlite_file(url: str) -> None:
    """Refuse a SQLite path that cannot work before connecting to it (a failed aiosqlite
    connect also leaves its worker thread to report to a closed event loop)."""
    path = Path(sa.engine.make_url(url).database or "")
    fix = "or set KESSAI_DATABASE_URL"
    if path.exists():
        if path.is_dir():
            raise CliError(f"the SQLite path {str(path)!r} is a directory: name a file {fix}")
        if not os.access(path, os.R_OK | os.W_OK):
            raise CliError(
                f"cannot read and write the SQLite file {str(path)!r}: fix its permissions {fix}"
            )
        return
    parent = path.parent
    if not parent.is_dir():
        raise CliError(
            f"the directory of the SQLite file {str(path)!r} does not exist: create it {fix}"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(
            f"cannot create the SQLite file {str(path)!r}: its directory is not writable; "
            f"fix its permissions {fix}"
        )


def explain(exc: BaseException, url: str) -> str | None:
    """One line for a store failure the user can fix, else None (a bug: keep the trace)."""
    shown = safe_url(url)
    if is_sqlite(url):
        orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        if isinstance(orig, sqlite3.OperationalError | sqlite3.DatabaseError | OSError):
            path = sa.engine.make_url(url).database
            return (
                f"cannot use the SQLite file {path!r} ({orig}): check that its directory "
                "exists and is writable and that it is a kessai database, or set "
                "KESSAI_DATABASE_URL"
            )
        return None
    parsed = sa.engine.make_url(url)
    where = f"{parsed.host}:{parsed.port or 5432}"
    state = _sqlstate(exc)
    if state == _MISSING_DATABASE:
        return (
            f"database {parsed.database!r} does not exist on {where}: run `kessai db upgrade` "
            f"to create it (or {createdb_command(url)})"
        )
    if state in _AUTH_FAILED:
        return (
            f"PostgreSQL at {where} refused user {parsed.username!r} ({_first_line(exc)}): "
            "fix the user or password in KESSAI_DATABASE_URL"
        )
    if state in _TOO_MANY or state in _STARTING:
        return f"PostgreSQL at {where} cannot take a connection now ({_first_line(exc)}): try again"
    cause = _os_error(exc)
    if cause is not None:
        return (
            f"cannot reach PostgreSQL at {where} ({_reason(cause)}): start it or "
            f"fix the host and port in KESSAI_DATABASE_URL ({shown})"
        )
    return None


def createdb_command(url: str) -> str:
    parsed = sa.engine.make_url(url)
    user = f" -U {parsed.username}" if parsed.username else ""
    return f"createdb -h {parsed.host} -p {parsed.port or 5432}{user} {parsed.database}"


async def create_database(url: str) -> None:
    """CREATE DATABASE for the URL's database, connecting to the server's `postgres`
    database as the same user. Raises `CliError` if the server refuses."""
    parsed = sa.engine.make_url(async_url(url))
    engine = create_async_engine(
        parsed.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_size=1
    )
    try:
        async with engine.connect() as conn:
            name = conn.dialect.identifier_preparer.quote_identifier(parsed.database or "")
            await conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.DBAPIError as exc:
        if _sqlstate(exc) == "42P04":  # created meanwhile by someone else
            return
        if _sqlstate(exc) in ("42501",) or _sqlstate(exc) == _MISSING_DATABASE:
            raise CliError(
                f"cannot create database {parsed.database!r} ({_first_line(exc)}): "
                f"ask its administrator to run {createdb_command(url)}"
            ) from exc
        raise
    finally:
        await engine.dispose()


def _sqlstate(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        for candidate in (seen, getattr(seen, "orig", None)):
            state = getattr(candidate, "sqlstate", None)
            if isinstance(state, str):
                return state
        seen = seen.__cause__ or seen.__context__
    return None


def _os_error(exc: BaseException) -> OSError | None:
    """The connection failure behind `exc` (refused, unresolvable, timed out)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        if isinstance(seen, sa.exc.DBAPIError) and isinstance(seen.orig, OSError):
            return seen.orig
        seen = seen.__cause__ or seen.__context__
    return None


def _reason(exc: OSError) -> str:
    if not isinstance(exc, socket.gaierror) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc) or type(exc).__name__


def _first_line(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
