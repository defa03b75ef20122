"""Incremental facts in the plan: the checks on `config.incremental`, and the filter and config the renderer writes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import ExecutionPlan, MartSpec
from cartridge_bridge.planning.plan_file import parse_plan
from cartridge_bridge.planning.rules.planner import RulesPlanner, plan_with_rules
from cartridge_bridge.render.plan_files import render_sql
from cartridge_bridge.render.sql_style import SqlStyle


@pytest.fixture(scope="module")
def document(context: ProjectContext) -> dict[str, Any]:
    """The rules plan with `fct_orders` incremental on a timestamp it selects from its base model (and without
    its orders' numbers per customer: windows, which an incremental run cannot compute)."""
    plan = json.loads(plan_with_rules(context, RulesPlanner(owner_sequences=False)).model_dump_json())
    fact = next(a for a in plan["actions"] if a["name"] == "fct_orders")
    alias = fact["spec"]["base_alias"]
    fact["spec"]["columns"].append(
        {
            "name": "loaded_at",
            "expression": f"{alias}.ordered_at",
            "data_type": "timestamp",
            "description": "d",
        }
    )
    fact["config"] |= {"materialized": "incremental", "unique_key": fact["spec"]["grain"]}
    fact["config"]["incremental"] = {"column": "loaded_at", "lookback_days": 3}
    return plan


def _problems(document: dict[str, Any], context: ProjectContext, **config: Any) -> list[tuple[str, str]]:
    copy = json.loads(json.dumps(document))
    fact = next(a for a in copy["actions"] if a["name"] == "fct_orders")
    for key, value in config.items():
        if key in ("column", "lookback_days", "on_schema_change"):
            fact["config"]["incremental"][key] = value
        else:
            fact["config"][key] = value
    return [
        (p.field, p.problem) for p in plan_problems(parse_plan(copy), context) if p.action == "fct_orders"
    ]


def _fact(document: dict[str, Any]) -> ExecutionPlan:
    return parse_plan(json.loads(json.dumps(document)))


def test_a_checked_incremental_fact_renders_its_filter_from_cartridges_template(
    document: dict[str, Any], context: ProjectContext
) -> None:
    assert _problems(document, context) == []
    action = next(a for a in _fact(document).actions if a.name == "fct_orders")
    assert isinstance(action.spec, MartSpec)
    sql = render_sql(action, SqlStyle(adapter_type="postgres"))
    assert "on_schema_change='fail'" in sql and "incremental_strategy" not in sql
    assert (
        "{% if is_incremental() %}\n    where (ordered_at >= (select max(loaded_at) - interval '3' day from "
        "{{ this }}) or not exists (select 1 from {{ this }}))\n{% endif %}"
    ) in sql
    flat = render_sql(action, SqlStyle(adapter_type="duckdb", import_ctes=False, keyword_case="upper"))
    assert (
        f"WHERE ({action.spec.base_alias}.ordered_at >= (SELECT MAX(loaded_at) - interval '3' day FROM"
        in flat
    )
    assert "{% if is_incremental() %}" in flat and "{{ this }}" in flat


def test_spark_appends_with_a_strict_filter(document: dict[str, Any]) -> None:
    action = next(a for a in _fact(document).actions if a.name == "fct_orders")
    action.config.incremental.lookback_days = 0  # type: ignore[union-attr]
    sql = render_sql(action, SqlStyle(adapter_type="spark"))
    assert "incremental_strategy='append'" in sql
    assert "where (ordered_at > (select max(loaded_at) from {{ this }}) or not exists" in sql


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"materialized": "table"}, "config.incremental", "only an incremental model"),
        ({"unique_key": []}, "config.unique_key", "needs a unique_key"),
        ({"column": "no_such_column"}, "config.incremental.column", "is not a column of this model"),
        (
            {"column": "order_id", "lookback_days": 2},
            "config.incremental.column",
            "needs a date or timestamp",
        ),
    ],
)
def test_a_wrong_incremental_config_is_refused_by_name(
    document: dict[str, Any], context: ProjectContext, config: dict[str, Any], field: str, words: str
) -> None:
    problems = _problems(document, context, **config)
    assert any(f == field and words in p for f, p in problems), problems


def test_the_column_must_pass_through_from_the_base_model(
    document: dict[str, Any], context: ProjectContext
) -> None:
    copy = json.loads(json.dumps(document))
    fact = next(a for a in copy["actions"] if a["name"] == "fct_orders")
    alias = fact["spec"]["base_alias"]
    fact["spec"]["columns"][-1]["expression"] = f"cast({alias}.ordered_at as date)"
    problems = [(p.field, p.problem) for p in plan_problems(parse_plan(copy), context)]
    assert any(f == "config.incremental.column" and "as it is from" in p for f, p in problems), problems


def test_an_incremental_fact_computes_no_window(document: dict[str, Any], context: ProjectContext) -> None:
    copy = json.loads(json.dumps(document))
    fact = next(a for a in copy["actions"] if a["name"] == "fct_orders")
    alias = fact["spec"]["base_alias"]
    running = f"count(*) over (partition by {alias}.customer_id order by {alias}.ordered_at)"
    fact["spec"]["columns"].append({"name": "running_orders", "expression": running, "description": "d"})
    problems = [(p.field, p.problem) for p in plan_problems(parse_plan(copy), context)]
    assert (
        "spec.columns[running_orders].expression",
        "an incremental fact cannot compute a window: each run reads only the new rows",
    ) in problems
    fact["config"] = {"materialized": "table"}  # rebuilt whole, the same window is a column like any other
    assert [p for p in plan_problems(parse_plan(copy), context) if p.action == "fct_orders"] == []


def test_spark_refuses_a_lookback(document: dict[str, Any], context: ProjectContext) -> None:
    spark = context.model_copy(update={"adapter_type": "spark"})
    copy = json.loads(json.dumps(document)) | {"adapter_type": "spark"}
    problems = [
        (p.field, p.problem) for p in plan_problems(parse_plan(copy), spark) if p.action == "fct_orders"
    ]
    assert any(f == "config.incremental.lookback_days" and "append" in p for f, p in problems), problems


@pytest.mark.parametrize(("key", "value"), [("on_schema_change", "drop_everything"), ("lookback_days", -1)])
def test_values_outside_dbts_are_refused_when_read(document: dict[str, Any], key: str, value: Any) -> None:
    copy = json.loads(json.dumps(document))
    next(a for a in copy["actions"] if a["name"] == "fct_orders")["config"]["incremental"][key] = value
    with pytest.raises(Exception, match=key):
        parse_plan(copy)


class _RecordingDbt:
    """Stands in for DbtProject in `prove`: records the build's arguments."""

    def __init__(self) -> None:
        self.builds: list[dict[str, Any]] = []

    def parse(self, on_event: Any = None, write_json: bool = True) -> None:
        return None

    def build(self, **arguments: Any) -> None:
        self.builds.append(arguments)


def test_a_plan_with_an_incremental_fact_is_proven_by_a_full_refresh(document: dict[str, Any]) -> None:
    from cartridge_bridge.progress import SilentProgress
    from cartridge_bridge.verify.prove import prove

    incremental, dbt = _fact(document), _RecordingDbt()
    prove(dbt, incremental, True, SilentProgress(), only=["fct_orders+"])  # type: ignore[arg-type]
    plain = _fact(document)
    for action in plain.actions:
        action.config.materialized, action.config.incremental = None, None
    prove(dbt, plain, True, SilentProgress())  # type: ignore[arg-type]
    assert [b["full_refresh"] for b in dbt.builds] == [True, False]
    assert dbt.builds[0]["select"] == ["fct_orders+"]  # a repair round's selection, rebuilt whole
