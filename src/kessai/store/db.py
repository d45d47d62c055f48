"""The engine and the one place transactions are opened.

`Database.transaction()` is a unit of work: it commits when its block ends normally and
rolls back on any exception. On SQLite a writing transaction starts with BEGIN IMMEDIATE,
so concurrent writers queue on the database lock instead of failing mid-transaction; the
file runs in WAL mode with synchronous=FULL, so a committed response survives a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncTransaction,
    create_async_engine,
)

from kessai.store import sqlite_writer

# What to do once the current transaction has committed (see `on_commit`).
_after_commit: ContextVar[list[Callable[[], None]] | None] = ContextVar(
    "kessai_after_commit", default=None
)


def on_commit(callback: Callable[[], None]) -> None:
    """Call `callback` once the transaction this code runs in has committed (durably), and
    never if it rolls back; outside a transaction, at once. For side effects that must
    not claim what did not happen: metrics, audit lines. A callback that raises is logged."""
    pending = _after_commit.get()
    if pending is None:
        _run([callback])
    else:
        pending.append(callback)


def _run(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # a metric or a log line never undoes a committed answer
            logging.getLogger("kessai").exception("after-commit callback failed")


def async_url(url: str) -> str:
    """`sqlite:///PATH` and `postgresql://...` as the async drivers want them."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    base = scheme.split("+", 1)[0]
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    raise ValueError(f"unsupported database {scheme!r}: use sqlite:/// or postgresql://")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    """Up to `pool_size` connections stay open; under a burst, half as many again are
    opened and closed after use (each opening costs a connection setup round trip)."""
    url = async_url(url)
    if is_sqlite(url):
        engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size // 2, connect_args={"timeout": 60}
        )
        _sqlite_events(engine)
        return engine
    # No pre-ping: it costs a round trip per transaction. A connection found dead fails
    # its one request, and SQLAlchemy then replaces every pooled connection.
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size // 2)


def create_sqlite_writer(url: str) -> AsyncEngine:
    """The engine SQLite's group commit writes through: one connection at a time whose
    in-memory work runs on the event loop (see `kessai.store.sqlite_writer`)."""
    path = sa.engine.make_url(async_url(url)).database
    if not path or path == ":memory:":
        raise ValueError("kessai needs a SQLite file (sqlite:///PATH), not an in-memory database")
    engine = create_async_engine(
        async_url(url),
        async_creator=lambda: sqlite_writer.connect(path, busy_seconds=60),
        pool_size=1,
        max_overflow=2,
    )
    _sqlite_events(engine)
    return engine


def _sqlite_events(engine: AsyncEngine) -> None:
    @sa.event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # a read: each statement is its own implicit transaction
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("kessai_write", True) else "BEGIN")


class Database:
    """`engine` serves reads (and PostgreSQL's writes); on SQLite, `writer` serves the
    writes, through the group commit."""

    def __init__(
        self, engine: AsyncEngine, writer: AsyncEngine | None = None, *, group_size: int = 64
    ) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.writer = writer
        self._group = _GroupCommit(writer or engine, group_size) if self.sqlite else None

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 20) -> Database:
        engine = create_engine(url, pool_size=pool_size)
        return cls(engine, create_sqlite_writer(url) if is_sqlite(url) else None)

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncConnection]:
        """A unit of work; `write=False` is a read in autocommit (no BEGIN/COMMIT round
        trips): reads see only committed rows, but two of them are not one snapshot.

        Whatever the store, the block's writes are durable when the `async with` ends
        normally, and undone (and nothing else) when it raises.
        """
        pending: list[Callable[[], None]] = []
        token = _after_commit.set(pending)
        try:
            if not write:
                async with self.engine.connect() as conn:
                    yield await conn.execution_options(isolation_level="AUTOCOMMIT")
            elif self._group is not None:
                async with self._group.unit() as conn:
                    yield conn
            else:
                async with self.engine.connect() as conn, conn.begin():
                    yield conn
        finally:
            _after_commit.reset(token)
        _run(pending)  # reached only when the block ended normally and its work committed

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction whose statements all see one snapshot (a check across
        tables, `kessai ledger check`); it holds no writer up. PostgreSQL: REPEATABLE
        READ; SQLite (WAL): a deferred BEGIN, whose snapshot is taken at its first read."""
        async with self.engine.connect() as conn:
            if self.sqlite:
                conn = await conn.execution_options(kessai_write=False)
            else:
                conn = await conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            async with conn.begin():
                yield conn

    async def ping(self) -> None:
        async with self.transaction(write=False) as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.writer is not None:
            await self.writer.dispose()


class _Group:
    def __init__(self, conn: AsyncConnection, transaction: AsyncTransaction) -> None:
        self.conn = conn
        self.transaction = transaction
        self.units = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class _GroupCommit:
    """SQLite's writers of this process, one at a time, sharing commits (group commit).

    SQLite has one writer at a time and a durable commit costs an fsync. So the units of
    work queue here, in order (rather than in SQLite's busy handler, which sleeps and
    retries), and run one after another, each in its own SAVEPOINT, inside one transaction
    that stays open while more units are waiting. When none is waiting, or `size` units
    have run, it commits once for all of them; only then does each unit's block return.
    A unit that raises is rolled back to its savepoint alone (the others keep their work)
    and raises once the group has committed, so no answer leaves before the state it saw
    is durable. If the commit itself fails, every unit of the group raises.
    """

    def __init__(self, engine: AsyncEngine, size: int) -> None:
        self.engine = engine
        self.size = size
        self._turn = asyncio.Lock()
        self._queued = 0
        self._group: _Group | None = None

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncConnection]:
        self._queued += 1
        try:
            await self._turn.acquire()
        except BaseException:
            self._queued -= 1
            self._finish_if_idle()
            raise
        self._queued -= 1
        try:
            group = self._group or await self._open()
        except BaseException:
            self._turn.release()
            raise
        self._group = group
        failure: BaseException | None = None
        try:
            savepoint = await group.conn.begin_nested()
            try:
                yield group.conn
            except BaseException:
                await savepoint.rollback()
                raise
            await savepoint.commit()
            group.units += 1
        except BaseException as exc:
            failure = exc
        finally:
            try:
                if self._queued == 0 or group.units >= self.size:
                    await asyncio.shield(self._close(group))
            finally:
                self._turn.release()
        await asyncio.shield(group.done)  # raises if the commit failed
        if failure is not None:
            raise failure

    async def _open(self) -> _Group:
        conn = await self.engine.connect()
        try:
            transaction = await conn.begin()  # BEGIN IMMEDIATE: the database's write lock
        except BaseException:
            await conn.close()
            raise
        return _Group(conn, transaction)

    async def _close(self, group: _Group) -> None:
        """Commit the group (or roll it back if no unit kept work) and settle its units."""
        if self._group is group:
            self._group = None
        try:
            if group.units:
                await group.transaction.commit()
            else:
                await group.transaction.rollback()
        except BaseException as exc:
            # A failed COMMIT can leave SQLite's transaction open, holding the file's write
            # lock: discard the connection (closing it rolls back) rather than pool it.
            await group.conn.invalidate()
            group.done.set_exception(exc)
            group.done.exception()  # retrieved: units that left early must not warn
        else:
            group.done.set_result(None)
        finally:
            await group.conn.close()

    def _finish_if_idle(self) -> None:
        """A queued unit gave up (cancelled): if it was the one the open group waited
        for, close the group now."""
        group = self._group
        if group is not None and self._queued == 0 and not self._turn.locked():
            asyncio.ensure_future(self._close_idle(group))

    async def _close_idle(self, group: _Group) -> None:
        async with self._turn:
            if self._group is group:
                await self._close(group)
