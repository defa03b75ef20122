"""Repairers: given a plan and what failed in its build, a repaired plan or the failures they cannot handle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from cartridge_bridge.planning.plan import DataTest, ExecutionPlan, ModelTest, SourceSpec, output_columns
from cartridge_bridge.verify.failures import BuildFailure


@dataclass(frozen=True)
class Unrepairable:
    """A failure a repairer could not handle, and why, in one line."""

    failure: BuildFailure
    reason: str


@dataclass
class RepairOutcome:
    """A repairer's answer: the repaired plan (None when it has none), what it changed, what it could not handle."""

    plan: ExecutionPlan | None
    changes: list[str] = field(default_factory=list)  # one human line per change
    unrepairable: list[Unrepairable] = field(default_factory=list)
    summary: str = ""  # one line for the progress display, e.g. "relax 2 data tests …"
    # One line per failing data test the LLM repairer handled: fixed or accepted by the model (with its
    # reason), or relaxed without it (and why).
    model_verdicts: list[str] = field(default_factory=list)


class Repairer(Protocol):
    """Turns a plan whose build failed into a plan worth building again, or says why it cannot."""

    def repair(self, plan: ExecutionPlan, failures: list[BuildFailure]) -> RepairOutcome:
        """The repaired plan and its changes, or the failures left unhandled with their reasons."""


class RelaxFailingTests:
    """Sets generated data tests that fail on today's data to `severity: warn`, with a note; nothing else."""

    def repair(self, plan: ExecutionPlan, failures: list[BuildFailure]) -> RepairOutcome:
        """Relax every failing data test cartridge wrote, or repair nothing when any failure is something else."""
        repaired = plan.model_copy(deep=True)
        changes: list[str] = []
        unrepairable: list[Unrepairable] = []
        for failure in failures:
            test, reason = planned_test(repaired, failure)
            if test is None:
                unrepairable.append(Unrepairable(failure, reason))
                continue
            relax(test, failure.failing_rows)
            changes.append(f"{tested(failure)}: {failure.test_name} ({failure.failing_rows} failing rows)")
        if unrepairable or not changes:
            return RepairOutcome(None, unrepairable=unrepairable)
        summary = f"relax {len(changes)} data tests that fail on today's data"
        return RepairOutcome(repaired, changes, summary=summary)


def relax(test: DataTest | ModelTest, failing_rows: int | None, reason: str | None = None) -> None:
    """Set a test to warn with a note of its failing rows (and `reason`, the LLM planner's, when it kept it so)."""
    test.severity = "warn"
    test.note = (
        f"{failing_rows or 'some'} rows failed this test when cartridge generated the model on "
        f"{date.today().isoformat()}; fix the data, then restore severity error"
    )
    test.relaxed_reason = reason


def tested(failure: BuildFailure) -> str:
    """What a data test tests: `model.column`, or the model for a model-level test."""
    return (
        f"{failure.tested_model}.{failure.tested_column}"
        if failure.tested_column
        else f"{failure.tested_model}"
    )


def planned_test(plan: ExecutionPlan, failure: BuildFailure) -> tuple[DataTest | ModelTest | None, str]:
    """The plan's data test that failed, or None with the reason it cannot be relaxed."""
    if failure.resource_type != "test":
        return None, f"the {failure.resource_type} itself failed; relaxing data tests cannot fix that"
    if failure.status != "fail":
        return None, "the test could not run at all (an error, not failing rows); relaxing it would hide that"
    action = next((a for a in plan.actions if a.name == failure.tested_model), None)
    if action is None or isinstance(action.spec, SourceSpec):
        return None, "cartridge did not write this test, so it leaves it alone"
    if failure.tested_column is None:  # a model-level test: a grain of several columns, an expression
        return _same(action.tests, failure), f"not one of the model tests cartridge planned for {action.name}"
    column = next((c for c in output_columns(action.spec) if c.name == failure.tested_column), None)
    test = _same(column.tests, failure) if column else None
    if test is None:
        return None, f"not one of the column tests cartridge planned for {action.name}"
    return test, ""


def _same(tests: Sequence[DataTest | ModelTest], failure: BuildFailure) -> DataTest | ModelTest | None:
    """The test of this kind whose arguments are the failed test's (a model may have two expression tests)."""
    named = [t for t in tests if t.name == failure.test_name]
    if len(named) < 2 or failure.test_arguments is None:
        return named[0] if named else None
    return next((t for t in named if _arguments(t) == _arguments_of(failure.test_arguments)), None)


def _arguments(test: DataTest | ModelTest) -> dict[str, Any]:
    if isinstance(test, ModelTest):
        return {"combination_of_columns": test.columns or None, "expression": test.expression}
    return {"to": f"ref('{test.to}')" if test.to else None, "field": test.field, "values": test.values}


def _arguments_of(parsed: dict[str, Any]) -> dict[str, Any]:
    """dbt's parsed arguments in the form `_arguments` gives a planned test, so the two compare."""
    keys = (
        ("combination_of_columns", "expression")
        if "expression" in parsed or "combination_of_columns" in parsed
        else ("to", "field", "values")
    )
    return {key: parsed.get(key) for key in keys}
