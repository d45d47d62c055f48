"""A merchant's whole state as one JSON document (`docs/export-format.md`): export it,
import it (into another store, or over the merchant's own rows), and reset its test mode.

What is in the document is decided here, table by table, from the schema
(`kessai.store.state.Walk`): every table is exported unless `NOT_EXPORTED` names it, so a
new table is exported (and deleted by reset unless `KEPT_BY_RESET` names it) by default.
The command (`kessai.commands.state`) opens the transaction: one snapshot for an export,
one writing transaction for an import or a reset, so either all of it happens or none.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from kessai.core import rules
from kessai.errors import Conflict, InvalidParameter, NotFound
from kessai.services.state_values import decode_row, encode_row, timestamp
from kessai.store import state as store
from kessai.store.tables import merchants

FORMAT = "kessai-export"
VERSION = 1
MODES: dict[str, tuple[bool, ...]] = {"test": (False,), "live": (True,), "all": (False, True)}

# Tables no export holds, and why (tests/test_state.py fails on a table neither exported
# nor named here).
NOT_EXPORTED = {
    "server_secrets": "the store's own secret (card fingerprints, cookies): no merchant's",
}
# Test mode only: the merchant's test clock (live mode runs on the real time).
TEST_ONLY = frozenset({"clocks"})
# What `reset` keeps of test mode: how the merchant is set up, not what it did. The clock
# is kept too: servers remember offsets and only ever raise them (services/clocks.py).
KEPT_BY_RESET = frozenset(
    {"api_keys", "webhook_endpoints", "processor_configs", "ledger_settings", "clocks"}
)
# Imported by raising what the store has, never by replacing it (offsets only grow).
MERGED = frozenset({"clocks"})


@functools.cache
def walk() -> store.Walk:
    return store.Walk(NOT_EXPORTED, TEST_ONLY)


def exported_tables() -> list[str]:
    return [table.name for table in walk().tables]


def modes_of(mode: str) -> tuple[bool, ...]:
    return MODES[mode]


# export


async def export(
    conn: AsyncConnection, merchant_id: str, mode: str, schema: str, now: datetime
) -> dict[str, Any]:
    """The document of the merchant's rows in `mode` (test | live | all), read on `conn`
    (one snapshot)."""
    merchant = await store.merchant_row(conn, merchant_id)
    if merchant is None:
        raise NotFound(f"no merchant {merchant_id!r} in this store")
    modes = modes_of(mode)
    tables = {
        table.name: [
            encode_row(table, row) for row in await walk().rows(conn, table, merchant_id, modes)
        ]
        for table in walk().tables
    }
    return {
        "format": FORMAT,
        "version": VERSION,
        "schema": schema,
        "exported_at": timestamp(now),
        "mode": mode,
        "merchant": encode_row(merchants, merchant),
        "tables": tables,
    }


# import


@dataclass(frozen=True)
class Document:
    """An export, checked: rows as the store takes them."""

    mode: str
    merchant: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]

    @property
    def merchant_id(self) -> str:
        return str(self.merchant["id"])


_FIELDS = ("format", "version", "schema", "exported_at", "mode", "merchant", "tables")


def read(doc: Any, schema: str) -> Document:
    """Check a parsed export against this kessai (`schema`: its store's revision) before
    anything is written; `InvalidParameter` naming the first thing that is wrong."""
    if not isinstance(doc, dict):
        raise InvalidParameter("the file must hold one JSON object: a kessai export")
    if doc.get("format") != FORMAT:
        raise InvalidParameter(f'this is not a kessai export: its "format" is not "{FORMAT}"')
    version = doc.get("version")
    if version != VERSION or isinstance(version, bool):
        raise InvalidParameter(
            f"export format version {_shown(version)} is not one this kessai reads "
            f"(it reads version {VERSION})",
            param="version",
        )
    for field in _FIELDS:
        if field not in doc:
            raise InvalidParameter(f'the file lacks "{field}"', param=field)
    if doc.get("schema") != schema:
        raise InvalidParameter(
            f"the file was exported from a store at schema revision {_shown(doc.get('schema'))}, "
            f"this kessai's is {schema}: import it with a kessai at that revision, upgrade that "
            "store with this kessai (kessai db upgrade) and export it again",
            param="schema",
        )
    extra = sorted(set(doc) - set(_FIELDS))
    if extra:
        raise InvalidParameter(f"the file has an unknown field {_shown(extra[0])}", param=extra[0])
    try:
        rules.timestamp(doc["exported_at"])
    except rules.Invalid as exc:
        raise InvalidParameter(f"exported_at {exc.message}", param="exported_at") from None
    mode = doc["mode"]
    if mode not in MODES:
        raise InvalidParameter(f"mode must be test, live or all, not {_shown(mode)}", param="mode")
    merchant = decode_row(merchants, doc["merchant"], "merchant")
    if not rules.is_id(merchant["id"]):
        raise InvalidParameter("merchant.id is not a kessai id", param="merchant.id")
    tables = _tables(doc["tables"])
    document = Document(mode, merchant, tables)
    _check_owner(document)
    _check_references(document)
    return document


def _shown(value: Any) -> str:
    return rules.printable(json.dumps(value))[:80]


def _tables(found: Any) -> dict[str, list[dict[str, Any]]]:
    if not isinstance(found, dict):
        raise InvalidParameter("tables must be a JSON object of table names", param="tables")
    names = exported_tables()
    for name in found:
        if name not in names:
            raise InvalidParameter(
                f"tables has a table this kessai does not export: {_shown(name)}", param="tables"
            )
    tables = {}
    for name in names:
        rows = found.get(name)
        if not isinstance(rows, list):
            problem = "must be a list of rows" if name in found else "is missing"
            raise InvalidParameter(f"tables.{name} {problem}", param=f"tables.{name}")
        table = walk().named(name)
        tables[name] = [decode_row(table, row, f"tables.{name}[{n}]") for n, row in enumerate(rows)]
        _check_unique(table, tables[name])
    return tables


def _check_unique(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """No two rows of a table with the same primary key."""
    seen: dict[tuple[Any, ...], int] = {}
    for n, row in enumerate(rows):
        key = tuple(row[column.name] for column in table.primary_key.columns)
        if key in seen:
            raise InvalidParameter(
                f"tables.{table.name}[{n}] has the primary key of tables.{table.name}[{seen[key]}]",
                param=f"tables.{table.name}[{n}]",
            )
        seen[key] = n


def _check_owner(document: Document) -> None:
    """Every row is the merchant's, in the file's mode."""
    modes = modes_of(document.mode)
    for table in walk().tables:
        for n, row in enumerate(document.tables[table.name]):
            where = f"tables.{table.name}[{n}]"
            if "merchant_id" in row and row["merchant_id"] != document.merchant_id:
                raise InvalidParameter(
                    f"{where}.merchant_id is not the file's merchant", param=f"{where}.merchant_id"
                )
            if "livemode" in row and row["livemode"] not in modes:
                raise InvalidParameter(
                    f"{where}.livemode is not in the file's mode ({document.mode})",
                    param=f"{where}.livemode",
                )
            if table.name in TEST_ONLY and False not in modes:
                raise InvalidParameter(f"{where}: {table.name} is test mode only", param=where)


def _check_references(document: Document) -> None:
    """Every foreign key of a row names a row of the file (never one already in the store,
    which may be another merchant's)."""
    held: dict[tuple[str, str], set[Any]] = {}
    for table in walk().tables:
        for column in table.columns:
            for key in column.foreign_keys:
                referred = key.column
                if referred.table is merchants:
                    continue  # merchant_id: checked by `_check_owner`
                index = (referred.table.name, referred.name)
                if index not in held:
                    rows = document.tables[referred.table.name]
                    held[index] = {row[referred.name] for row in rows}
                for n, row in enumerate(document.tables[table.name]):
                    value = row[column.name]
                    if value is not None and value not in held[index]:
                        where = f"tables.{table.name}[{n}].{column.name}"
                        raise InvalidParameter(
                            f"{where} names a row of {referred.table.name} the file does not hold",
                            param=where,
                        )


async def load(
    conn: AsyncConnection, document: Document, *, replace: bool, now: datetime
) -> dict[str, int]:
    """Write the document in `conn`'s transaction, parents first; with `replace`, the
    merchant's rows in the file's modes are deleted first. A new merchant from a file of
    one mode gets the other mode's default ledger settings, as a created one has. How
    many rows each table got."""
    found = await store.merchant_row(conn, document.merchant_id)
    if found is not None and not replace:
        raise Conflict(
            f"merchant {document.merchant_id} is already in this store: "
            "import with --replace to replace its rows with the file's"
        )
    if found is not None:
        await walk().delete(conn, document.merchant_id, modes_of(document.mode), keep=MERGED)
    await store.put_merchant(conn, document.merchant, replace=found is not None)
    renumbered: store.Renumbered = {}
    for table in walk().tables:
        rows = document.tables[table.name]
        try:
            if table.name in MERGED:
                for row in rows:
                    await store.raise_clock(conn, row)
            else:
                await store.insert(conn, table, rows, renumbered)
        except sa.exc.IntegrityError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
            raise Conflict(
                f"tables.{table.name}: a row clashes with one already in this store ({reason})"
            ) from None
    if found is None:
        for livemode in set(MODES["all"]) - set(modes_of(document.mode)):
            await store.default_ledger_settings(conn, document.merchant_id, livemode, now)
    return {name: len(rows) for name, rows in document.tables.items()}


# reset


async def reset(conn: AsyncConnection, merchant_id: str) -> dict[str, int]:
    """Delete every test-mode row of the merchant but its set-up (`KEPT_BY_RESET`), in
    `conn`'s transaction; how many rows of each table went. Live mode is not touched."""
    if await store.merchant_row(conn, merchant_id) is None:
        raise NotFound(f"no merchant {merchant_id!r} in this store")
    return await walk().delete(conn, merchant_id, modes_of("test"), keep=KEPT_BY_RESET)


async def counts(conn: AsyncConnection, merchant_id: str, mode: str) -> dict[str, int]:
    """How many rows of each table the merchant has in `mode`."""
    modes: Sequence[bool] = modes_of(mode)
    return {
        table.name: await walk().count(conn, table, merchant_id, modes) for table in walk().tables
    }
