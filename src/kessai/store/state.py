"""One merchant's rows, table by table, as export, import and reset reach them.

Every table of the schema is reached from the metadata, never from a list kept by hand,
so a new table is not silently forgotten: a table with a `merchant_id` column is selected
by it (and by `livemode` where it has one); any other table through its first foreign key
to a table reached so (refunds through payments, webhook attempts through deliveries
through events). A table reached neither way must be named as not exported, or `Walk`
refuses to start.

Integer ids the database numbers itself (webhook deliveries and attempts, idempotency
keys) are never inserted as the file has them: each row gets a new number from the
store's own sequence, and the columns that refer to it are translated, so later inserts
never collide with imported rows (on PostgreSQL, no sequence needs setting).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import ledger as ledger_rules
from kessai.store import clocks as clock_store
from kessai.store.migrate import alembic_config
from kessai.store.tables import ledger_settings, merchants, metadata

Row = dict[str, Any]
# Old number -> new number, per table whose integer ids the store makes (see the docstring).
Renumbered = dict[str, dict[int, int]]


def schema_head() -> str:
    """The revision this kessai migrates every store to (`kessai db upgrade`)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return str(head)


class Unreachable(RuntimeError):
    """A table of the schema that no merchant's rows are found through (a bug: name it as
    not exported, or give it a merchant_id or a foreign key to a merchant's table)."""


class Walk:
    """The merchant's tables in dependency order (parents first), each with how its rows
    are found: by `merchant_id`, or through `parents[name]`, a foreign key column."""

    def __init__(self, not_exported: Iterable[str], test_only: Iterable[str]) -> None:
        skipped = {merchants.name, *not_exported}
        self.test_only = frozenset(test_only)
        self.tables: list[sa.Table] = []
        self.parents: dict[str, sa.Column[Any] | None] = {}
        for table in metadata.sorted_tables:
            if table.name in skipped:
                continue
            if "merchant_id" in table.c:
                self.parents[table.name] = None
            else:
                self.parents[table.name] = self._parent_column(table)
            self.tables.append(table)

    def _parent_column(self, table: sa.Table) -> sa.Column[Any]:
        for column in table.columns:
            for key in column.foreign_keys:
                if key.column.table.name in self.parents:
                    return column
        raise Unreachable(
            f"table {table.name!r} has no merchant_id and no foreign key to a merchant's table: "
            "add it to what export leaves out (services/state.py NOT_EXPORTED) or reach it"
        )

    def named(self, name: str) -> sa.Table:
        return next(table for table in self.tables if table.name == name)

    def parent_of(self, table: sa.Table) -> tuple[sa.Table, sa.Column[Any], sa.Column[Any]] | None:
        """(parent table, the parent's referred column, this table's column), or None for
        a table found by `merchant_id`."""
        column = self.parents[table.name]
        if column is None:
            return None
        key = next(iter(column.foreign_keys))
        return key.column.table, key.column, column

    def where(self, table: sa.Table, merchant_id: str, modes: Sequence[bool]) -> Any:
        """The merchant's rows of `table` in `modes` (livemode values)."""
        found = self.parent_of(table)
        if found is not None:
            parent, referred, column = found
            rows = sa.select(referred).where(self.where(parent, merchant_id, modes))
            return column.in_(rows.scalar_subquery())
        if table.name in self.test_only and False not in modes:
            return sa.false()
        clause = table.c.merchant_id == merchant_id
        if "livemode" in table.c:
            clause = sa.and_(clause, table.c.livemode.in_(list(modes)))
        return clause

    async def rows(
        self, conn: AsyncConnection, table: sa.Table, merchant_id: str, modes: Sequence[bool]
    ) -> list[Row]:
        """The merchant's rows of `table`, in primary-key order."""
        query = (
            sa.select(table)
            .where(self.where(table, merchant_id, modes))
            .order_by(*table.primary_key.columns)
        )
        return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def count(
        self, conn: AsyncConnection, table: sa.Table, merchant_id: str, modes: Sequence[bool]
    ) -> int:
        query = sa.select(sa.func.count()).select_from(table)
        return int(await conn.scalar(query.where(self.where(table, merchant_id, modes))) or 0)

    async def delete(
        self,
        conn: AsyncConnection,
        merchant_id: str,
        modes: Sequence[bool],
        keep: Iterable[str] = (),
    ) -> dict[str, int]:
        """Delete the merchant's rows in `modes` of every table but `keep`, children first;
        how many rows of each table went."""
        kept = set(keep)
        deleted: dict[str, int] = {}
        for table in reversed(self.tables):
            if table.name in kept:
                continue
            result = await conn.execute(table.delete().where(self.where(table, merchant_id, modes)))
            deleted[table.name] = int(result.rowcount or 0)
        return deleted


async def merchant_row(conn: AsyncConnection, merchant_id: str) -> Row | None:
    row = (
        (await conn.execute(sa.select(merchants).where(merchants.c.id == merchant_id)))
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


async def put_merchant(conn: AsyncConnection, row: Mapping[str, Any], *, replace: bool) -> None:
    """Insert the merchant's row, or (`replace`) update the one there to it."""
    if replace:
        values = {k: v for k, v in row.items() if k != "id"}
        await conn.execute(merchants.update().where(merchants.c.id == row["id"]).values(values))
    else:
        await conn.execute(merchants.insert().values(dict(row)))


async def raise_clock(conn: AsyncConnection, row: Mapping[str, Any]) -> None:
    """The merchant's test clock moved to the row's offset, never back (a server may hold
    the offset it has: offsets only ever grow)."""
    await clock_store.move(conn, row["merchant_id"], int(row["offset_ms"]), row["updated_at"])


async def default_ledger_settings(
    conn: AsyncConnection, merchant_id: str, livemode: bool, now: datetime
) -> None:
    """The settings `kessai merchant create` gives a mode: the default schedule, no fee
    overrides."""
    schedule = ledger_rules.DEFAULT_SCHEDULE
    await conn.execute(
        ledger_settings.insert().values(
            merchant_id=merchant_id,
            livemode=livemode,
            settlement_schedule=schedule,
            next_cutoff_at=ledger_rules.next_cutoff(schedule, now),
            fees={},
            updated_at=now,
        )
    )


def renumbered_table(table: sa.Table) -> bool:
    """A table whose integer ids the store numbers itself."""
    return table.autoincrement_column is not None


async def insert(
    conn: AsyncConnection, table: sa.Table, rows: list[Row], renumbered: Renumbered
) -> None:
    """Insert `rows` into `table`: columns referring to renumbered rows translated, and the
    table's own integer ids (if the store makes them) replaced by new ones, recorded in
    `renumbered` in the order of `rows`."""
    if not rows:
        return
    rows = [_translated(table, row, renumbered) for row in rows]
    serial = table.autoincrement_column
    if serial is None:
        await conn.execute(table.insert(), rows)
        return
    fresh = [{k: v for k, v in row.items() if k != serial.name} for row in rows]
    statement = table.insert().returning(serial, sort_by_parameter_order=True)
    made = (await conn.execute(statement, fresh)).scalars().all()
    renumbered[table.name] = {
        int(row[serial.name]): int(new) for row, new in zip(rows, made, strict=True)
    }


def _translated(table: sa.Table, row: Row, renumbered: Renumbered) -> Row:
    for column in table.columns:
        for key in column.foreign_keys:
            numbers = renumbered.get(key.column.table.name)
            if numbers is not None and row[column.name] is not None:
                row = {**row, column.name: numbers[int(row[column.name])]}
    return row
