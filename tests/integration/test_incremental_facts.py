"""Incremental facts with real dbt on PostgreSQL and DuckDB: the first build is whole, the next adds only new rows.

One raw event table with a loader timestamp; the plan carries two incremental facts over its staging model, one
reading from the newest `_fivetran_synced` on (`>=`), one with a two-day lookback. Between the builds the raw
table changes: an old row's amount (outside both windows: never read again), the newest row's amount (read again
by both), a row older than the lookback but updated, a new row, and a late row synced before the newest one.
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
from plan_payloads import incremental_fact
from support import (
    duckdb_execute,
    duckdb_output,
    duckdb_query,
    postgres_output,
    postgres_query,
    run_sql,
    write_project,
)

from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import SilentProgress
from cartridge_bridge.render.plan_files import render_plan
from cartridge_bridge.verify.prove import prove

BIN = Path(sys.executable).parent
RAW = [
    "create schema raw_ev",
    "create table raw_ev.customers (id integer primary key, name varchar(20))",
    "insert into raw_ev.customers values (1, 'Acme'), (2, 'Globex')",
    "create table raw_ev.events (id integer primary key, customer_id integer references raw_ev.customers (id), "
    "amount integer, created_at timestamp, _fivetran_synced timestamp)",
    "insert into raw_ev.events values (1, 1, 10, '2025-12-31 10:00:00', '2026-01-01 00:00:00'), "
    "(2, 2, 20, '2026-01-01 10:00:00', '2026-01-02 00:00:00'), "
    "(3, 1, 30, '2026-01-04 10:00:00', '2026-01-05 00:00:00')",
]
CHANGES = [
    "update raw_ev.events set amount = 99 where id = 1",  # synced long ago: no run reads it again
    "update raw_ev.events set amount = 22 where id = 2",  # before the two-day lookback from 01-05 too
    "update raw_ev.events set amount = 333 where id = 3",  # at the newest value: read again by both
    "insert into raw_ev.events values (4, 2, 40, '2026-01-05 10:00:00', '2026-01-06 00:00:00')",  # new
    "insert into raw_ev.events values (5, 1, 50, '2026-01-03 10:00:00', '2026-01-04 00:00:00')",  # late
]
# Three raw rows are "large" here: the rules planner makes the event table's fact incremental by itself.
CARTRIDGE_YML = "incremental_min_rows: 3\n"


def _run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / program), *args], capture_output=True, text=True, timeout=600, check=False
    )


@dataclass
class Warehouse:
    output: dict[str, object]
    execute: Callable[..., None]
    rows: Callable[[str], list[tuple[Any, ...]]]


def _postgres(request: pytest.FixtureRequest) -> Warehouse:

    server = request.getfixturevalue("pg_server")
    run_sql(
        server, "drop schema if exists raw_ev cascade", "drop schema if exists analytics_incremental cascade"
    )

    rows = postgres_query(server.dsn)

    return Warehouse(postgres_output(server, "analytics_incremental"), lambda *s: run_sql(server, *s), rows)


def _duckdb(home: Path) -> Warehouse:
    database = home / "warehouse.duckdb"

    execute = duckdb_execute(database)

    rows = duckdb_query(database)

    return Warehouse(duckdb_output(database, "analytics_incremental") | {"keep_open": False}, execute, rows)


@dataclass
class Built:
    warehouse: Warehouse
    project: Path
    where: list[str]
    key: str
    plan_file: Path


@pytest.fixture(scope="module", params=["postgres", "duckdb"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    home = tmp_path_factory.mktemp(f"incremental_{request.param}")
    warehouse = _postgres(request) if request.param == "postgres" else _duckdb(home)
    warehouse.execute(*RAW)
    project = write_project(home / "ev", "ev", warehouse.output, models={"cartridge.yml": CARTRIDGE_YML})
    DbtProject(project).deps()
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    planned = _run("cartridge", "plan", *where, "--schema", "raw_ev", "--out", str(home / "plan.json"))
    assert planned.returncode == 0, planned.stderr
    plan = json.loads((home / "plan.json").read_text())
    chosen = next(a for a in plan["actions"] if a["name"] == "fct_events")
    assert chosen["config"]["incremental"]["column"] == "_fivetran_synced", chosen["config"]
    plan["actions"] += [incremental_fact(plan, "fct_events_newest", 0)]
    plan["actions"] += [incremental_fact(plan, "fct_events_lookback", 2)]
    (home / "plan.json").write_text(json.dumps(plan))
    applied = _run("cartridge", "apply", str(home / "plan.json"), *where)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    key = plan["actions"][-1]["config"]["unique_key"][0]
    yield Built(warehouse, project, where, key, home / "plan.json")
    warehouse.execute("drop schema raw_ev cascade", "drop schema analytics_incremental cascade")


def _amounts(built: Built, model: str) -> dict[int, int]:
    rows = built.warehouse.rows(f"select {built.key}, amount from analytics_incremental.{model}")
    assert len(rows) == len({r[0] for r in rows}), (
        f"{model} holds a key twice: {rows}"
    )  # the unique_key holds
    return {int(r[0]): int(r[1]) for r in rows}


def test_the_first_build_is_whole_and_the_second_adds_only_new_rows(built: Built) -> None:
    sql = (built.project / "models/marts/fct_events_newest.sql").read_text()
    assert "{% if is_incremental() %}" in sql and "from {{ this }})" in sql
    assert "on_schema_change='fail'" in sql
    assert _amounts(built, "fct_events_newest") == {1: 10, 2: 20, 3: 30}
    assert _amounts(built, "fct_events_lookback") == {1: 10, 2: 20, 3: 30}
    assert _amounts(built, "fct_events") == {1: 10, 2: 20, 3: 30}

    built.warehouse.execute(*CHANGES)
    again = _run(
        "dbt", "build", *built.where, "--select", "fct_events_newest", "fct_events_lookback", "fct_events"
    )
    assert again.returncode == 0, again.stdout

    # From the newest value on: row 3 read again (its new amount), 4 added; 5 synced before it, 1 and 2 old.
    assert _amounts(built, "fct_events_newest") == {1: 10, 2: 20, 3: 333, 4: 40}
    # The rules planner's own incremental fact, on the loader timestamp, with no lookback: the same.
    assert _amounts(built, "fct_events") == {1: 10, 2: 20, 3: 333, 4: 40}
    # Two days back from 01-05: the late row 5 (01-04) is caught; 2 (01-02) and 1 are not read again.
    assert _amounts(built, "fct_events_lookback") == {1: 10, 2: 20, 3: 333, 4: 40, 5: 50}
    # A full rebuild would have read the changed amounts: the second run was incremental.
    assert built.warehouse.rows("select amount from raw_ev.events where id = 1") == [(99,)]

    # An incremental table left empty (its raw table was empty at the first build) has no newest value to
    # compare with: the next run reads every row rather than none forever.
    built.warehouse.execute("delete from analytics_incremental.fct_events_lookback")
    refill = _run("dbt", "build", *built.where, "--select", "fct_events_lookback")
    assert refill.returncode == 0, refill.stdout
    assert _amounts(built, "fct_events_lookback") == {1: 99, 2: 22, 3: 333, 4: 40, 5: 50}


def test_a_repair_rounds_rewritten_incremental_fact_is_rebuilt_whole(built: Built) -> None:
    """After the incremental run, a repair rewrites the fact (a new column) and proves it as the loop does.

    Built incrementally, the new select would fail on `on_schema_change: fail`, or (ignoring it) sit over the
    old rows; the proof's full refresh reads every row again, the changed amounts included.
    """
    plan = json.loads(built.plan_file.read_text())
    fact = next(a for a in plan["actions"] if a["name"] == "fct_events_newest")
    fact["spec"]["columns"].append(
        {"name": "amount_cents", "expression": "events.amount * 100", "description": "d"}
    )
    repaired = ExecutionPlan.model_validate(plan)
    (sql,) = [f.text for f in render_plan(repaired) if f.path == fact["file_path"]]
    (built.project / fact["file_path"]).write_text(sql)  # what the loop's writer does with a repaired plan
    summary = prove(
        DbtProject(built.project, built.project), repaired, True, SilentProgress(), only=[f"{fact['name']}+"]
    )
    assert summary is not None and summary.success, summary
    assert _amounts(built, "fct_events_newest") == {1: 99, 2: 22, 3: 333, 4: 40, 5: 50}
    cents = built.warehouse.rows(
        f"select amount_cents from analytics_incremental.fct_events_newest where {built.key} = 5"
    )
    assert cents == [(5000,)]
