"""The hand-written type-2 history plan (tests/history_plan.py) built on a local Spark, its rows checked by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from history_plan import (
    EXPECTED_AS_OF,
    EXPECTED_CURRENT,
    EXPECTED_HISTORY,
    SCHEMA,
    as_of_query,
    history_plan,
    insert_statements,
)
from support import spark_output, write_project

from cartridge_bridge.api import ApplyReport, ProjectOptions, apply_plan
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import SilentProgress

TARGET = "analytics_history"


@pytest.fixture(scope="module")
def report(spark: Any, spark_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplyReport]:
    spark.sql(f"create database {SCHEMA}")
    spark.sql(
        f"create table {SCHEMA}.customer_versions (id int, name string, plan string, updated_at timestamp,"
        " ended_at timestamp, synced_at timestamp) using parquet"
    )
    for statement in insert_statements():
        spark.sql(statement)
    project = write_project(
        tmp_path_factory.mktemp("history") / "app", "app", spark_output(spark_home, TARGET)
    )
    DbtProject(project, project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project)
    yield apply_plan(ExecutionPlan.model_validate(history_plan("spark")), options, SilentProgress())
    spark.sql(f"drop database {SCHEMA} cascade")


def _rows(spark: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in spark.sql(sql).collect()]


def test_the_history_plan_builds_green_on_spark(report: ApplyReport) -> None:
    assert report.build is not None and report.build.success, report.build
    assert report.build.failed == [] and report.relaxed_tests == []
    overlap = [n for n in report.build.nodes if n.test_name == "versions_do_not_overlap"]
    assert [n.status for n in overlap] == ["pass", "pass"]


@pytest.mark.parametrize("model", ["int_customers_history", "int_customers_history_loader_end"])
def test_type_2_rows_on_spark_are_the_hand_answer(spark: Any, report: ApplyReport, model: str) -> None:
    relation = f"{TARGET}.{model}"
    rows = _rows(
        spark,
        "select customer_id, name, plan, valid_from, valid_to, is_current "
        f"from {relation} order by customer_id, valid_from",
    )
    assert rows == EXPECTED_HISTORY
    assert _rows(spark, as_of_query(relation)) == EXPECTED_AS_OF
    current = _rows(spark, f"select customer_id, name, plan from {TARGET}.int_customers_current order by 1")
    assert current == EXPECTED_CURRENT
