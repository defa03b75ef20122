"""Unit tests of cartridge_bridge.planning.checks: every problem of a plan, as data, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import PlanError, UsageError
from cartridge_bridge.planning.checks import plan_problems, validate_plan
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ExecutionPlan,
    JoinCondition,
    MartSpec,
    ModelTest,
    PlanAction,
    SourceSpec,
    StagingSpec,
)
from cartridge_bridge.planning.plan_file import read_plan_file
from cartridge_bridge.planning.problems import PlanProblem
from cartridge_bridge.planning.rules.planner import plan_with_rules


@pytest.fixture(scope="module")
def valid_plan(context: ProjectContext) -> ExecutionPlan:
    return plan_with_rules(context)


@pytest.fixture
def plan(valid_plan: ExecutionPlan) -> ExecutionPlan:
    """A deep copy each test may break as it likes."""
    return valid_plan.model_copy(deep=True)


def action(plan: ExecutionPlan, name: str) -> PlanAction:
    return next(a for a in plan.actions if a.name == name)


def found(plan: ExecutionPlan, context: ProjectContext) -> list[PlanProblem]:
    problems = plan_problems(plan, context)
    assert problems, "the plan should have been refused"
    return problems


def where(problems: list[PlanProblem]) -> set[tuple[str, str]]:
    return {(p.action, p.field) for p in problems}


def test_the_rules_plan_is_valid(valid_plan: ExecutionPlan, context: ProjectContext) -> None:
    assert context.existing_models == ["stg_legacy"]
    assert len(valid_plan.models()) > 5
    assert plan_problems(valid_plan, context) == []
    validate_plan(valid_plan, context)


def test_every_problem_is_reported_at_once(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "dim_products").file_path = "../outside/dim_products.sql"
    action(plan, "fct_orders").config.materialized = None
    action(plan, "fct_orders").dependencies = ["stg_shop__refunds"]
    staging = action(plan, "stg_shop__orders").spec
    assert isinstance(staging, StagingSpec)
    staging.columns[1].name = "Customer Id"
    with pytest.raises(PlanError) as caught:
        validate_plan(plan, context, "plan file p.json")
    problems = caught.value.problems
    assert where(problems) >= {
        ("dim_products", "file_path"),
        ("fct_orders", "dependencies"),
        ("stg_shop__orders", "spec.columns[Customer Id].name"),
    }
    message = str(caught.value)
    assert message.startswith(f"plan file p.json has {len(problems)} problems:\n  - ")
    assert len(message.splitlines()) == len(problems) + 1


def test_a_problem_says_what_would_be_right(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "fct_orders").dependencies = ["stg_legacy"]
    [problem] = [p for p in found(plan, context) if p.field == "dependencies" and "not what" in p.problem]
    assert problem.expected == "['stg_shop__orders', 'int_order_items_aggregated_to_orders']"
    assert problem.line().startswith("fct_orders: dependencies: ['stg_legacy'] is not what the spec selects")


def test_plan_for_another_project_and_adapter(plan: ExecutionPlan, context: ProjectContext) -> None:
    plan.project_name = "jaffle"
    plan.adapter_type = "snowflake"
    assert where(found(plan, context)) == {("(plan)", "project_name"), ("(plan)", "adapter_type")}


def test_plan_version_is_checked(plan: ExecutionPlan, context: ProjectContext) -> None:
    plan.plan_version = 99
    [problem] = found(plan, context)
    assert (problem.field, problem.problem) == ("plan_version", "version 99 is not supported")


def test_duplicate_and_existing_model_names(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "stg_shop__orders").name = "stg_shop__customers"
    action(plan, "dim_products").name = "stg_legacy"
    problems = found(plan, context)
    assert "the plan creates 'stg_shop__customers' twice" in [p.problem for p in problems]
    assert "model 'stg_legacy' already exists in the project" in [p.problem for p in problems]


@pytest.mark.parametrize(
    "name", ["Dim_Products", "dim-products", "dim products", "2dim", "dim_products;", "x" * 64]
)
def test_model_name_outside_the_grammar(plan: ExecutionPlan, context: ProjectContext, name: str) -> None:
    model = action(plan, "dim_products")
    model.name = name
    model.file_path = f"models/marts/{name}.sql"
    assert (name, "name") in where(found(plan, context)) or (name, "file_path") in where(found(plan, context))


def test_type_and_spec_kind_must_agree(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "dim_products").type = "create_staging"
    problems = [p for p in found(plan, context) if p.field == "spec.kind"]
    assert (
        problems[0].line()
        == "dim_products: spec.kind: create_staging carries a 'mart' spec (expected 'staging')"
    )


@pytest.mark.parametrize(
    "path",
    [
        "models/../analyses/dim_products.sql",
        "models/marts/../../dim_products.sql",
        "/tmp/models/dim_products.sql",
        "analyses/dim_products.sql",
        "dim_products.sql",
        "models_old/dim_products.sql",
        "models\\marts\\dim_products.sql",
        "models/marts/.hidden/dim_products.sql",
        "models/mar ts/dim_products.sql",
    ],
)
def test_file_path_outside_the_model_path(plan: ExecutionPlan, context: ProjectContext, path: str) -> None:
    action(plan, "dim_products").file_path = path
    assert ("dim_products", "file_path") in where(found(plan, context))


def test_symlink_out_of_the_model_path(plan: ExecutionPlan, context: ProjectContext, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (project / "models" / "marts").symlink_to(tmp_path / "elsewhere")
    moved = context.model_copy(update={"project_dir": str(project)})
    problems = found(plan, moved)
    assert any("through a symlink" in p.problem for p in problems if p.action == "dim_products")


@pytest.mark.parametrize(
    ("name", "field", "path", "complaint"),
    [
        ("fct_orders", "properties_path", "../_marts__models.yml", "is not inside"),
        ("shop", "file_path", "/etc/_shop__sources.yml", "is not inside"),
        ("stg_shop__orders", "file_path", "models/staging/shop/stg_shop__orders.py", "should end in .sql"),
        ("shop", "file_path", "models/staging/shop/_shop__sources.sql", "should end in .yml"),
        ("fct_orders", "properties_path", "models/marts/fct_orders.txt", "should end in .yml"),
    ],
)
def test_paths_and_suffixes(
    plan: ExecutionPlan, context: ProjectContext, name: str, field: str, path: str, complaint: str
) -> None:
    setattr(action(plan, name), field, path)
    problems = [p for p in found(plan, context) if (p.action, p.field) == (name, field)]
    assert complaint in problems[0].problem


def test_model_file_named_after_another_model(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "dim_products").file_path = "models/marts/fct_orders.sql"
    problems = found(plan, context)
    assert ("dim_products", "file_path") in where(problems)
    assert any("writes 'models/marts/fct_orders.sql' too" in p.problem for p in problems)


def test_dependencies_are_derived_not_trusted(plan: ExecutionPlan, context: ProjectContext) -> None:
    action(plan, "fct_orders").dependencies.append("stg_legacy")
    [problem] = found(plan, context)
    assert (problem.action, problem.field) == ("fct_orders", "dependencies")


def test_a_spec_reading_a_model_that_does_not_exist(plan: ExecutionPlan, context: ProjectContext) -> None:
    spec = action(plan, "int_orders_aggregated_to_customers").spec
    assert isinstance(spec, AggregateSpec)
    spec.from_model = "stg_shop__refunds"
    problems = found(plan, context)
    assert ("int_orders_aggregated_to_customers", "spec.from_model") in where(problems)
    assert any("'stg_shop__refunds' is neither planned nor in the project" in p.problem for p in problems)


def test_a_staging_model_of_an_undeclared_source_table(plan: ExecutionPlan, context: ProjectContext) -> None:
    spec = action(plan, "stg_shop__orders").spec
    assert isinstance(spec, StagingSpec)
    spec.table = "refunds"
    assert ("stg_shop__orders", "spec.table") in where(found(plan, context))


def test_cycle(plan: ExecutionPlan, context: ProjectContext) -> None:
    customers = action(plan, "dim_customers")
    orders = action(plan, "int_orders_aggregated_to_customers")
    assert isinstance(orders.spec, AggregateSpec)
    orders.spec.from_model = "dim_customers"
    orders.dependencies = ["dim_customers"]
    problems = [p for p in found(plan, context) if "cycle" in p.problem]
    assert {"dim_customers", "int_orders_aggregated_to_customers"} <= set(
        problems[0].problem.split(": ", 1)[1].split(" → ")
    )
    assert customers.name == "dim_customers"


def test_columns_a_spec_reads_must_exist(plan: ExecutionPlan, context: ProjectContext) -> None:
    mart = action(plan, "dim_customers").spec
    assert isinstance(mart, MartSpec)
    mart.columns[1].expression = "customers.no_such_column"
    mart.joins[0].on = [JoinCondition(left_alias="customers", left_column="customer_id", right_column="nope")]
    mart.grain = ["customer_key"]
    problems = found(plan, context)
    assert where(problems) >= {
        ("dim_customers", f"spec.columns[{mart.columns[1].name}].expression"),
        ("dim_customers", "spec.joins[0].on.right_column"),
        ("dim_customers", "spec.grain"),
    }


def test_join_on_an_alias_that_is_not_in_scope(plan: ExecutionPlan, context: ProjectContext) -> None:
    mart = action(plan, "dim_customers").spec
    assert isinstance(mart, MartSpec)
    mart.joins[0].on[0].left_alias = "payments"
    assert ("dim_customers", "spec.joins[0].on.left_alias") in where(found(plan, context))


def test_relationships_to_a_model_that_does_not_exist(plan: ExecutionPlan, context: ProjectContext) -> None:
    staging = action(plan, "stg_shop__orders").spec
    assert isinstance(staging, StagingSpec)
    test = next(t for c in staging.columns for t in c.tests if t.name == "relationships")
    test.to = "stg_shop__clients"
    assert any(p.field.endswith(".to") for p in found(plan, context))


def test_model_tests_read_real_columns(plan: ExecutionPlan, context: ProjectContext) -> None:
    model = action(plan, "fct_order_items")
    model.tests = [
        ModelTest(name="unique_combination_of_columns", columns=["order_id", "product_id"]),
        ModelTest(name="expression_is_true", expression="quantity > 0"),
    ]
    assert plan_problems(plan, context) == []
    model.tests[0].columns = ["order_id", "line"]
    model.tests[1].expression = "quantity > (select 0)"
    assert where(found(plan, context)) == {
        ("fct_order_items", "tests[0].columns"),
        ("fct_order_items", "tests[1].expression"),
    }


def test_a_source_declared_twice_in_the_project(plan: ExecutionPlan, context: ProjectContext) -> None:
    source = action(plan, "shop").spec
    assert isinstance(source, SourceSpec)
    source.source_name = "legacy"
    source.tables[0].name = "payments"
    plan.actions[0].name = "legacy"
    assert any("already declared" in p.problem for p in found(plan, context))


def write_json(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_plan_file_of_another_version_is_refused_before_anything_else(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="plan_version: version 99 is not supported"):
        read_plan_file(write_json(tmp_path, {"plan_version": 99, "actions": "nonsense"}))


def test_a_version_2_plan_file_still_reads_and_becomes_version_3(
    valid_plan: ExecutionPlan, context: ProjectContext, tmp_path: Path
) -> None:
    document = json.loads(valid_plan.model_dump_json())
    document["plan_version"] = 2
    plan = read_plan_file(write_json(tmp_path, document))
    assert plan.plan_version == 3
    assert plan.actions == valid_plan.actions
    assert plan_problems(plan, context) == []


def test_a_plan_file_lists_every_field_problem(valid_plan: ExecutionPlan, tmp_path: Path) -> None:
    document = json.loads(valid_plan.model_dump_json())
    document["actions"][1]["config"]["materialized"] = "view') }}{{ run_query('drop schema raw cascade') }}"
    document["actions"][2]["surprise"] = True
    document["strategy"] = "sideways"
    with pytest.raises(PlanError) as caught:
        read_plan_file(write_json(tmp_path, document))
    problems = caught.value.problems
    names = [a["name"] for a in document["actions"]]
    assert where(problems) == {
        (names[1], "config.materialized"),
        (names[2], "surprise"),
        ("(plan)", "strategy"),
    }
    assert caught.value.exit_code == 2


def test_a_plan_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(UsageError, match="is not JSON"):
        read_plan_file(path)


def test_an_alias_the_parser_reads_as_a_statement_keyword_is_named() -> None:
    """`comment.user_id = …` parses as a COMMENT statement: the problem says which word, so a model can fix it."""
    from cartridge_bridge.sql.sql_fragments import expression_problem

    problem = expression_problem("comment.user_id = ticket.requester_id", "postgres")
    assert problem is not None and "`comment` is a SQL keyword" in problem
