"""The rules planner's incremental facts: a large event table with a growing column, judged by `incremental_min_rows`."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_rules_marts import marts, plan_of, table

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import ExecutionPlan, MartSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules

CUSTOMERS = table("customers", {"id": "integer", "name": "text"}, rows=10)
EVENTS_COLUMNS = {
    "id": "integer",
    "customer_id": "integer",
    "amount": "numeric(12,2)",
    "created_at": "timestamp",
    "_fivetran_synced": "timestamp with time zone",
}


def _planned(tmp_path: Path, rows: int, min_rows: int | None, adapter: str = "postgres") -> ExecutionPlan:
    events = table("events", EVENTS_COLUMNS, rows=rows, distinct={"id": rows})
    _, context = plan_of(tmp_path, CUSTOMERS, events)
    tuned: ProjectContext = context.model_copy(
        update={"incremental_min_rows": min_rows, "adapter_type": adapter}
    )
    plan = plan_with_rules(tuned)
    assert plan_problems(plan, tuned) == []
    return plan


def test_a_large_event_table_becomes_an_incremental_fact_on_its_loader_timestamp(tmp_path: Path) -> None:
    plan = _planned(tmp_path, rows=5000, min_rows=1000)
    fact = marts(plan)["fct_events"]
    assert fact.config.materialized == "incremental"
    assert fact.config.unique_key == ["event_id"]
    assert fact.config.incremental is not None and fact.config.incremental.column == "_fivetran_synced"
    assert isinstance(fact.spec, MartSpec) and not fact.spec.joins
    assert "events._fivetran_synced" in {c.expression for c in fact.spec.columns}
    # The dimension is not a fact, whatever its size: it stays a table.
    assert marts(plan)["dim_customers"].config.materialized != "incremental"


@pytest.mark.parametrize("min_rows", [5001, None])
def test_below_the_threshold_or_switched_off_the_fact_is_rebuilt_whole(
    tmp_path: Path, min_rows: int | None
) -> None:
    fact = marts(_planned(tmp_path, rows=5000, min_rows=min_rows))["fct_events"]
    assert fact.config.materialized != "incremental" and fact.config.incremental is None
    assert isinstance(fact.spec, MartSpec)
    assert "_fivetran_synced" not in {c.name for c in fact.spec.columns}  # loader columns stay in staging


def test_spark_appends_on_the_event_time(tmp_path: Path) -> None:
    fact = marts(_planned(tmp_path, rows=5000, min_rows=5000, adapter="spark"))["fct_events"]
    assert fact.config.incremental is not None and fact.config.incremental.column == "created_at"
    assert fact.config.incremental.lookback_days == 0


def test_an_unprofiled_table_is_never_judged_large(tmp_path: Path) -> None:
    events = table("events", EVENTS_COLUMNS)
    _, context = plan_of(tmp_path, table("customers", {"id": "integer", "name": "text"}), events)
    plan = plan_with_rules(context.model_copy(update={"incremental_min_rows": 1}))
    assert all(a.config.incremental is None for a in plan.actions)
