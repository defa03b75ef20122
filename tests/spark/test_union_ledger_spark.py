"""The general ledger union on a local Spark: a rules plan of the raw ledger with the hand-written union, its
monthly aggregate and mart added, applied; every journal balances and the mart equals the hand computation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledger_fixture import JOURNALS, LEDGER_ROWS, MONTHLY, add_ledger, raw_statements
from support import spark_output, write_project

from cartridge_bridge.api import ProjectOptions, apply_plan, load_context, make_plan
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import SilentProgress

RAW, TARGET = "raw_ledger", "analytics_ledger"


def test_the_ledger_union_builds_on_spark_and_balances(spark: Any, spark_home: Path, tmp_path: Path) -> None:
    spark.sql(f"create database {RAW}")
    try:
        for statement in raw_statements(RAW, "spark"):
            spark.sql(statement)
        project = write_project(tmp_path / "books", "books", spark_output(spark_home, TARGET))
        DbtProject(project, project).deps()
        options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=[RAW])
        _, context = load_context(options, SilentProgress())
        plan = add_ledger(json.loads(make_plan(context).model_dump_json()), "spark")
        report = apply_plan(ExecutionPlan.model_validate(plan), options, SilentProgress())
        assert report.build is not None and report.build.success, report.build
        assert report.build.failed == [] and report.relaxed_tests == []

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in spark.sql(sql).collect()]

        ledger = f"{TARGET}.int_general_ledger"
        assert rows(f"select count(*) from {ledger}") == [(LEDGER_ROWS,)]
        balances = rows(f"select journal_type, journal_id, sum(signed_amount) from {ledger} group by 1, 2")
        assert {(kind, journal) for kind, journal, _ in balances} == JOURNALS
        assert all(total == 0 for _, _, total in balances), balances
        types = {name: data_type for name, data_type, _ in rows(f"describe {ledger}")}
        assert types["source_model"] == "string" and types["amount"] == "decimal(14,2)"
        assert types["is_manual"] == "boolean" and types["journal_id"] == "bigint"
        months = rows(
            f"select entry_month, account, net_amount, debits, line_count from {TARGET}.fct_account_months"
        )
        assert {(str(m), a): (net, debits, lines) for m, a, net, debits, lines in months} == MONTHLY
    finally:
        spark.sql(f"drop database if exists {RAW} cascade")
        spark.sql(f"drop database if exists {TARGET} cascade")
