"""Periodic snapshots on a local Spark: the package's period_spine through Spark's `sequence`, the numbers by hand."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import snapshot_cases as cases
from support import spark_output, write_project

from cartridge_bridge.api import ApplyReport, ProjectOptions, apply_plan, load_context, make_plan
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.progress import SilentProgress


@pytest.fixture(scope="module")
def built(spark: Any, spark_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplyReport]:
    spark.sql("create database raw_spay")
    for statement in cases.raw_statements("raw_spay", text="string"):
        spark.sql(statement)
    project = write_project(
        tmp_path_factory.mktemp("spay") / "spay", "spay", spark_output(spark_home, "analytics_spay")
    )
    DbtProject(project, project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_spay"])
    _, context = load_context(options, SilentProgress())
    plan = make_plan(context)
    plan.actions += cases.snapshot_actions(plan, "spay")
    yield apply_plan(plan, options, SilentProgress())
    spark.sql("drop database raw_spay cascade")
    spark.sql("drop database if exists analytics_spay cascade")


def _sums(spark: Any, sql: str) -> dict[tuple[Any, ...], tuple[Decimal, int]]:
    rows = spark.sql(sql).collect()
    return {tuple(r[:-2]): (round(Decimal(str(r[-2])), 2), int(r[-1])) for r in rows}


def _complete(actual: dict[tuple[Any, ...], tuple[Decimal, int]], period: str, by: str | None) -> None:
    expected = cases.expected_sums(period, by)
    assert set(expected) <= set(actual)
    assert all(actual[k] == expected.get(k, (Decimal(0), 0)) for k in actual), actual


def test_periodic_snapshots_build_on_spark_with_the_numbers_by_hand(spark: Any, built: ApplyReport) -> None:
    assert built.build is not None and built.build.success, built.build
    assert built.build.failed == []
    daily = _sums(
        spark,
        "select period_start, currency, amount, charge_count from analytics_spay.charges_daily_by_currency",
    )
    assert len(daily) == cases.DAYS * 2
    assert min(k[0] for k in daily) == datetime.date(2024, 1, 30)
    assert max(k[0] for k in daily) == datetime.date(2024, 3, 5)
    assert daily[(datetime.date(2024, 2, 2), "EUR")] == (Decimal(0), 0)
    _complete(daily, "day", "currency")
    weekly = _sums(spark, "select week_start, amount, charge_count from analytics_spay.charges_weekly")
    assert len(weekly) == cases.WEEKS and all(week.weekday() == 0 for (week,) in weekly)
    _complete(weekly, "week", None)
    monthly = _sums(
        spark, "select month_start, customer_id, amount, charge_count from analytics_spay.customers_monthly"
    )
    assert len(monthly) == cases.MONTHS * len(cases.CUSTOMERS)
    _complete(monthly, "month", "customer")
    plans = spark.sql(
        "select month_start, customer_id, plan_name from analytics_spay.customers_monthly"
    ).collect()
    assert {(r[0], r[1]): r[2] for r in plans} == {
        (r[0], r[1]): cases.plan_as_of_month_end(r[1], r[0]) for r in plans
    }
