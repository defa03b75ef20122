"""The review loop through the real command line: plan to a file, look at it, dry-run, apply, undo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
from support import duckdb_output, snapshot_tree, write_project

from cartridge_bridge.gather.dbt_runner import DbtProject

BIN = Path(sys.executable).parent


def _cartridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cartridge"), *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_plan_review_apply_and_undo(tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_app")
        connection.execute("create table raw_app.users (id integer primary key, email varchar)")
        connection.execute(
            "create table raw_app.sessions (id integer, user_id integer, started_at timestamp)"
        )
        connection.execute("insert into raw_app.users values (1, 'a@x.test'), (2, 'b@x.test')")
        connection.execute("insert into raw_app.sessions values (1, 1, '2025-01-01'), (2, 1, '2025-01-02')")
    project = write_project(tmp_path / "app", "app", duckdb_output(database, "analytics"))
    DbtProject(project).deps()
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    plan_file = tmp_path / "plan.json"

    planned = _cartridge(
        "plan", *where, "--schema", "raw_app", "--out", str(plan_file), "--format", "mermaid"
    )
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith("flowchart LR\n")
    assert 'n_stg_app__sessions["stg_app__sessions"] --> n_int_sessions_aggregated_to_users' in planned.stdout
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
    assert "error: the plan was made for project 'elsewhere', not 'app'" in result.stderr
    assert snapshot_tree(project) == before
