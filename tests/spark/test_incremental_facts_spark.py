"""An incremental fact on a local Spark: built whole, then a second `dbt build` appends only the rows past the newest.

Spark's tables here are Hive parquet tables: no `merge`, so the fact appends (render.incremental) with a strict
`>` on its loader timestamp. Between the builds the raw table is rewritten with an old row's amount changed, the
newest row's amount changed, a new row and a late row synced before the newest: only the new row may arrive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plan_payloads import incremental_fact
from support import spark_output, write_project

from cartridge_bridge.api import ProjectOptions, apply_plan, load_context, make_plan
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import SilentProgress

SCHEMA = "id bigint, amount int, _fivetran_synced timestamp"
FIRST = [(1, 10, "2026-01-01 00:00:00"), (2, 20, "2026-01-02 00:00:00"), (3, 30, "2026-01-05 00:00:00")]
SECOND = [
    (1, 99, "2026-01-01 00:00:00"),  # changed, synced long ago
    (2, 20, "2026-01-02 00:00:00"),
    (
        3,
        333,
        "2026-01-05 00:00:00",
    ),  # changed at the newest value: append cannot replace it, so it is not read
    (4, 40, "2026-01-06 00:00:00"),  # new
    (5, 50, "2026-01-04 00:00:00"),  # late
]


def _write(spark: Any, rows: list[tuple[int, int, str]]) -> None:
    frame = spark.createDataFrame(rows, "id bigint, amount int, synced string")
    frame.selectExpr("id", "amount", "cast(synced as timestamp) as _fivetran_synced").write.insertInto(
        "raw_incr.events", overwrite=True
    )


@pytest.fixture(scope="module")
def project(spark: Any, spark_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    spark.sql("create database raw_incr")
    spark.sql(f"create table raw_incr.events ({SCHEMA}) using parquet")
    _write(spark, FIRST)
    project = write_project(
        tmp_path_factory.mktemp("incremental") / "ev", "ev", spark_output(spark_home, "analytics_incr")
    )
    DbtProject(project, project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_incr"])
    _, context = load_context(options, SilentProgress())
    plan = json.loads(make_plan(context).model_dump_json())
    plan["actions"].append(incremental_fact(plan, "fct_events_newest", 0))
    report = apply_plan(ExecutionPlan.model_validate(plan), options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    yield project
    spark.sql("drop database raw_incr cascade")
    spark.sql("drop database analytics_incr cascade")


def _amounts(spark: Any) -> dict[int, int]:
    rows = spark.sql("select * from analytics_incr.fct_events_newest").collect()
    keys = [row[0] for row in rows]
    assert len(keys) == len(set(keys)), rows  # the grain holds: nothing was appended twice
    return {int(row[0]): int(row["amount"]) for row in rows}


def test_the_second_build_appends_only_the_rows_past_the_newest(spark: Any, project: Path) -> None:
    sql = (project / "models/marts/fct_events_newest.sql").read_text()
    assert (
        "incremental_strategy='append'" in sql
        and "> (select max(synced_at) from {{ this }}) or not exists" in sql
    )
    assert _amounts(spark) == {1: 10, 2: 20, 3: 30}
    _write(spark, SECOND)
    again = DbtProject(project, project).build(select=["fct_events_newest"])
    assert again.success, again
    assert _amounts(spark) == {1: 10, 2: 20, 3: 30, 4: 40}
