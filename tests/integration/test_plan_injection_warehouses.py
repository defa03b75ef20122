"""Issue 15, cases 1–4 for real: a hand-edited plan whose payload would run a statement, applied on PostgreSQL
and on DuckDB.

PostgreSQL and DuckDB both parse every statement of a query before they run the first, which is why each payload
(tests/plan_payloads.py) reopens what it closed. Whatever apply answers, the marker table must not exist
afterwards, also after the user's own next `dbt test` of the source; a refused plan leaves the project byte for
byte as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from plan_payloads import (
    Plan,
    accept_values,
    add_model,
    add_self_union,
    edited,
    marker_statements,
    source_spec,
    staging_action,
)
from support import duckdb_execute, duckdb_output, postgres_output, run_sql, snapshot_tree, write_project

from cartridge_bridge.dbt.runner import DbtProject

BIN = Path(sys.executable).parent
RAW_TABLE = [
    "create schema raw_app",
    "create table raw_app.users (id integer primary key, email varchar, status varchar)",
    "insert into raw_app.users values (1, 'a@x.test', 'active'), (2, 'b@x.test', 'gone')",
]


def _run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / program), *args], capture_output=True, text=True, timeout=600, check=False
    )


@dataclass
class Warehouse:
    """Where the raw table lives, and how a test looks for the marker table there."""

    profile_output: dict[str, object]
    marker_schema: str  # a schema the marker can be created in: the connection's default one
    execute: Callable[..., None]
    has_table: Callable[[str, str], bool]


def _postgres(request: pytest.FixtureRequest) -> Warehouse:
    import psycopg2

    server = request.getfixturevalue("pg_server")
    run_sql(server, "drop schema if exists raw_app cascade")

    def has_table(schema: str, table: str) -> bool:
        with psycopg2.connect(server.dsn) as connection, connection.cursor() as cursor:
            cursor.execute("select to_regclass(%s) is not null", (f"{schema}.{table}",))
            row = cursor.fetchone()
        connection.close()
        return bool(row and row[0])

    return Warehouse(
        postgres_output(server, "analytics_injection"),
        "public",
        lambda *sql: run_sql(server, *sql),
        has_table,
    )


def _duckdb(home: Path) -> Warehouse:
    database = home / "warehouse.duckdb"

    execute = duckdb_execute(database)

    def has_table(schema: str, table: str) -> bool:
        with duckdb.connect(str(database), read_only=True) as connection:
            row = connection.execute(
                "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                [schema, table],
            ).fetchone()
        return bool(row and row[0])

    return Warehouse(duckdb_output(database, "analytics"), "main", execute, has_table)


@dataclass
class App:
    """A project over raw_app.users on one warehouse, with its rules plan."""

    warehouse: Warehouse
    project: Path
    where: list[str]
    plan: Plan


@pytest.fixture(scope="module", params=["postgres", "duckdb"])
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    home = tmp_path_factory.mktemp(f"injection_{request.param}")
    warehouse = _postgres(request) if request.param == "postgres" else _duckdb(home)
    warehouse.execute(*RAW_TABLE)
    project = write_project(home / "app", "app", warehouse.profile_output)
    DbtProject(project).deps()
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    planned = _run("cartridge", "plan", *where, "--schema", "raw_app", "--out", str(home / "plan.json"))
    assert planned.returncode == 0, planned.stderr
    yield App(warehouse, project, where, json.loads((home / "plan.json").read_text()))
    warehouse.execute("drop schema raw_app cascade")


def _reopen(marker: str) -> str:
    """A statement left open for the rest of the staging model's SQL, which reads the raw table, to close."""
    return f'create temporary view {marker}_reopen as (with source as (select * from "raw_app'


def _accepted_value(plan: Plan, make: str, marker: str) -> None:
    payload = (
        f"x')) dbt_internal_test; {make} select count(*) from (select 1 from "
        "(select 'a' as value_field) all_values where value_field not in ('x"
    )
    accept_values(plan, "status", "active", "gone", payload)


def _identifier(plan: Plan, make: str, marker: str) -> None:
    source_spec(plan)["tables"][0]["identifier"] = (
        f'users"), renamed as (select 1 as x) select 1 as x); {make} {_reopen(marker)}"."users'
    )


def _schema(plan: Plan, make: str, marker: str) -> None:
    source_spec(plan)["schema_name"] = (
        f'raw_app"."users"), renamed as (select 1 as x) select 1 as x); {make} {_reopen(marker)}'
    )


def _source_column(plan: Plan, make: str, marker: str) -> None:
    name = f"1 as a) t; {make} select count(*) from (select '"
    columns = source_spec(plan)["tables"][0]["columns"]
    columns.append({"name": name, "description": "", "tests": [{"name": "not_null"}]})


def _conditional_aggregate(plan: Plan, make: str, marker: str) -> None:
    """A conditional aggregate (plan version 3) whose condition closes its `case` and the query."""
    where = f"status = 'x') then 1 end) from analytics.stg_app__users; {make} select count(case when (true"
    columns = [
        {"name": "status", "expression": "status", "description": "The status."},
        {"name": "users", "aggregate": {"function": "count", "where": where}, "description": "How many."},
    ]
    spec = {"kind": "aggregate", "from_model": "stg_app__users", "group_by": ["status"], "columns": columns}
    add_model(plan, "intermediate", "int_users_by_status", spec)


def _window_clause(plan: Plan, make: str, marker: str) -> None:
    """A window column (plan version 3) whose clause ends the statement."""
    expression = (
        f"row_number() over (order by 1)) as n from (select 1) t; {make} select (row_number() over ()"
    )
    columns = [
        {"name": "email", "expression": "users.email", "description": "The email."},
        {"name": "position", "expression": expression, "description": "Its place."},
    ]
    spec = {
        "kind": "mart",
        "role": "fact",
        "base_model": "stg_app__users",
        "base_alias": "users",
        "columns": columns,
    }
    add_model(plan, "marts", "fct_user_positions", spec)


def _union_label(plan: Plan, make: str, marker: str) -> None:
    label = f"x' as varchar) as source_model, 1 as user_id, 'a' as detail from users; {make} select ('"
    add_self_union(plan, "stg_app__users", "user_id", "varchar", label, "email")


def _union_mapping(plan: Plan, make: str, marker: str) -> None:
    expression = f"email as varchar) as detail from users; {make} select cast(email"
    add_self_union(plan, "stg_app__users", "user_id", "varchar", "first", expression)


def _incremental_column(plan: Plan, make: str, marker: str) -> None:
    """An incremental fact whose growing column would close the filter's subquery and run a statement."""
    staging = staging_action(plan)
    key = staging["spec"]["columns"][0]["name"]
    plan["actions"].append(
        {
            "step_id": len(plan["actions"]) + 1,
            "type": "create_mart",
            "name": "fct_users",
            "file_path": "models/marts/fct_users.sql",
            "properties_path": "models/marts/_marts__models.yml",
            "config": {
                "materialized": "incremental",
                "unique_key": [key],
                "incremental": {"column": f"{key} from analytics.x); {make} {_reopen(marker)}"},
            },
            "description": "Users.",
            "dependencies": [staging["name"]],
            "spec": {
                "kind": "mart",
                "role": "fact",
                "base_model": staging["name"],
                "base_alias": "users",
                "columns": [{"name": key, "expression": f"users.{key}", "description": "The user."}],
            },
        }
    )


CASES: dict[str, Callable[[Plan, str, str], None]] = {
    "1-accepted-value": _accepted_value,
    "2-identifier": _identifier,
    "3-schema": _schema,
    "4-source-column": _source_column,
    "5-conditional-aggregate": _conditional_aggregate,
    "6-window-clause": _window_clause,
    "7-union-label": _union_label,
    "8-union-mapping": _union_mapping,
    "9-incremental-column": _incremental_column,
}
# The union cases are refused for their payload alone: the union around it is valid.
REFUSED_AT = {
    "7-union-label": "int_users_twice: spec.inputs[0].label:",
    "8-union-mapping": "int_users_twice: spec.inputs[0].columns[detail]:",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_plan_payload_never_runs_in_the_warehouse(app: App, tmp_path: Path, case: str) -> None:
    warehouse = app.warehouse
    marker = f"marker_{case.split('-', 1)[1].replace('-', '_')}"
    make = marker_statements(f"{warehouse.marker_schema}.{marker}")
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(edited(app.plan, lambda plan: CASES[case](plan, make, marker))))
    before = snapshot_tree(app.project)

    applied = _run("cartridge", "apply", str(plan_file), *app.where)
    try:
        if applied.returncode == 0:  # written as data: the user's own next `dbt test` of the source runs it
            _run("dbt", "test", "--select", "source:app", *app.where)
        assert not warehouse.has_table(warehouse.marker_schema, marker), applied.stdout + applied.stderr
        assert applied.returncode in (0, 2), applied.stdout + applied.stderr
        assert "Traceback" not in applied.stderr
        if applied.returncode == 2:
            assert snapshot_tree(app.project) == before
        if case in REFUSED_AT:
            assert "has a problem: " + REFUSED_AT[case] in applied.stderr, applied.stderr
    finally:
        if applied.returncode == 0:
            assert _run("cartridge", "undo", "--project-dir", str(app.project)).returncode == 0
        warehouse.execute(f"drop table if exists {warehouse.marker_schema}.{marker}")
