"""Issue 15, cases 1–4 for real: a hand-edited plan whose payload would run a statement, applied on PostgreSQL.

Each payload closes a quote, commits, creates a marker table, commits and reopens, so that the whole text dbt
sends still parses (PostgreSQL parses every statement of a query before it runs the first). Whatever apply
answers, the marker table must not exist afterwards; a refused plan leaves the project byte for byte as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import postgres_output, run_sql, snapshot_tree, write_project

from cartridge_bridge.demo.local_postgres import LocalPostgres
from cartridge_bridge.gather.dbt_runner import DbtProject

BIN = Path(sys.executable).parent
_MAKE = "commit; create table public.{marker} (i int); commit;"
_REOPEN_VIEW = 'create temporary view {marker}_reopen as (with source as (select * from "raw_app'


def _cartridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cartridge"), *args], capture_output=True, text=True, timeout=600, check=False
    )


@dataclass
class App:
    """A project over raw_app.users on the session's PostgreSQL, with its rules plan."""

    server: LocalPostgres
    project: Path
    where: list[str]
    plan: dict[str, Any]


@pytest.fixture(scope="module")
def app(pg_server: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    run_sql(
        pg_server,
        "drop schema if exists raw_app cascade",
        "create schema raw_app",
        "create table raw_app.users (id integer primary key, email varchar, status varchar)",
        "insert into raw_app.users values (1, 'a@x.test', 'active'), (2, 'b@x.test', 'gone')",
    )
    home = tmp_path_factory.mktemp("injection")
    project = write_project(home / "app", "app", postgres_output(pg_server, "analytics_injection"))
    DbtProject(project).deps()
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    planned = _cartridge("plan", *where, "--schema", "raw_app", "--out", str(home / "plan.json"))
    assert planned.returncode == 0, planned.stderr
    yield App(pg_server, project, where, json.loads((home / "plan.json").read_text()))
    run_sql(pg_server, "drop schema raw_app cascade")


def _users_source(plan: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in plan["actions"] if a["type"] == "create_source")["spec"]


def _accepted_value(plan: dict[str, Any]) -> None:
    marker = "marker_values"
    payload = (
        f"x')) dbt_internal_test; {_MAKE.format(marker=marker)} select count(*) from (select 1 from "
        "(select 'a' as value_field) all_values where value_field not in ('x"
    )
    staging = next(a for a in plan["actions"] if a["type"] == "create_staging")
    status = next(c for c in staging["spec"]["columns"] if c["name"] == "status")
    status["tests"] = [{"name": "accepted_values", "values": ["active", "gone", payload]}]


def _identifier(plan: dict[str, Any]) -> None:
    marker = "marker_identifier"
    _users_source(plan)["tables"][0]["identifier"] = (
        f'users"), renamed as (select 1 as x) select 1 as x); {_MAKE.format(marker=marker)} '
        + _REOPEN_VIEW.format(marker=marker)
        + '"."users'
    )


def _schema(plan: dict[str, Any]) -> None:
    marker = "marker_schema"
    _users_source(plan)["schema_name"] = (
        f'raw_app"."users"), renamed as (select 1 as x) select 1 as x); {_MAKE.format(marker=marker)} '
        + _REOPEN_VIEW.format(marker=marker)
    )


def _source_column(plan: dict[str, Any]) -> None:
    marker = "marker_column"
    name = f"1 as a) t; {_MAKE.format(marker=marker)} select count(*) from (select '"
    columns = _users_source(plan)["tables"][0]["columns"]
    columns.append({"name": name, "description": "", "tests": [{"name": "not_null"}]})


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "1-accepted-value": (_accepted_value, "marker_values"),
    "2-identifier": (_identifier, "marker_identifier"),
    "3-schema": (_schema, "marker_schema"),
    "4-source-column": (_source_column, "marker_column"),
}


def _exists(server: LocalPostgres, table: str) -> bool:
    import psycopg2

    with psycopg2.connect(server.dsn) as connection, connection.cursor() as cursor:
        cursor.execute("select to_regclass(%s) is not null", (f"public.{table}",))
        row = cursor.fetchone()
    connection.close()
    return bool(row and row[0])


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_plan_payload_never_runs_in_the_warehouse(app: App, tmp_path: Path, case: str) -> None:
    edit, marker = CASES[case]
    plan = json.loads(json.dumps(app.plan))
    edit(plan)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    before = snapshot_tree(app.project)

    applied = _cartridge("apply", str(plan_file), *app.where)
    try:
        if applied.returncode == 0:  # written as data: the user's own next `dbt test` of the source runs it
            DbtProject(app.project, app.project).invoke(["test", "--select", "source:app"])
        assert not _exists(app.server, marker), applied.stdout + applied.stderr
        assert applied.returncode in (0, 2), applied.stdout + applied.stderr
        assert "Traceback" not in applied.stderr
        if applied.returncode == 2:
            assert snapshot_tree(app.project) == before
    finally:
        if applied.returncode == 0:
            assert _cartridge("undo", "--project-dir", str(app.project)).returncode == 0
        run_sql(app.server, f"drop table if exists public.{marker}")
