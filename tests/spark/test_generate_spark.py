"""`generate` end to end on a local Spark: gather, the rules planner, dbt build, then undo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support import snapshot_tree, spark_output, write_project

from cartridge_bridge.api import ProjectOptions, generate, undo_run
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.progress import SilentProgress

RAW_TABLES = [
    "create database raw_shop",
    "create table raw_shop.customers (id bigint comment 'The customer', `firstName` string,"
    " `signupDate` timestamp) using parquet comment 'Customers as the shop exports them'",
    # A table named with a reserved word and camelCase columns: both must be quoted with backticks.
    "create table raw_shop.`order` (id bigint, `customerId` bigint, amount decimal(12,2), `placedAt` date)"
    " using parquet",
    "insert into raw_shop.customers values (1, 'Ada', timestamp'2025-01-01 10:00:00'), (2, 'Bo', null)",
    "insert into raw_shop.`order` values (10, 1, 12.50, date'2025-01-05'), (11, 1, 7.25, date'2025-02-11'),"
    " (12, 2, 100.00, null)",
]


def _relation_types(spark: Any, database: str) -> dict[str, str]:
    """Each relation of a database with its type as describe reports it (MANAGED, VIEW, ...)."""
    types = {}
    for row in spark.sql(f"show tables in {database}").collect():
        details = spark.sql(f"describe table extended {database}.`{row.tableName}`").collect()
        types[row.tableName] = next(d.data_type for d in details if d.col_name == "Type")
    return types


def test_generate_builds_on_spark_and_undo_restores(spark: Any, spark_home: Path, tmp_path: Path) -> None:
    for statement in RAW_TABLES:
        spark.sql(statement)
    project = write_project(tmp_path / "shop", "shop", spark_output(spark_home, "analytics"))
    DbtProject(project, project).deps()
    before = snapshot_tree(project)

    report = generate(
        ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_shop"]), SilentProgress()
    )

    assert report.build is not None and report.build.success, report.build
    assert [a.name for a in report.plan.models()] == [
        "stg_shop__customers",
        "stg_shop__order",
        "int_order_aggregated_to_customers",
        "dim_customers",
        "fct_order",
        "fct_order_monthly_by_customer",  # a customer's orders: their running totals month by month
        "fct_order_daily",  # a money-moving fact with an event time gets its daily snapshot on Spark too
    ]
    assert report.build.count("model", "success") == 7
    assert report.build.failed == []
    staging = (project / "models/staging/shop/stg_shop__order.sql").read_text()
    # Spark's quotes; no cast where the raw type is already the staged one.
    assert "`customerId` as customer_id" in staging and "`placedAt` as placed_at" in staging
    assert "cast(" not in staging
    # Views for staging and intermediate, tables for marts: the defaults of a project that says nothing.
    assert _relation_types(spark, "analytics") == {
        "stg_shop__customers": "VIEW",
        "stg_shop__order": "VIEW",
        "int_order_aggregated_to_customers": "VIEW",
        "dim_customers": "MANAGED",
        "fct_order": "MANAGED",
        "fct_order_monthly_by_customer": "MANAGED",
        "fct_order_daily": "MANAGED",
    }
    rows = spark.sql(
        "select customer_id, number_of_orders, total_order_amount from analytics.dim_customers order by 1"
    ).collect()
    assert [(r[0], r[1], float(r[2])) for r in rows] == [(1, 2, 19.75), (2, 1, 100.0)]

    undone = undo_run(project, None, profiles_dir=project)

    assert snapshot_tree(project) == before
    assert undone.remaining == []
    assert _relation_types(spark, "analytics") == {}
