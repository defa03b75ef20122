"""schemas/plan.v3.schema.json: generated from the plan's model, committed as generated, and true of real plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from plan_payloads import edited
from support import REPO_ROOT
from test_plan_checks import action

from cartridge_bridge.api import write_plan
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.plan import PLAN_VERSION, ExecutionPlan
from cartridge_bridge.planning.plan_schema import SCHEMA_FILE, main, plan_json_schema, plan_schema_text
from cartridge_bridge.planning.rules.planner import plan_with_rules


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((REPO_ROOT / SCHEMA_FILE).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def rules_plan(context: ProjectContext) -> ExecutionPlan:
    return plan_with_rules(context)


def test_the_committed_schema_is_what_the_model_generates() -> None:
    committed = (REPO_ROOT / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == plan_schema_text(), (
        f"{SCHEMA_FILE} is stale: regenerate it with `python -m cartridge_bridge.planning.plan_schema`"
    )
    assert f"schemas/plan.v{PLAN_VERSION}.schema.json" == SCHEMA_FILE


def test_the_generator_is_deterministic_and_writes_where_it_is_told(tmp_path: Path) -> None:
    assert plan_schema_text() == plan_schema_text()
    assert main([str(tmp_path / "plan.schema.json")]) == 0
    assert (tmp_path / "plan.schema.json").read_text(encoding="utf-8") == plan_schema_text()
    schema = plan_json_schema()
    assert schema["$id"] == SCHEMA_FILE and schema["$schema"].endswith("/2020-12/schema")
    assert schema["properties"]["plan_version"]["enum"] == [2, 3]


def test_a_plan_file_cartridge_writes_validates(
    rules_plan: ExecutionPlan, validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    written = tmp_path / "plan.json"
    write_plan(rules_plan, written)  # what `cartridge plan --out` writes
    validator.validate(json.loads(written.read_text(encoding="utf-8")))


def test_window_columns_and_conditional_aggregates_validate(
    rules_plan: ExecutionPlan, validator: jsonschema.Draft202012Validator
) -> None:
    index = rules_plan.actions.index(action(rules_plan, "int_orders_aggregated_to_customers"))
    paid = {"name": "paid", "description": "", "aggregate": {"function": "count", "where": "status = 'paid'"}}
    ranked = {"name": "ranked", "description": "", "expression": "rank() over (order by count(*) desc)"}

    def add(document: dict[str, Any]) -> None:
        document["actions"][index]["spec"]["columns"] += [paid, ranked]

    validator.validate(edited(json.loads(rules_plan.model_dump_json()), add))


def _breaks(document: dict[str, Any], change: str) -> None:
    column = document["actions"][1]["spec"]["columns"][0]
    if change == "extra field":
        column["colour"] = "red"
    elif change == "unknown kind":
        document["actions"][1]["spec"]["kind"] = "snapshot"
    elif change == "unknown function":
        column["aggregate"] = {"function": "median", "column": "id", "where": "true"}
    elif change == "version":
        document["plan_version"] = 1


@pytest.mark.parametrize("change", ["extra field", "unknown kind", "unknown function", "version"])
def test_a_broken_plan_does_not_validate(
    rules_plan: ExecutionPlan, validator: jsonschema.Draft202012Validator, change: str
) -> None:
    document = json.loads(rules_plan.model_dump_json())
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(edited(document, lambda d: _breaks(d, change)))
