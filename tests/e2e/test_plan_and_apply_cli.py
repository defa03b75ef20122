"""The review loop through the real command line: plan to a file, look at it, dry-run, apply, undo."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
from support import duckdb_output, snapshot_tree, write_project

from cartridge_bridge.gather.dbt_runner import DbtProject

BIN = Path(sys.executable).parent


def _cartridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cartridge"), *args], capture_output=True, text=True, timeout=600, check=False
    )


def _raw_app(tmp_path: Path) -> Path:
    """A DuckDB warehouse with raw users and their sessions (one session has no start)."""
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_app")
        connection.execute("create table raw_app.users (id integer primary key, email varchar)")
        connection.execute(
            "create table raw_app.sessions (id integer, user_id integer, started_at timestamp, device varchar)"
        )
        connection.execute("insert into raw_app.users values (1, 'a@x.test'), (2, 'b@x.test')")
        connection.execute(
            "insert into raw_app.sessions values (1, 1, '2025-01-01', 'ios'), (2, 1, '2025-01-02', 'web'),"
            " (3, 2, null, 'web')"
        )
    return database


def test_plan_review_apply_and_undo(tmp_path: Path) -> None:
    database = _raw_app(tmp_path)
    project = write_project(tmp_path / "app", "app", duckdb_output(database, "analytics"))
    DbtProject(project).deps()
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    plan_file = tmp_path / "plan.json"

    planned = _cartridge(
        "plan", *where, "--schema", "raw_app", "--out", str(plan_file), "--format", "mermaid"
    )
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith("flowchart LR\n")
    node = {label: node_id for node_id, label in re.findall(r'(n\d+)\["([^"]*)"\]', planned.stdout)}
    assert f"{node['stg_app__sessions']} --> {node['int_sessions_aggregated_to_users']}" in planned.stdout
    plan = json.loads(plan_file.read_text())
    assert plan["strategy"] == "greenfield" and plan["planner"] == "rules"
    assert [a["type"] for a in plan["actions"]][:3] == ["create_source", "create_staging", "create_staging"]

    as_table = _cartridge("plan", *where, "--schema", "raw_app")
    assert as_table.returncode == 0 and "Execution plan (greenfield, rules planner)" in as_table.stdout

    before = snapshot_tree(project)
    dry = _cartridge("apply", str(plan_file), *where, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+++ b/models/staging/app/stg_app__users.sql" in dry.stdout and "Dry run" in dry.stdout
    assert snapshot_tree(project) == before

    applied = _cartridge("apply", str(plan_file), *where)
    assert applied.returncode == 0, applied.stderr
    assert "dbt build passed" in applied.stdout
    assert (project / "models/marts/dim_users.sql").is_file()

    undone = _cartridge("undo", "--project-dir", str(project))
    assert undone.returncode == 0, undone.stderr
    assert snapshot_tree(project) == before


def test_a_plan_for_another_project_is_refused(tmp_path: Path) -> None:
    project = write_project(tmp_path / "app", "app", duckdb_output(tmp_path / "w.duckdb"))
    DbtProject(project).deps()
    plan = {
        "plan_version": 3,
        "project_name": "elsewhere",
        "strategy": "greenfield",
        "planner": "rules",
        "adapter_type": "duckdb",
    }
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({**plan, "actions": []}))
    before = snapshot_tree(project)
    result = _cartridge(
        "apply", str(plan_file), "--project-dir", str(project), "--profiles-dir", str(project)
    )
    assert result.returncode == 2
    assert (
        f"error: plan file {plan_file} has a problem: (plan): project_name: the plan was made for project "
        "'elsewhere' (expected 'app')"
    ) in result.stderr
    assert snapshot_tree(project) == before


def _app_with_plan(tmp_path: Path) -> tuple[Path, list[str], dict[str, object]]:
    database = _raw_app(tmp_path)
    project = write_project(tmp_path / "app", "app", duckdb_output(database, "analytics"))
    DbtProject(project).deps()
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    plan_file = tmp_path / "plan.json"
    planned = _cartridge("plan", *where, "--schema", "raw_app", "--out", str(plan_file), "--format", "json")
    assert planned.returncode == 0, planned.stderr
    return project, where, json.loads(plan_file.read_text())


def _action(plan: dict[str, object], name: str) -> dict[str, Any]:
    return next(a for a in plan["actions"] if a["name"] == name)  # type: ignore[attr-defined]


def test_a_hand_edited_plan_reports_all_its_problems_and_touches_nothing(tmp_path: Path) -> None:
    project, where, plan = _app_with_plan(tmp_path)
    _action(plan, "stg_app__users")["config"]["materialized"] = (
        "view') }}{{ run_query('drop schema raw_app cascade') }}{{ config(x='"
    )
    sessions = _action(plan, "stg_app__sessions")
    sessions["spec"]["columns"][3]["source_column"] = None
    sessions["spec"]["columns"][3]["cast_to"] = None
    sessions["spec"]["columns"][3]["expression"] = "device, (select string_agg(rolname, ',') from pg_roles)"
    _action(plan, "dim_users")["file_path"] = "models/../../escape/dim_users.sql"
    _action(plan, "fct_sessions")["dependencies"] = ["stg_app__users"]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(plan))
    before = snapshot_tree(project)
    result = _cartridge("apply", str(edited), *where)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # pydantic's check comes first: the materialization is not one of dbt's.
    assert "has a problem: stg_app__users: config.materialized: Input should be 'view'" in result.stderr
    _action(plan, "stg_app__users")["config"]["materialized"] = "view"
    edited.write_text(json.dumps(plan))
    result = _cartridge("apply", str(edited), *where)
    assert result.returncode == 2, result.stderr
    fields = {
        tuple(line[4:].split(": ")[:2]) for line in result.stderr.splitlines() if line.startswith("  - ")
    }
    assert fields == {
        ("stg_app__sessions", "spec.columns[device].expression"),
        ("dim_users", "file_path"),
        ("fct_sessions", "dependencies"),
    }, result.stderr
    assert snapshot_tree(project) == before


def test_a_widened_plan_builds_filters_joins_and_model_tests(tmp_path: Path) -> None:
    project, where, plan = _app_with_plan(tmp_path)
    sessions = _action(plan, "stg_app__sessions")
    sessions["spec"]["filter"] = "started_at is not null"
    sessions["spec"]["deduplicate"] = {
        "partition_by": ["session_id"],
        "order_by": [{"column": "started_at", "descending": True}],
    }
    fact = _action(plan, "fct_sessions")
    fact["tests"] = [
        {"name": "unique_combination_of_columns", "columns": ["session_id", "user_id"]},
        {"name": "expression_is_true", "expression": "session_id > 0 and device in ('ios', 'web')"},
    ]
    dim = _action(plan, "dim_users")
    dim["spec"]["joins"][0]["join_type"] = "inner"
    dim["spec"]["filter"] = "users.email like '%@x.test'"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(plan))
    applied = _cartridge("apply", str(edited), *where)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "dbt build passed" in applied.stdout
    properties = (project / "models/marts/_marts__models.yml").read_text()
    assert (
        "cartridge.unique_combination_of_columns" in properties
        and "cartridge.expression_is_true" in properties
    )
    staged = (project / "models/staging/app/stg_app__sessions.sql").read_text()
    # with a de-duplication the filter applies to the latest version (a deleted latest version stays out)
    assert "started_at is not null" in staged and "cartridge_row_number = 1 and cartridge_kept" in staged
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
        sessions_rows = connection.execute("select count(*) from analytics.stg_app__sessions").fetchone()
        users_rows = connection.execute("select user_id from analytics.dim_users").fetchall()
    assert sessions_rows == (2,)  # the session without a start is filtered out
    assert users_rows == [(1,)]  # the inner join keeps only users with sessions
