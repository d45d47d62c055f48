"""kessai.store.sqlite_writer: which calls on the writer connection run inline on the event
loop (in-memory work) and which go to aiosqlite's thread (anything that may wait)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kessai.store import sqlite_writer
from kessai.store.sqlite_writer import _runs_inline


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    try:
        yield connection
    finally:
        connection.close()


INLINE_SQL = [
    "SELECT 1",
    "select * from t",
    "  SELECT 1",
    "\n\tINSERT INTO t VALUES (1)",
    "INSERT INTO t VALUES (?)",
    "insert into t values (1)",
    "UPDATE t SET v = 1",
    "DELETE FROM t",
    "SAVEPOINT sa_savepoint_1",
    "RELEASE SAVEPOINT sa_savepoint_1",
    "release sa_savepoint_1",
]

THREAD_SQL = [
    "BEGIN",
    "BEGIN IMMEDIATE",
    "begin immediate",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ROLLBACK TO SAVEPOINT sa_savepoint_1",
    "PRAGMA foreign_keys=ON",
    "pragma journal_mode=WAL",
    "CREATE TABLE t (id INTEGER PRIMARY KEY)",
    "VACUUM",
    "",
    "   ",
]


@pytest.mark.parametrize("sql", INLINE_SQL)
def test_in_memory_statements_run_inline(conn: sqlite3.Connection, sql: str) -> None:
    cursor = conn.cursor()
    assert _runs_inline(conn.execute, (sql, ()))
    assert _runs_inline(conn.executemany, (sql, []))
    assert _runs_inline(cursor.execute, (sql, ()))
    assert _runs_inline(cursor.executemany, (sql, []))


@pytest.mark.parametrize("sql", THREAD_SQL)
def test_statements_that_may_wait_go_to_the_thread(conn: sqlite3.Connection, sql: str) -> None:
    cursor = conn.cursor()
    assert not _runs_inline(conn.execute, (sql, ()))
    assert not _runs_inline(conn.executemany, (sql, []))
    assert not _runs_inline(cursor.execute, (sql, ()))
    assert not _runs_inline(cursor.executemany, (sql, []))


def test_execute_without_sql_text_goes_to_the_thread(conn: sqlite3.Connection) -> None:
    assert not _runs_inline(conn.execute, ())
    assert not _runs_inline(conn.execute, (b"SELECT 1",))
    assert not _runs_inline(conn.execute, (None,))


def test_making_a_cursor_and_cursor_calls_run_inline(conn: sqlite3.Connection) -> None:
    cursor = conn.cursor()
    assert _runs_inline(conn.cursor, ())
    for method in (cursor.fetchone, cursor.fetchmany, cursor.fetchall, cursor.close):
        assert _runs_inline(method, ()), method


def test_a_cursor_script_goes_to_the_thread(conn: sqlite3.Connection) -> None:
    # A script may hold BEGIN or COMMIT: it must never run on the loop.
    cursor = conn.cursor()
    assert not _runs_inline(cursor.executescript, ("BEGIN; COMMIT;",))
    assert not _runs_inline(cursor.setinputsizes, ())


def test_connection_calls_go_to_the_thread(conn: sqlite3.Connection) -> None:
    for method in (conn.commit, conn.rollback, conn.close, conn.executescript, conn.interrupt):
        assert not _runs_inline(method, ()), method
    assert not _runs_inline(conn.executescript, ("SELECT 1;",))
    assert not _runs_inline(conn.set_trace_callback, (None,))


def test_plain_functions_go_to_the_thread() -> None:
    def execute(sql: str) -> None:  # named like a statement call, but not a statement call
        pass

    assert not _runs_inline(execute, ("BEGIN",))
    assert not _runs_inline(lambda: None, ())
    assert not _runs_inline(print, ())


async def test_writer_runs_statements_on_the_loop_or_the_thread(tmp_path: Path) -> None:
    """End to end through a real writer connection: SQLite's trace callback reports the
    thread each statement ran on."""
    writer = await sqlite_writer.connect(str(tmp_path / "w.db"), busy_seconds=5)
    ran_on: list[tuple[str, int]] = []
    try:
        writer.isolation_level = None  # as kessai's engine does: we issue BEGIN ourselves
        await writer.set_trace_callback(lambda sql: ran_on.append((sql, threading.get_ident())))
        await writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        await writer.execute("BEGIN IMMEDIATE")
        await writer.execute("SAVEPOINT s1")
        await writer.execute("INSERT INTO t VALUES (1, 'x')")
        await writer.execute("UPDATE t SET v = 'y' WHERE id = 1")
        cursor = await writer.execute("SELECT v FROM t")
        assert await cursor.fetchall() == [("y",)]
        await cursor.close()
        await writer.execute("RELEASE s1")
        await writer.execute("COMMIT")
        await writer.execute("PRAGMA user_version")
    finally:
        await writer.close()

    loop_thread = threading.get_ident()
    where = {sql.split()[0].upper(): thread == loop_thread for sql, thread in ran_on}
    assert where == {
        "CREATE": False,
        "BEGIN": False,
        "SAVEPOINT": True,
        "INSERT": True,
        "UPDATE": True,
        "SELECT": True,
        "RELEASE": True,
        "COMMIT": False,
        "PRAGMA": False,
    }
