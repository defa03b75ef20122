"""Issue 15, cases 1–4, 14, 15: no name or value from a plan runs as SQL, and odd raw names never take a run down.

A plan may only name raw relations and columns the warehouse facts of the run hold; names dbt would quote
without escaping (a `"`, a backtick on Spark) are refused or left out; values that dbt pastes between quotes
(`accepted_values`) are escaped for the adapter. The SQL dbt makes of a test is rendered here with dbt's own
generic test macros, so what is asserted is what dbt would send.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jinja2
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp
from support import shop_project

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.errors import UsageError
from cartridge_bridge.gather.facts import RawColumn, RawRelation, WarehouseFacts
from cartridge_bridge.gather.manifest import Manifest
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import DataTest, ExecutionPlan, SourceSpec, StagingSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import render_plan

MARKER = "commit; create table marker (i int); commit;"
DIALECTS = {"postgres": "postgres", "duckdb": "duckdb", "spark": "spark"}


def dbt_generic_test(name: str) -> jinja2.Template:
    """dbt's own SQL macro for a generic test (`default__test_<name>`), as a template."""
    import dbt.include.global_project as global_project

    folder = Path(global_project.__file__).parent / "macros" / "generic_test_sql"
    source = (folder / f"{name}.sql").read_text(encoding="utf-8")
    macro = jinja2.Environment().from_string(source).module
    return getattr(macro, f"default__test_{name}")


def statements(sql: str, adapter: str) -> list[exp.Expr]:
    """The statements sqlglot reads in `sql`, in the adapter's dialect."""
    return [s for s in sqlglot.parse(sql, read=DIALECTS[adapter]) if s is not None]


def _staging(plan: ExecutionPlan, name: str) -> StagingSpec:
    spec = next(a.spec for a in plan.actions if a.name == name)
    assert isinstance(spec, StagingSpec)
    return spec


def _source(plan: ExecutionPlan) -> SourceSpec:
    spec = next(a.spec for a in plan.actions if isinstance(a.spec, SourceSpec))
    assert isinstance(spec, SourceSpec)
    return spec


def _context_for(adapter: str, facts: WarehouseFacts, manifest: Manifest, tmp: Path) -> ProjectContext:
    return build_context(
        shop_project(tmp), manifest, facts.model_copy(update={"adapter_type": adapter}), Conventions()
    )


@pytest.mark.parametrize(
    ("adapter", "payload"),
    [
        ("postgres", f"x')) t; {MARKER} select ('x"),
        ("duckdb", f"x')) t; {MARKER} select ('x"),
        ("spark", f"x\\')) t; {MARKER} select ('x"),
        ("spark", f"x')) t; {MARKER} select ('x"),
    ],
)
def test_case_1_an_accepted_value_stays_one_string_literal(
    adapter: str, payload: str, facts: WarehouseFacts, manifest: Manifest, tmp_path: Path
) -> None:
    context = _context_for(adapter, facts, manifest, tmp_path)
    plan = plan_with_rules(context)
    status = next(c for c in _staging(plan, "stg_shop__orders").columns if c.name == "status")
    values = ["placed", "it's", "back\\slash", payload]
    status.tests.append(DataTest(name="accepted_values", values=values))
    assert plan_problems(plan, context) == []
    [models_yml] = [f for f in render_plan(plan) if f.path.endswith("_shop__models.yml")]
    entry = next(m for m in models_yml.models if m["name"] == "stg_shop__orders")
    column = next(c for c in entry["columns"] if c["name"] == "status")
    [test] = [t for t in column["data_tests"] if isinstance(t, dict) and "accepted_values" in t]
    arguments = test["accepted_values"]["arguments"]
    sql = dbt_generic_test("accepted_values")("analytics.stg", "status", **arguments)
    [statement] = statements(sql, adapter)
    literals = {lit.this for lit in statement.find_all(exp.Literal) if lit.is_string}
    assert literals == set(values)


def test_case_2_a_source_identifier_must_be_a_relation_of_the_facts(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    _source(plan).tables[0].identifier = f'customers" ; {MARKER} select * from "customers'
    problems = plan_problems(plan, context)
    assert {(p.action, p.field) for p in problems} == {("shop", "spec.tables[customers].identifier")}, (
        problems
    )


def test_case_3_a_source_schema_must_be_one_the_run_gathered(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    _source(plan).schema_name = f'raw_shop"."customers"; {MARKER} select * from "raw_shop'
    problems = plan_problems(plan, context)
    assert ("shop", "spec.schema_name") in {(p.action, p.field) for p in problems}, problems


def test_a_source_database_must_be_the_gathered_one(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    _source(plan).database = 'other"; drop schema raw_shop cascade; --'
    problems = plan_problems(plan, context)
    assert ("shop", "spec.database") in {(p.action, p.field) for p in problems}, problems


def test_case_4_a_source_column_must_be_real_and_tested_only_when_plain(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    table = _source(plan).tables[0]
    payload = f"1 as a) t; {MARKER} select count(*) from (select '"
    invented = table.columns[0].model_copy(update={"name": payload, "tests": [DataTest(name="not_null")]})
    table.columns.append(invented)
    camel = next(c for c in table.columns if c.name == "createdAt")
    camel.tests = [DataTest(name="not_null")]
    problems = {(p.action, p.field) for p in plan_problems(plan, context)}
    assert ("shop", "spec.tables[customers].columns.name") in problems, problems
    assert ("shop", "spec.tables[customers].columns[createdAt].tests[0]") in problems, problems


def _facts_with(facts: WarehouseFacts, *extra: RawRelation, schema: str = "raw_shop") -> WarehouseFacts:
    relations = [r.model_copy(update={"schema_": schema}) for r in [*facts.relations, *extra]]
    return facts.model_copy(update={"schemas": [schema], "relations": relations})


def _relation(identifier: str, schema: str = "raw_shop") -> RawRelation:
    return RawRelation.model_validate(
        {
            "schema": schema,
            "identifier": identifier,
            "columns": [
                RawColumn(name="id", data_type="integer", position=1),
                RawColumn(name='odd"name', data_type="text", position=2),
            ],
        }
    )


@pytest.mark.parametrize(
    ("adapter", "identifier"), [("postgres", 't"x'), ("duckdb", 't"x'), ("spark", "t`x")]
)
def test_case_14_a_table_dbt_cannot_quote_is_skipped_with_its_reason(
    adapter: str, identifier: str, facts: WarehouseFacts, manifest: Manifest, tmp_path: Path
) -> None:
    context = _context_for(adapter, _facts_with(facts, _relation(identifier)), manifest, tmp_path)
    plan = plan_with_rules(context)
    assert plan_problems(plan, context) == []
    assert identifier not in {t.identifier for t in _source(plan).tables}
    assert any(s.startswith(f"raw_shop.{identifier}: ") and "quote" in s for s in plan.skipped), plan.skipped
    # The other tables are still planned.
    assert "stg_shop__orders" in {a.name for a in plan.models()}


def test_case_14_a_column_dbt_cannot_quote_is_staged_by_cartridge_but_never_tested(
    facts: WarehouseFacts, manifest: Manifest, tmp_path: Path
) -> None:
    context = _context_for("postgres", _facts_with(facts, _relation("things")), manifest, tmp_path)
    plan = plan_with_rules(context)
    assert plan_problems(plan, context) == []
    staging = next(a for a in plan.models() if a.name == "stg_shop__things")
    sql = next(f.text for f in render_plan(plan) if f.path == staging.file_path)
    assert '"odd""name"' in sql
    things = next(t for t in _source(plan).tables if t.identifier == "things")
    assert all(not c.tests for c in things.columns)


def test_case_15_a_configured_source_name_does_not_capture_another_schema(
    facts: WarehouseFacts, manifest: Manifest, tmp_path: Path
) -> None:
    spaced = _facts_with(facts, schema="Raw Spaced")
    with pytest.raises(UsageError) as raised:
        build_context(shop_project(tmp_path), manifest, spaced, Conventions(), source_name="legacy")
    message = str(raised.value)
    assert (
        "\n" not in message and "'legacy'" in message and "'Raw Spaced'" in message and "RAW_SHOP" in message
    )


def test_case_15_a_plan_cannot_add_tables_of_another_schema_to_an_existing_source(
    facts: WarehouseFacts, manifest: Manifest, tmp_path: Path
) -> None:
    context = _context_for("postgres", _facts_with(facts, schema="Raw Spaced"), manifest, tmp_path)
    plan = plan_with_rules(context)
    document: dict[str, Any] = json.loads(plan.model_dump_json())
    for action in document["actions"]:
        if action["type"] == "create_source":
            action["name"] = action["spec"]["source_name"] = "legacy"
        elif action["type"] == "create_staging":
            action["spec"]["source_name"] = "legacy"
            action["dependencies"] = [f"legacy.{action['spec']['table']}"]
    problems = plan_problems(ExecutionPlan.model_validate(document), context)
    assert ("legacy", "spec.source_name") in {(p.action, p.field) for p in problems}, problems


# The class of the payloads: close a quote of any kind, end the statement, run one, reopen.
_BREAKOUTS = st.sampled_from(["'", '"', "`", "\\", "\\'", "''", ")", "))", ";", "--", "/*", "{{", "\n"])
# A final newline is left out: Jinja drops a template's last newline, which changes the text, not its escaping.
PAYLOADS = (
    st.lists(st.one_of(_BREAKOUTS, st.sampled_from([MARKER, "x", " "])), min_size=1, max_size=6)
    .map("".join)
    .filter(lambda payload: not payload.endswith("\n"))
)
_SOURCE_FIELDS = ("identifier", "schema_name", "database", "column", "accepted_value", "tested_column")


def _inject(plan: ExecutionPlan, field: str, payload: str) -> None:
    """Put `payload` in one field of the plan that reaches SQL: a source name, a tested column, a test value."""
    source = _source(plan)
    table = source.tables[0]
    if field == "identifier":
        table.identifier = payload
    elif field == "schema_name":
        source.schema_name = payload
    elif field == "database":
        source.database = payload
    elif field in ("column", "tested_column"):
        tests = [DataTest(name="not_null")] if field == "tested_column" else []
        table.columns.append(table.columns[0].model_copy(update={"name": payload, "tests": tests}))
    else:
        column = _staging(plan, "stg_shop__orders").columns[0]
        column.tests.append(DataTest(name="accepted_values", values=["a", payload]))


def _test_sql(adapter: str, name: str, column: str, arguments: dict[str, Any]) -> str:
    return dbt_generic_test(name)(f"{DIALECT_QUOTE[adapter]}t{DIALECT_QUOTE[adapter]}", column, **arguments)


DIALECT_QUOTE = {"postgres": '"', "duckdb": '"', "spark": "`"}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(adapter=st.sampled_from(sorted(DIALECTS)), field=st.sampled_from(_SOURCE_FIELDS), payload=PAYLOADS)
def test_a_payload_in_a_source_or_test_field_is_refused_or_one_statement(
    contexts: dict[str, ProjectContext], adapter: str, field: str, payload: str
) -> None:
    context = contexts[adapter]
    plan = plan_with_rules(context)
    _inject(plan, field, payload)
    if plan_problems(plan, context):
        return
    sources = [s for f in render_plan(plan) for s in f.sources]
    models = [m for f in render_plan(plan) for m in f.models]
    mark = DIALECT_QUOTE[adapter]
    for source in sources:  # source(): dbt wraps each name in the quote mark, escaping nothing
        for table in source["tables"]:
            parts = [source.get("database", "db"), source["schema"], table.get("identifier", table["name"])]
            relation = ".".join(f"{mark}{jinja_text(p)}{mark}" for p in parts)
            assert len(statements(f"select * from {relation}", adapter)) == 1
            for column in table.get("columns", []):
                for test in column.get("data_tests", []):
                    name = test if isinstance(test, str) else next(iter(test))
                    [one] = statements(_test_sql(adapter, name, jinja_text(column["name"]), {}), adapter)
    for model in models:
        for column in model.get("columns", []):
            for test in column.get("data_tests", []):
                if isinstance(test, dict) and "accepted_values" in test:
                    values = [jinja_text(v) for v in test["accepted_values"]["arguments"]["values"]]
                    sql = _test_sql(adapter, "accepted_values", column["name"], {"values": values})
                    [one] = statements(sql, adapter)
                    assert payload in {lit.this for lit in one.find_all(exp.Literal) if lit.is_string}


def jinja_text(text: str) -> str:
    """What dbt's Jinja makes of a YAML string."""
    return jinja2.Environment().from_string(text).render()


@pytest.fixture(scope="module")
def contexts(
    facts: WarehouseFacts, manifest: Manifest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ProjectContext]:
    return {a: _context_for(a, facts, manifest, tmp_path_factory.mktemp(a)) for a in DIALECTS}


@functools.cache
def _spark_adapter_macros() -> tuple[Any, dict[str, str]]:
    """dbt-spark's adapter macros, compiled once, and the `model` they read (its description set per call)."""
    import dbt.include.spark as spark_include

    source = (Path(spark_include.__path__[0]) / "macros" / "adapters.sql").read_text(encoding="utf-8")
    environment = jinja2.Environment(extensions=["jinja2.ext.do"])
    described = {"description": ""}
    context = {
        "adapter": type("Quoting", (), {"quote": staticmethod(lambda name: f"`{name}`")})(),
        "config": {"persist_docs": {"relation": True, "columns": True}},
        "model": described,
    }
    return environment.from_string(source, globals=context).module, described


def dbt_spark_comments(model: dict[str, Any], column: dict[str, Any]) -> str:
    """The view dbt-spark creates for `model` when it persists docs: its comment and `column`'s, from its macros."""
    macros, described = _spark_adapter_macros()
    described["description"] = jinja_text(model["description"])
    name = column["name"]
    clause = macros.get_column_comment_sql(name, {name: {"description": jinja_text(column["description"])}})
    return f"create or replace view v ({clause}) {macros.spark__comment_clause()} as select 1 as {name}"


@pytest.fixture(scope="module")
def spark_plan(contexts: dict[str, ProjectContext]) -> str:
    """The rules planner's plan on Spark, planned once: each example edits a fresh copy."""
    return plan_with_rules(contexts["spark"]).model_dump_json()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=PAYLOADS)
def test_a_payload_in_a_description_stays_one_comment_in_dbt_sparks_persisted_docs(
    contexts: dict[str, ProjectContext], spark_plan: str, payload: str
) -> None:
    plan = ExecutionPlan.model_validate_json(spark_plan)
    staging = next(a for a in plan.actions if a.name == "stg_shop__orders")
    staging.description = payload
    column = _staging(plan, "stg_shop__orders").columns[0]
    column.description = payload
    assert plan_problems(plan, contexts["spark"]) == []
    model = next(m for f in render_plan(plan) for m in f.models if m["name"] == staging.name)
    rendered = next(c for c in model["columns"] if c["name"] == column.name)
    [view] = statements(dbt_spark_comments(model, rendered), "spark")
    comments = [lit.this for lit in view.find_all(exp.Literal) if lit.is_string]
    assert comments == [payload, payload]
