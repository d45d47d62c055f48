"""The connection SQLite's group commit writes through (see `db._GroupCommit`).

aiosqlite runs every call on the connection's own thread, and SQLAlchemy makes several
calls per statement (cursor, execute, fetch, close): each is a hand-off to that thread and
back, about 60 µs here, so a unit of work paid for its hand-offs far more than for SQLite.
On the writer, what cannot wait runs on the event loop instead, at once: cursors, rows, and
the statements that only touch pages in memory (SELECT, INSERT, UPDATE, DELETE, SAVEPOINT,
RELEASE). What may wait still goes to the thread, so the loop never blocks on it: BEGIN
(it waits for another process's lock), COMMIT (it waits for fsync), ROLLBACK, PRAGMAs and
closing. The writer is only ever used by one unit of work at a time (the group commit's
turn), so the loop and the thread never use the connection at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite

_INLINE_STATEMENTS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "SAVEPOINT", "RELEASE"})
_CURSOR_CALLS = frozenset({"fetchone", "fetchmany", "fetchall", "close"})


class _WriterConnection(aiosqlite.Connection):
    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not _runs_inline(fn, args):
            return await super()._execute(fn, *args, **kwargs)
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def _runs_inline(fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    """Statements by their first word; a cursor's other calls (rows, closing) and making
    a cursor inline; everything else (commit, rollback, close, ...) on the thread."""
    name = getattr(fn, "__name__", "")
    if name in ("execute", "executemany"):
        words = args[0].split(None, 1) if args and isinstance(args[0], str) else []
        return bool(words) and words[0].upper() in _INLINE_STATEMENTS
    if name == "cursor":
        return True
    return name in _CURSOR_CALLS and isinstance(getattr(fn, "__self__", None), sqlite3.Cursor)


async def connect(path: str, *, busy_seconds: float) -> aiosqlite.Connection:
    """A writer connection to the SQLite file at `path` (for SQLAlchemy's async_creator)."""

    def connector() -> sqlite3.Connection:
        # Made on the connection's thread and used from the loop's too, never at once.
        return sqlite3.connect(path, timeout=busy_seconds, check_same_thread=False)

    connection = _WriterConnection(connector, iter_chunk_size=64)
    return await connection
