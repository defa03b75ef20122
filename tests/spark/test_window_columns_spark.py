"""Window columns and conditional aggregates (issue 18) built with dbt on a local Spark, figures computed by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plan_payloads import edited
from support import spark_output, write_project
from window_plans import CUSTOMERS, PAYMENTS, assert_figures, with_windows_and_conditions

from cartridge_bridge.api import ProjectOptions, apply_plan, load_context, make_plan, undo_run
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import SilentProgress


def test_window_columns_and_conditional_aggregates_build_on_spark(
    spark: Any, spark_home: Path, tmp_path: Path
) -> None:
    spark.sql("create database raw_pay")
    spark.sql("create table raw_pay.customers (id int, name string) using parquet")
    spark.sql(
        "create table raw_pay.payments (id int, customer_id int, paid_at date, amount decimal(10,2),"
        " status string) using parquet"
    )
    spark.sql("insert into raw_pay.customers values " + ", ".join(f"({i}, '{n}')" for i, n in CUSTOMERS))
    spark.sql(
        "insert into raw_pay.payments values "
        + ", ".join(f"({i}, {c}, date'{d}', {a}, '{s}')" for i, c, d, a, s in PAYMENTS)
    )
    project = write_project(tmp_path / "app", "app", spark_output(spark_home, "analytics_windows"))
    DbtProject(project, project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_pay"])
    _, context = load_context(options, SilentProgress())
    plan = json.loads(make_plan(context).model_dump_json())
    try:
        report = apply_plan(
            ExecutionPlan.model_validate(edited(plan, with_windows_and_conditions)), options, SilentProgress()
        )
        assert report.build is not None and report.build.success, report.build
        assert report.build.failed == []
        assert_figures(lambda sql: [tuple(row) for row in spark.sql(sql).collect()], "analytics_windows")
        undo_run(project, None, profiles_dir=project)
    finally:
        spark.sql("drop database raw_pay cascade")
