"""Gather benchmark: cartridge.gather (batched per schema) against one get_columns_in_relation per table.

Builds 1,000 tables x 20 columns in an embedded PostgreSQL, then times, in the same process and with
the same parsed manifest, `cartridge.gather` and a dbt-codegen-style macro that asks the adapter for
the columns of each table in turn. Prints both wall times (best of 3) and their ratio.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.postgres_project import new_project  # noqa: E402
from cartridge_bridge.dbt.runner import DbtProject  # noqa: E402
from cartridge_bridge.demo.local_postgres import LocalPostgres, start_postgres, stop_postgres  # noqa: E402

TABLES, COLUMNS, REPEATS = 1000, 20, 3
SCHEMA = "bench_raw"
TYPES = ("integer", "text", "numeric(12,2)", "timestamp", "boolean")

BASELINE_MACRO = """
{% macro per_table_columns(schema) %}
  {# dbt-codegen's way: list the tables, then ask the adapter for each table's columns. #}
  {% set rows = run_query("select table_name from information_schema.tables where table_schema = '"
                          ~ schema ~ "'").rows %}
  {% set out = [] %}
  {% for row in rows %}
    {% set relation = api.Relation.create(database=target.database, schema=schema, identifier=row[0]) %}
    {% set columns = adapter.get_columns_in_relation(relation) %}
    {% do out.append({'identifier': relation.identifier,
                      'columns': columns | map(attribute='name') | list}) %}
  {% endfor %}
  {{ print(tojson(out)) }}
{% endmacro %}
"""


def _create_tables(dsn: str) -> None:
    connection = psycopg2.connect(dsn)
    with connection, connection.cursor() as cursor:
        cursor.execute(f"drop schema if exists {SCHEMA} cascade; create schema {SCHEMA}")
        for table in range(TABLES):
            columns = ", ".join(f"col_{c} {TYPES[c % len(TYPES)]}" for c in range(COLUMNS))
            cursor.execute(f"create table {SCHEMA}.table_{table:04d} (id integer primary key, {columns})")
    connection.close()


def _project(directory: Path, server: LocalPostgres) -> DbtProject:
    (directory / "macros").mkdir(parents=True)
    (directory / "macros" / "per_table_columns.sql").write_text(BASELINE_MACRO)
    project = new_project(directory, "bench", server, extra="macro-paths: [macros]\n")
    project.parse()
    return project


def _best(project: DbtProject, macro: str, args: dict[str, object]) -> tuple[float, str]:
    best, printed = float("inf"), ""
    for _ in range(REPEATS):
        started = time.perf_counter()
        printed = project.run_operation(macro, args)
        best = min(best, time.perf_counter() - started)
    return best, printed


def main() -> None:
    """Run the benchmark and print its table."""
    with tempfile.TemporaryDirectory(prefix="cartridge-bench-") as folder:
        data_dir = Path(folder) / "pg"
        server = start_postgres(data_dir)
        try:
            _create_tables(server.dsn)
            project = _project(Path(folder) / "project", server)
            batched, printed = _best(project, "cartridge.gather", {"schemas": [SCHEMA]})
            relations = json.loads(printed)["relations"]
            assert len(relations) == TABLES and all(len(r["columns"]) == COLUMNS + 1 for r in relations)
            per_table, printed = _best(project, "per_table_columns", {"schema": SCHEMA})
            assert len(json.loads(printed)) == TABLES
        finally:
            stop_postgres(data_dir)
    ratio = per_table / batched
    print(f"gather: {TABLES:,} tables x {COLUMNS} columns on PostgreSQL, best of {REPEATS}, same process")
    print(f"  {'cartridge.gather (batched per schema)':<44} {batched:7.2f} s   target <= 5 s: "
          f"{'ok' if batched <= 5 else 'MISSED'}")  # fmt: skip
    print(f"  {'baseline: get_columns_in_relation per table':<44} {per_table:7.2f} s")
    print(
        f"  {'ratio baseline / cartridge':<44} {ratio:7.1f} x   target >= 5x: {'ok' if ratio >= 5 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
