"""Injection in every field of a plan: refused with the action and field named, or written as inert data.

Each string in a valid rules plan is replaced, one at a time, by a hostile payload. The plan must then
either be refused (by the plan file reader or the checks) with a problem naming that action and field,
or render into files in which the payload is inert: the SQL compiles (with dbt's functions stubbed) to
exactly one SELECT that reads only its declared inputs, and every YAML string renders as plain text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jinja2
import jinja2.meta
import pytest
import sqlglot
from history_plan import shop_history_actions
from plan_payloads import shop_union_action
from sqlglot import exp

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import PlanError
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import ExecutionPlan
from cartridge_bridge.planning.plan_file import parse_plan
from cartridge_bridge.planning.rules.planner import RulesPlanner, plan_with_rules
from cartridge_bridge.render.plan_files import RenderedFile, render_plan

PAYLOADS = [
    "view') }}{{ run_query('drop schema raw cascade') }}{{ config(x='",
    "first_name, (select string_agg(rolname, ',') from pg_roles) as leak",
    "x'; drop table raw.orders; --",
    'a" ; drop table raw.orders; --',
    "}}",
    "{% do run_query('select 1') %}",
    "{# hidden #}",
    "line\nbreak",
    "a /* comment */ b",
    "`tick`",
]
# Strings the renderer never writes (what the plan says about itself) or that pydantic types as literals.
_NOT_RENDERED = {"planner", "skipped"}
_DBT_FUNCTIONS = {"ref", "source", "config", "dbt", "cartridge", "is_incremental", "this"}


def string_leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a string in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from string_leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from string_leaves(value, (*path, index))
    elif isinstance(node, str):
        yield path


def set_at(document: Any, path: tuple[Any, ...], value: str) -> None:
    for part in path[:-1]:
        document = document[part]
    document[path[-1]] = value


@pytest.fixture(scope="module")
def plan_document(context: ProjectContext) -> dict[str, Any]:
    return json.loads(plan_with_rules(context).model_dump_json())


def leaf_cases(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One path per distinct field shape (the first table, column and test of each kind), to keep the run short."""
    seen: set[tuple[Any, ...]] = set()
    cases = []
    for path in string_leaves(document):
        if path[0] in _NOT_RENDERED:
            continue
        shape = (
            document["actions"][path[1]]["type"] if path[0] == "actions" else "",
            *(p if isinstance(p, str) else "#" for p in path[2:]),
        )
        if shape not in seen:
            seen.add(shape)
            cases.append(path)
    return cases


def compiled(sql: str) -> tuple[str, set[str]]:
    """The SQL as dbt would compile it (ref, source and config stubbed) and the other names it would call."""
    env = jinja2.Environment()
    called = jinja2.meta.find_undeclared_variables(env.parse(sql)) - _DBT_FUNCTIONS
    stubs = {
        "ref": lambda name: f"analytics.{name}",
        "source": lambda source, table: f"raw_{source}.{table}",
        "config": lambda **_: "",
        "is_incremental": lambda: False,  # the first build: an incremental fact's filter is tested on its own
        # the time spine's days: dbt's date_spine selects `date_day` between two date expressions
        "dbt": type("Dbt", (), {"date_spine": staticmethod(lambda _, a, b: f"select {a} as date_day")}),
        # a periodic snapshot's periods: the package's period_spine over the bounds CTE, whatever the period
        "cartridge": type(
            "Cartridge", (), {"period_spine": staticmethod(lambda *_: "select current_date as p")}
        ),
    }
    return env.from_string(sql).render(**stubs), called


def assert_inert(files: list[RenderedFile], payload: str) -> None:
    for file in files:
        if file.kind == "sql":
            text, called = compiled(file.text)
            assert not called, f"{file.path} calls {called}"
            statements = sqlglot.parse(text, read="postgres")
            assert len(statements) == 1 and isinstance(statements[0], exp.Select), file.path
            tables = {t.sql() for t in statements[0].find_all(exp.Table)}
            ctes = {c.alias for c in statements[0].find_all(exp.CTE)}
            assert {t for t in tables if t not in ctes} <= {
                t for t in tables if t.startswith(("analytics.", "raw_"))
            }, f"{file.path} reads {tables}"
            assert not list(statements[0].find_all(exp.Subquery)), file.path
        else:
            for entry in file.models + file.sources + file.semantic_models + file.metrics:
                for text in string_leaves(entry):
                    value = entry
                    for part in text:
                        value = value[part]
                    if "{" not in value:  # every Jinja delimiter opens with `{`: plain text whatever dbt does
                        continue
                    env = jinja2.Environment()
                    assert not jinja2.meta.find_undeclared_variables(env.parse(value)), (file.path, value)
                    env.from_string(value).render()  # renders as plain text


def outcome(document: dict[str, Any], path: tuple[Any, ...], payload: str, context: ProjectContext) -> str:
    """`refused` when the reader or the checks refuse the payload at `path`, `inert` when it renders inert."""
    document = json.loads(json.dumps(document))
    if path:
        set_at(document, path, payload)
    try:
        plan = parse_plan(document)
    except PlanError as error:
        assert error.problems, (path, payload)
        return "refused"
    if plan_problems(plan, context):
        # Named in this action or in the one that reads it (a renamed source column fails its staging).
        return "refused"
    assert_inert(render_plan(plan), payload)
    return "inert"


def test_every_field_refuses_or_neutralizes_every_payload(
    plan_document: dict[str, Any], context: ProjectContext
) -> None:
    outcomes = {"refused": 0, "inert": 0}
    for path in leaf_cases(plan_document):
        # Five payloads cover the kinds (Jinja, SQL, quotes, statements, newlines); FIELD_CASES run all ten.
        for payload in PAYLOADS[0:2] + PAYLOADS[3:4] + PAYLOADS[5:6] + PAYLOADS[7:8]:
            outcomes[outcome(plan_document, path, payload, context)] += 1
    # Both outcomes happen: names and SQL are refused, descriptions and warehouse names are neutralized.
    assert outcomes["refused"] > 50 and outcomes["inert"] > 10, outcomes


def test_every_semantic_layer_field_refuses_or_neutralizes_every_payload(context: ProjectContext) -> None:
    """The marts' semantic models, their metrics and the time spine, with every payload in every field."""
    described = context.model_copy(update={"semantic_models": True})
    document = json.loads(plan_with_rules(described).model_dump_json())
    paths = [
        p
        for p in leaf_cases(document)
        if p[0] == "actions"
        and ("semantic_model" in p or document["actions"][p[1]]["type"] == "create_time_spine")
    ]
    assert sum("semantic_model" in p for p in paths) >= 10, paths
    outcomes = {"refused": 0, "inert": 0}
    for path in paths:
        for payload in PAYLOADS:
            outcomes[outcome(document, path, payload, described)] += 1
    # Names, columns and expressions are refused; descriptions and labels (but a line break's) written inert.
    assert outcomes["refused"] > 60 and outcomes["inert"] > 10, outcomes


FIELD_CASES = [
    ("stg_shop__orders", ("config", "materialized")),
    ("stg_shop__orders", ("spec", "columns", 1, "name")),
    ("stg_shop__orders", ("spec", "columns", 1, "cast_to")),
    ("stg_shop__orders", ("spec", "source_name")),
    ("stg_shop__orders", ("spec", "table")),
    ("stg_shop__orders", ("spec", "grain", 0)),
    ("int_orders_aggregated_to_customers", ("spec", "group_by", 0)),
    ("int_orders_aggregated_to_customers", ("spec", "columns", 1, "expression")),
    ("int_orders_aggregated_to_customers", ("spec", "from_model")),
    ("dim_customers", ("spec", "base_alias")),
    ("dim_customers", ("spec", "joins", 0, "alias")),
    ("dim_customers", ("spec", "joins", 0, "on", 0, "left_column")),
    ("dim_customers", ("spec", "joins", 0, "on", 0, "right_column")),
    ("dim_customers", ("spec", "columns", 0, "tests", 0, "name")),
    ("stg_shop__orders", ("spec", "columns", 1, "tests", 0, "to")),  # foreign keys are tested in staging
    ("stg_shop__orders", ("spec", "columns", 1, "tests", 0, "field")),
    ("fct_orders", ("file_path",)),
    ("fct_orders", ("properties_path",)),
    ("shop", ("spec", "source_name")),
    ("shop", ("spec", "tables", 0, "name")),
]


@pytest.mark.parametrize(("name", "path"), FIELD_CASES)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_problem_names_the_action_and_field(
    plan_document: dict[str, Any], context: ProjectContext, name: str, path: tuple[Any, ...], payload: str
) -> None:
    document = json.loads(json.dumps(plan_document))
    index = next(i for i, a in enumerate(document["actions"]) if a["name"] == name)
    set_at(document["actions"][index], path, payload)
    try:
        problems = plan_problems(parse_plan(document), context)
    except PlanError as error:
        problems = error.problems
    assert problems
    mine = [p for p in problems if p.action == name]
    field_words = [str(p) for p in path if isinstance(p, str)]
    assert any(field_words[-1] in p.field or field_words[0] in p.field for p in mine), problems


def test_the_issue_examples_are_refused(plan_document: dict[str, Any], context: ProjectContext) -> None:
    document = json.loads(json.dumps(plan_document))
    staging = next(a for a in document["actions"] if a["name"] == "stg_shop__customers")
    staging["config"]["materialized"] = PAYLOADS[0]
    staging["spec"]["columns"][1] = {
        "name": "email",
        "expression": PAYLOADS[1],
        "description": "d",
    }
    document["plan_version"] = 2
    with pytest.raises(PlanError) as caught:
        problems = plan_problems(parse_plan(document), context)
        raise AssertionError(problems)
    assert ("stg_shop__customers", "config.materialized") in {
        (p.action, p.field) for p in caught.value.problems
    }
    staging["config"]["materialized"] = "view"
    problems = plan_problems(parse_plan(document), context)
    assert [(p.action, p.field) for p in problems] == [
        ("stg_shop__customers", "spec.columns[email].expression")
    ]
    assert isinstance(parse_plan(document), ExecutionPlan)


def test_window_columns_and_conditional_aggregates_refuse_every_payload(
    plan_document: dict[str, Any], context: ProjectContext
) -> None:
    """Plan version 3's fields: a conditional aggregate's function, column and condition, and a window's clause."""
    document = json.loads(json.dumps(plan_document))
    index = {a["name"]: i for i, a in enumerate(document["actions"])}
    aggregate = {"function": "count", "column": "order_id", "where": "status = 'paid'"}
    document["actions"][index["int_orders_aggregated_to_customers"]]["spec"]["columns"].append(
        {"name": "paid_orders", "description": "", "aggregate": aggregate}
    )
    window = "sum(orders.order_id) over (partition by orders.customer_id order by orders.ordered_at)"
    document["actions"][index["fct_orders"]]["spec"]["columns"].append(
        {"name": "running", "description": "", "expression": window}
    )
    assert not plan_problems(parse_plan(document), context)  # the plan with both is valid as it is
    columns = ("actions", index["int_orders_aggregated_to_customers"], "spec", "columns", -1, "aggregate")
    paths = [(*columns, field) for field in ("function", "column", "where")]
    paths.append(("actions", index["fct_orders"], "spec", "columns", -1, "expression"))
    # The payloads in a window's clause too: inside `over (…)`, and after it.
    clauses = [f"sum(orders.order_id) over (order by {p})" for p in PAYLOADS] + [
        f"{window} {p}" for p in PAYLOADS
    ]
    for path in paths:
        for payload in PAYLOADS + (clauses if path[-1] == "expression" else []):
            assert outcome(document, path, payload, context) == "refused", (path, payload)


def test_every_union_field_refuses_or_neutralizes_every_payload(
    plan_document: dict[str, Any], context: ProjectContext
) -> None:
    """A union's mappings, labels, declared types, source column and inputs, with every payload in every field,
    and a payload as the output column a mapping names."""
    document = {**plan_document, "actions": [*plan_document["actions"], shop_union_action()]}
    assert outcome(document, ("project_name",), "shop", context) == "inert"  # the union as written is fine
    index = len(document["actions"]) - 1
    paths = [p for p in string_leaves(document) if p[:2] == ("actions", index) and p[2] == "spec"]
    assert len(paths) >= 30, paths
    outcomes = {"refused": 0, "inert": 0}
    for path in paths:
        for payload in PAYLOADS:
            outcomes[outcome(document, path, payload, context)] += 1
    # Every SQL-bound field refuses (names, types, mappings, labels); only descriptions are written, inert.
    assert outcomes["refused"] > 250 and outcomes["inert"] >= 7 * 8, outcomes
    for payload in PAYLOADS:
        keyed = json.loads(json.dumps(document))
        keyed["actions"][index]["spec"]["inputs"][0]["columns"][payload] = "1"
        assert plan_problems(parse_plan(keyed), context), payload


def test_every_history_field_refuses_or_neutralizes_every_payload(
    plan_document: dict[str, Any], context: ProjectContext
) -> None:
    """A type-2 history and its current state: a payload of each kind in each of their fields (the loader's end too)."""
    document = json.loads(json.dumps(plan_document))
    first = len(document["actions"])
    document["actions"] += shop_history_actions()
    paths = [p for p in string_leaves(document) if p[0] == "actions" and p[1] >= first]
    paths.append(("actions", first, "spec", "valid_to"))
    outcomes = {"refused": 0, "inert": 0}
    for path in paths:
        for payload in PAYLOADS[0:2] + PAYLOADS[3:4] + PAYLOADS[5:6] + PAYLOADS[7:8]:
            result = outcome(document, path, payload, context)
            # Names, columns and expressions are refused; only descriptions may be written, inert.
            assert result == "refused" or path[-1] == "description", (path, payload)
            outcomes[result] += 1
    assert outcomes["refused"] > 150 and outcomes["inert"] > 5, outcomes


def _incremental_fact(document: dict[str, Any]) -> dict[str, Any]:
    """The rules plan's `fct_orders`, made incremental on its first column selected as it is from its base."""
    fact = next(a for a in document["actions"] if a["name"] == "fct_orders")
    alias = fact["spec"]["base_alias"]
    column = next(c["name"] for c in fact["spec"]["columns"] if c["expression"] == f"{alias}.{c['name']}")
    fact["config"] |= {"materialized": "incremental", "unique_key": fact["spec"]["grain"]}
    fact["config"]["incremental"] = {"column": column, "lookback_days": 0, "on_schema_change": "fail"}
    return fact


INCREMENTAL_FIELDS = [
    ("incremental", "column"),
    ("incremental", "on_schema_change"),
    ("incremental", "lookback_days"),
    ("unique_key", 0),
]


@pytest.mark.parametrize("field", INCREMENTAL_FIELDS)
def test_every_incremental_field_refuses_every_payload(
    context: ProjectContext, field: tuple[Any, ...]
) -> None:
    # Without the orders' numbers per customer: windows, which an incremental fact cannot compute.
    document = json.loads(plan_with_rules(context, RulesPlanner(owner_sequences=False)).model_dump_json())
    _incremental_fact(document)
    assert outcome(document, (), "", context) == "inert"  # the plan as made incremental renders and compiles
    index = next(i for i, a in enumerate(document["actions"]) if a["name"] == "fct_orders")
    for payload in PAYLOADS:
        assert outcome(document, ("actions", index, "config", *field), payload, context) == "refused", payload
