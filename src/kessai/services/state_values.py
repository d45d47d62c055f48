"""Column values in an export file (`docs/export-format.md`), by column type: timestamps as
ISO 8601 in UTC, bytes as base64, JSON as JSON, booleans, whole numbers and text as
themselves. `decode` checks each value as strictly as the database would (and more: no
text the store cannot hold), naming the field of the file that is wrong."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from kessai.core import rules
from kessai.errors import InvalidParameter
from kessai.store.coltypes import UTCDateTime

# How each column type is written; a column of any other type is a bug found by the tests.
KINDS = ("datetime", "json", "bytes", "bool", "int", "text")
_LIMITS = {True: 2**63, False: 2**31}  # BigInteger, Integer
MAX_DEPTH = 64


def kind_of(column: sa.Column[Any]) -> str:
    """The encoding of `column`'s values (one of `KINDS`)."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "datetime"
    if isinstance(kind, sa.JSON):
        return "json"
    if isinstance(kind, sa.LargeBinary):
        return "bytes"
    if isinstance(kind, sa.Boolean):
        return "bool"
    if isinstance(kind, sa.Integer):
        return "int"
    if isinstance(kind, sa.String):
        return "text"
    raise TypeError(f"no export encoding for {column.table.name}.{column.name} ({kind!r})")


def encode_row(table: sa.Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the file holds it: every column of the table, in the table's order."""
    return {column.name: encode(column, row[column.name]) for column in table.columns}


def encode(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind = kind_of(column)
    if kind == "datetime":
        return timestamp(value)
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    return value  # text as it is; JSON as the JSON it is


def timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a Z: milliseconds, or microseconds where the store has them."""
    value = value.astimezone(UTC).replace(tzinfo=None)
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.isoformat(timespec=spec) + "Z"


def decode_row(table: sa.Table, row: Any, where: str) -> dict[str, Any]:
    """A row of the file as the store takes it; `InvalidParameter` naming `where` (e.g.
    `tables.payments[3]`) and the column if it is not exactly the table's columns with
    values of their types."""
    if not isinstance(row, dict):
        raise InvalidParameter(f"{where} must be a JSON object (a row)", param=where)
    names = [column.name for column in table.columns]
    unknown = sorted(set(row) - set(names))
    if unknown:
        raise InvalidParameter(
            f"{where} has a column {table.name} does not have: {rules.printable(unknown[0])!r}",
            param=where,
        )
    missing = [name for name in names if name not in row]
    if missing:
        raise InvalidParameter(f"{where} lacks the column {missing[0]!r}", param=where)
    return {
        column.name: decode(column, row[column.name], f"{where}.{column.name}")
        for column in table.columns
    }


def decode(column: sa.Column[Any], value: Any, where: str) -> Any:
    if value is None:
        if not column.nullable:
            raise InvalidParameter(f"{where} must not be null", param=where)
        return None
    try:
        return _decode(column, kind_of(column), value)
    except rules.Invalid as exc:
        raise InvalidParameter(f"{where} {exc.message}", param=where) from None


def _decode(column: sa.Column[Any], kind: str, value: Any) -> Any:
    if kind == "datetime":
        return rules.timestamp(value)
    if kind == "bytes":
        if not isinstance(value, str):
            raise rules.Invalid("must be base64 text")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise rules.Invalid("must be base64 text") from None
    if kind == "bool":
        if not isinstance(value, bool):
            raise rules.Invalid("must be true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise rules.Invalid("must be a whole number")
        limit = _LIMITS[isinstance(column.type, sa.BigInteger)]
        if not -limit <= value < limit:
            raise rules.Invalid("is out of range")
        return value
    if kind == "json":
        _storable_json(value)
        return value
    if not isinstance(value, str):
        raise rules.Invalid("must be a string")
    rules.storable(value)
    length = getattr(column.type, "length", None)
    if length is not None and len(value) > length:
        raise rules.Invalid(f"must be at most {length} characters")
    return value


def _storable_json(value: Any, depth: int = 0) -> None:
    """JSON the store can hold: no NUL or lone surrogate in any string (JSONB refuses them),
    nested no deeper than `MAX_DEPTH` (kessai's own JSON is a few levels deep)."""
    if depth > MAX_DEPTH:
        raise rules.Invalid(f"is JSON nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        rules.storable(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            rules.storable(key)
            _storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item, depth + 1)
