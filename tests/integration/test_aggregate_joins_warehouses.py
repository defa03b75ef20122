"""An intermediate that joins its rows to their payment and order before it groups, built with real dbt on
PostgreSQL and DuckDB: the build is green, its grain test passes and the sums are the ones worked out by hand."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from plan_payloads import edited
from refund_joins import BY_HAND, MODEL, figures, raw_statements, with_refunds_by_customer_and_method
from support import Sql, duckdb_warehouse, postgres_warehouse, write_project

from cartridge_bridge.api import ProjectOptions, apply_plan, load_context, make_plan
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.progress import SilentProgress


@dataclass
class Built:
    query: Sql
    schema: str
    sql: str


@pytest.fixture(scope="module", params=["postgres", "duckdb"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    home = tmp_path_factory.mktemp(f"joins_{request.param}")
    raw = ("create schema raw_refunds", *raw_statements("raw_refunds", "varchar(20)"))
    if request.param == "postgres":
        output, query = postgres_warehouse(request.getfixturevalue("pg_server"), "aggregate_joins", raw)
    else:
        output, query = duckdb_warehouse(home, raw)
    project = write_project(home / "app", "app", output)
    DbtProject(project, project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_refunds"])
    _, context = load_context(options, SilentProgress())
    plan = json.loads(make_plan(context).model_dump_json())
    edited_plan = ExecutionPlan.model_validate(edited(plan, with_refunds_by_customer_and_method))
    report = apply_plan(edited_plan, options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    assert report.build.failed == []
    return Built(query, "analytics", (project / f"models/intermediate/{MODEL}.sql").read_text())


def test_the_joined_intermediate_has_the_hand_computed_sums(built: Built) -> None:
    assert figures(built.query, built.schema) == BY_HAND


def test_each_refund_is_counted_once(built: Built) -> None:
    total = built.query(f"select sum(number_of_refunds), sum(refunded_amount) from {built.schema}.{MODEL}")
    assert (int(total[0][0]), float(total[0][1])) == (5, 55.0)  # five refunds, 10 + 5 + 20 + 15 + 5


def test_the_sql_joins_on_the_keys_before_it_groups(built: Built) -> None:
    assert "inner join payments\n        on refunds.payment_id = payments.payment_id" in built.sql
    assert "left join orders\n        on payments.order_id = orders.order_id" in built.sql
    assert "from joined\n" in built.sql
