"""A type-2 history built for real on PostgreSQL and DuckDB from a hand-written plan, its rows checked by hand.

The plan (tests/history_plan.py) keeps every version in staging, dates the versions twice (by the next
version's start, and by the loader's end column) and keeps the current state; `dbt build` runs the grain and
overlap tests. The overlap test is then run on data that overlaps, and must fail there.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from history_plan import (
    AS_OF,
    COLUMNS,
    EXPECTED_AS_OF,
    EXPECTED_CURRENT,
    EXPECTED_HISTORY,
    OVERLAPPING_MODEL,
    OVERLAPPING_PROPERTIES,
    SCHEMA,
    as_of_query,
    history_plan,
    insert_statements,
)
from support import duckdb_output, duckdb_query, postgres_output, postgres_query, run_sql, write_project

from cartridge_bridge.api import ApplyReport, ProjectOptions, apply_plan
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import SilentProgress


@dataclass
class Built:
    """A project whose history plan was applied, and a way to query its warehouse."""

    project: Path
    report: ApplyReport
    query: Callable[[str], list[tuple[Any, ...]]]


def _create() -> list[str]:
    columns = ", ".join(f"{name} {type_}" for name, type_ in COLUMNS)
    return [f"create schema {SCHEMA}", f"create table {SCHEMA}.customer_versions ({columns})"]


@pytest.fixture(scope="module", params=["postgres", "duckdb"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    home = tmp_path_factory.mktemp(f"history_{request.param}")
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        run_sql(server, f"drop schema if exists {SCHEMA} cascade", *_create(), *insert_statements())
        output = postgres_output(server, "analytics_history")

        query = postgres_query(server.dsn)
    else:
        database = home / "warehouse.duckdb"
        with duckdb.connect(str(database)) as connection:
            for statement in [*_create(), *insert_statements()]:
                connection.execute(statement)
        output = duckdb_output(database, "analytics")

        # dbt-duckdb keeps its read-write connection in this process: a second one must be configured alike.
        query = duckdb_query(database, read_only=False)

    project = write_project(home / "app", "app", output)
    DbtProject(project, project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project)
    plan = ExecutionPlan.model_validate(history_plan(request.param))
    report = apply_plan(plan, options, SilentProgress())
    yield Built(project, report, query)
    if request.param == "postgres":
        run_sql(server, f"drop schema {SCHEMA} cascade")


def _schema(built: Built) -> str:
    return "analytics_history" if "postgres" in str(built.project) else "analytics"


def test_the_history_plan_builds_green_with_its_tests(built: Built) -> None:
    build = built.report.build
    assert build is not None and build.success, build
    assert build.failed == [] and built.report.relaxed_tests == []
    properties = (built.project / "models/intermediate/_models.yml").read_text()
    assert properties.count("cartridge.versions_do_not_overlap") == 2
    run_results = json.loads((built.project / "target/run_results.json").read_text())
    overlap = [r for r in run_results["results"] if "versions_do_not_overlap" in r["unique_id"]]
    assert len(overlap) == 2 and all(r["status"] == "pass" for r in overlap)


@pytest.mark.parametrize("model", ["int_customers_history", "int_customers_history_loader_end"])
def test_type_2_rows_are_the_hand_answer(built: Built, model: str) -> None:
    relation = f"{_schema(built)}.{model}"
    rows = built.query(
        "select customer_id, name, plan, valid_from, valid_to, is_current "
        f"from {relation} order by customer_id, valid_from"
    )
    assert rows == EXPECTED_HISTORY
    # valid_to is the next version's start; exactly one current version per customer
    for earlier, later in itertools.pairwise(rows):
        if earlier[0] == later[0]:
            assert earlier[4] == later[3]
    assert sorted(r[0] for r in rows if r[5]) == [1, 2, 3]
    assert built.query(as_of_query(relation)) == EXPECTED_AS_OF, AS_OF


def test_the_current_state_is_one_row_per_customer(built: Built) -> None:
    rows = built.query(
        f"select customer_id, name, plan from {_schema(built)}.int_customers_current order by 1"
    )
    assert rows == EXPECTED_CURRENT


def test_the_overlap_test_fails_on_overlapping_versions(built: Built) -> None:
    (built.project / "models/checks").mkdir(exist_ok=True)
    (built.project / "models/checks/overlapping_versions.sql").write_text(OVERLAPPING_MODEL)
    (built.project / "models/checks/_checks.yml").write_text(OVERLAPPING_PROPERTIES)
    summary = DbtProject(built.project, built.project).build(["overlapping_versions"])
    tests = [node for node in summary.nodes if node.resource_type == "test"]
    assert [(test.status, test.failures) for test in tests] == [("fail", 2)]
