"""The rules repairer relaxes only data tests cartridge wrote that failed on today's data; it names everything else."""

from __future__ import annotations

from dataclasses import replace

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.plan import ExecutionPlan, ModelTest, StagingSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.verify.failures import BuildFailure
from cartridge_bridge.verify.repair import RelaxFailingTests


def failing_test(model: str, column: str, test: str = "unique", rows: int = 2) -> BuildFailure:
    return BuildFailure(
        unique_id=f"test.shop.{test}_{model}_{column}", name=f"{test}_{model}_{column}", resource_type="test",
        status="fail", file_path="models/staging/shop/_shop__models.yml", compiled_sql="select 1",
        message=f"Got {rows} results, configured to fail if != 0", failing_rows=rows,
        tested_model=model, tested_column=column, test_name=test,
    )  # fmt: skip


def model_error(model: str) -> BuildFailure:
    return BuildFailure(
        unique_id=f"model.shop.{model}", name=model, resource_type="model", status="error",
        file_path=f"models/staging/shop/{model}.sql", compiled_sql=None,
        message=f"Database Error in model {model} (models/staging/shop/{model}.sql)\n  division by zero\n",
    )  # fmt: skip


def _test_on(plan: ExecutionPlan, model: str, column: str, test: str) -> tuple[str, str | None]:
    action = next(a for a in plan.actions if a.name == model)
    assert isinstance(action.spec, StagingSpec)
    key = next(c for c in action.spec.columns if c.name == column)
    found = next(t for t in key.tests if t.name == test)
    return found.severity, found.note


def test_a_failing_key_test_becomes_a_warning_with_a_note(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    outcome = RelaxFailingTests().repair(plan, [failing_test("stg_shop__orders", "order_id")])
    assert outcome.changes == ["stg_shop__orders.order_id: unique (2 failing rows)"]
    assert outcome.unrepairable == []
    assert outcome.summary == "relax 1 data tests that fail on today's data"
    assert outcome.plan is not None
    severity, note = _test_on(outcome.plan, "stg_shop__orders", "order_id", "unique")
    assert severity == "warn" and note and note.startswith("2 rows failed this test")
    assert note.endswith("fix the data, then restore severity error")
    assert _test_on(plan, "stg_shop__orders", "order_id", "unique") == (
        "error",
        None,
    )  # the input is untouched


def test_a_model_error_is_unrepairable_and_named(context: ProjectContext) -> None:
    broken = model_error("stg_shop__orders")
    outcome = RelaxFailingTests().repair(plan_with_rules(context), [broken])
    assert outcome.plan is None and outcome.changes == []
    assert [u.failure for u in outcome.unrepairable] == [broken]
    assert outcome.unrepairable[0].reason == "the model itself failed; relaxing data tests cannot fix that"


def test_a_test_that_errors_is_not_relaxed(context: ProjectContext) -> None:
    erroring = BuildFailure(
        unique_id="test.shop.not_null_stg_shop__orders_order_id", name="not_null_stg_shop__orders_order_id",
        resource_type="test", status="error", file_path="models/staging/shop/_shop__models.yml",
        compiled_sql="select order_id from x where order_id is null",
        message='Runtime Error in test not_null_stg_shop__orders_order_id (models/staging/shop/_shop__models.yml)\n'
        '  Binder Error: Referenced column "order_id" not found in FROM clause!',
        tested_model="stg_shop__orders", tested_column="order_id", test_name="not_null",
    )  # fmt: skip
    outcome = RelaxFailingTests().repair(plan_with_rules(context), [erroring])
    assert outcome.plan is None
    assert [(u.failure.name, u.reason) for u in outcome.unrepairable] == [
        (
            erroring.name,
            "the test could not run at all (an error, not failing rows); relaxing it would hide that",
        )
    ]


def test_one_unrepairable_failure_stops_the_whole_repair(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    relaxable = failing_test("stg_shop__orders", "order_id")
    broken = model_error("stg_shop__customers")
    outcome = RelaxFailingTests().repair(plan, [relaxable, broken])
    assert outcome.plan is None and outcome.changes == []
    assert [u.failure for u in outcome.unrepairable] == [broken]  # the relaxable test is not blamed


def test_a_failing_test_cartridge_did_not_write_is_not_touched(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    foreign = failing_test("stg_legacy", "payment_id")
    unknown_test = failing_test("stg_shop__orders", "order_id", test="accepted_values")
    outcome = RelaxFailingTests().repair(plan, [foreign, unknown_test])
    assert outcome.plan is None
    assert [u.reason for u in outcome.unrepairable] == [
        "cartridge did not write this test, so it leaves it alone",
        "not one of the column tests cartridge planned for stg_shop__orders",
    ]


def test_a_failing_model_level_test_is_relaxed_too(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    fact = next(a for a in plan.actions if a.name == "fct_order_items")
    fact.tests = [ModelTest(name="unique_combination_of_columns", columns=["order_id", "product_id"])]
    failure = failing_test("fct_order_items", "", "unique_combination_of_columns", rows=3)
    failure = replace(failure, tested_column=None)
    outcome = RelaxFailingTests().repair(plan, [failure])
    assert outcome.changes == ["fct_order_items: unique_combination_of_columns (3 failing rows)"]
    assert outcome.plan is not None
    relaxed = next(a for a in outcome.plan.actions if a.name == "fct_order_items").tests[0]
    assert relaxed.severity == "warn" and relaxed.note and relaxed.note.startswith("3 rows failed")
    other = replace(failure, test_name="expression_is_true")
    assert RelaxFailingTests().repair(plan, [other]).plan is None


def test_of_two_model_tests_of_one_kind_the_one_that_failed_is_relaxed(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    fact = next(a for a in plan.actions if a.name == "fct_order_items")
    fact.tests = [
        ModelTest(name="expression_is_true", expression="quantity >= 0"),
        ModelTest(name="expression_is_true", expression="unit_price > 0"),
    ]
    failure = replace(
        failing_test("fct_order_items", "", "expression_is_true", rows=3),
        tested_column=None,
        test_arguments={"expression": "unit_price > 0"},  # as dbt parsed it
    )
    outcome = RelaxFailingTests().repair(plan, [failure])
    assert outcome.plan is not None
    tests = next(a for a in outcome.plan.actions if a.name == "fct_order_items").tests
    assert [(t.expression, t.severity) for t in tests] == [
        ("quantity >= 0", "error"),
        ("unit_price > 0", "warn"),
    ]
