"""Only data tests that failed on today's data are relaxed; anything else leaves the build failed."""

from __future__ import annotations

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.gather.dbt_runner import BuildSummary, NodeResult
from cartridge_bridge.planning.plan import StagingSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.verify.repair import relax_failing_tests


def _failed(*nodes: NodeResult) -> BuildSummary:
    return BuildSummary(success=False, nodes=list(nodes), errors=[], warnings=[])


def _unique_test(model: str, column: str, failures: int = 2) -> NodeResult:
    return NodeResult(
        unique_id=f"test.shop.unique_{model}_{column}", resource_type="test", name=f"unique_{model}_{column}",
        status="fail", message=f"Got {failures} results", failures=failures,
        tested_model=model, tested_column=column, test_name="unique",
    )  # fmt: skip


def test_a_failing_key_test_becomes_a_warning_with_a_note(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    repaired, relaxed = relax_failing_tests(plan, _failed(_unique_test("stg_shop__orders", "order_id")))
    assert relaxed == ["stg_shop__orders.order_id: unique (2 failing rows)"]
    assert repaired is not None
    staging = next(a for a in repaired.actions if a.name == "stg_shop__orders")
    assert isinstance(staging.spec, StagingSpec)
    key = next(c for c in staging.spec.columns if c.name == "order_id")
    unique = next(t for t in key.tests if t.name == "unique")
    assert unique.severity == "warn" and unique.note and unique.note.startswith("2 rows failed this test")
    original = next(a for a in plan.actions if a.name == "stg_shop__orders")
    assert all(t.severity == "error" for c in original.spec.columns for t in c.tests)  # type: ignore[union-attr]


def test_a_model_error_is_never_relaxed(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    broken = NodeResult(
        unique_id="model.shop.stg_shop__orders", resource_type="model", name="stg_shop__orders",
        status="error", message="relation does not exist", failures=None,
    )  # fmt: skip
    assert relax_failing_tests(plan, _failed(broken, _unique_test("stg_shop__orders", "order_id"))) == (
        None,
        [],
    )


def test_a_failing_test_cartridge_did_not_write_is_not_touched(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    assert relax_failing_tests(plan, _failed(_unique_test("stg_legacy", "payment_id"))) == (None, [])
