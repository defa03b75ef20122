"""An intermediate joining each refund to its payment and that payment's order before it groups, built with dbt on
a local Spark: the sums are the ones worked out by hand (`refund_joins.BY_HAND`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plan_payloads import edited
from refund_joins import BY_HAND, figures, raw_statements, with_refunds_by_customer_and_method
from support import spark_output, write_project

from cartridge_bridge.api import ProjectOptions, apply_plan, load_context, make_plan, undo_run
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import SilentProgress


def test_an_intermediate_joining_two_inputs_builds_on_spark(
    spark: Any, spark_home: Path, tmp_path: Path
) -> None:
    spark.sql("create database raw_refunds")
    for statement in raw_statements("raw_refunds", "string", " using parquet"):
        spark.sql(statement)
    project = write_project(tmp_path / "app", "app", spark_output(spark_home, "analytics_joins"))
    DbtProject(project, project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_refunds"])
    _, context = load_context(options, SilentProgress())
    plan = json.loads(make_plan(context).model_dump_json())
    try:
        report = apply_plan(
            ExecutionPlan.model_validate(edited(plan, with_refunds_by_customer_and_method)),
            options,
            SilentProgress(),
        )
        assert report.build is not None and report.build.success, report.build
        assert report.build.failed == []
        assert (
            figures(lambda sql: [tuple(row) for row in spark.sql(sql).collect()], "analytics_joins")
            == BY_HAND
        )
        undo_run(project, None, profiles_dir=project)
    finally:
        spark.sql("drop database raw_refunds cascade")
