"""Load the demo shop's raw tables into PostgreSQL: DDL with keys and comments, rows by COPY, a load time per row."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from types import TracebackType
from typing import IO, Protocol

from cartridge_bridge.demo.shop_data import ShopColumn, ShopTable


class _Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def execute(self, query: str) -> object: ...
    def copy_expert(self, sql: str, file: IO[str]) -> object: ...
    def __enter__(self) -> _Cursor: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> object: ...


class _Connection(Protocol):
    def cursor(self) -> _Cursor: ...
    def __enter__(self) -> _Connection: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> object: ...


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# The loader's bookkeeping column, as loaders write one: when the load wrote each row. The column's default stamps
# every row of a load with the load's time (`now()` is its transaction's start), by the database's own clock: the
# one `dbt source freshness` compares it with. A timestamp with time zone, so no server time zone shifts it.
LOADED_AT = "_loaded_at"
_LOADED_AT_COLUMN = f"{_quote_ident(LOADED_AT)} timestamp with time zone not null default now()"


def _relation(schema: str, table: ShopTable) -> str:
    return f"{_quote_ident(schema)}.{_quote_ident(table.name)}"


def _table_statements(schema: str, table: ShopTable) -> list[str]:
    names = [column.name for column in table.columns]
    missing = [key for key in table.primary_key if key not in names]
    if missing:
        raise ValueError(f"primary key {missing} of {table.name!r} names no column")
    if LOADED_AT in names:
        raise ValueError(f"{table.name}.{LOADED_AT} is the loader's own column, not the data's")
    relation = _relation(schema, table)
    lines = [
        f"    {_quote_ident(c.name)} {c.sql_type}{'' if c.nullable else ' not null'}" for c in table.columns
    ]
    lines.append(f"    {_LOADED_AT_COLUMN}")
    if table.primary_key:
        keys = ", ".join(_quote_ident(key) for key in table.primary_key)
        lines.append(f"    primary key ({keys})")
    statements = [
        f"drop table if exists {relation} cascade",
        f"create table {relation} (\n" + ",\n".join(lines) + "\n)",
    ]
    if table.comment is not None:
        comment = _quote_literal(table.comment)
        statements.append(f"comment on table {relation} is {comment}")
    for c in table.columns:
        if c.comment is not None:
            column = f"{relation}.{_quote_ident(c.name)}"
            statements.append(f"comment on column {column} is {_quote_literal(c.comment)}")
    return statements


def create_statements(schema: str, tables: list[ShopTable]) -> list[str]:
    """Return the DDL that (re)creates the tables and their comments in a schema."""
    statements = [f"create schema if not exists {_quote_ident(schema)}"]
    for table in tables:
        statements.extend(_table_statements(schema, table))
    return statements


def _csv_field(table: ShopTable, column: ShopColumn, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    text = str(value)
    if text == "":
        # COPY loads an unquoted empty field as NULL; an empty string would become one.
        raise ValueError(f"empty string in {table.name}.{column.name} would load as NULL")
    return text


def _csv_buffer(table: ShopTable) -> io.StringIO:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    width = len(table.columns)
    for row in table.rows:
        if len(row) != width:
            raise ValueError(f"a row of {table.name} has {len(row)} values, not {width}")
        fields = zip(table.columns, row, strict=True)
        writer.writerow([_csv_field(table, column, value) for column, value in fields])
    buffer.seek(0)
    return buffer


def load_shop(conn: _Connection, schema: str, tables: list[ShopTable]) -> dict[str, int]:
    """Create and fill the tables in one transaction with COPY, each row stamped with the load's time; return their rows."""
    counts: dict[str, int] = {}
    # psycopg2 >= 2.9 makes this block one transaction, also on autocommit connections.
    with conn, conn.cursor() as cursor:
        for statement in create_statements(schema, tables):
            cursor.execute(statement)
        for table in tables:
            columns = ", ".join(_quote_ident(column.name) for column in table.columns)
            cursor.copy_expert(
                f"COPY {_relation(schema, table)} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '')",
                _csv_buffer(table),
            )
            copied = cursor.rowcount
            counts[table.name] = copied if copied >= 0 else len(table.rows)
    return counts


def resync_shop(conn: _Connection, schema: str, tables: list[ShopTable]) -> None:
    """Sync the loaded tables again, as a full-table loader does: same rows, each stamped with this sync's time.

    The rows stay (and the views over them), only the load time moves: the data is as fresh as the last sync.
    """
    with conn, conn.cursor() as cursor:
        for table in tables:
            cursor.execute(f"update {_relation(schema, table)} set {_quote_ident(LOADED_AT)} = now()")
