"""A repair answer checked and applied: the model's corrected spec and tests, and its verdict on each failing test.

A verdict names a failing test by dbt's node name. `fixed` must change something: the spec, or the test
itself (a relationships test's `to`, say). `keep_relaxed` keeps the test as it is, which cartridge then sets
to warn with the model's reason in its meta; the reason is outside text, neutralized where it is written.
"""

from __future__ import annotations

from collections import Counter

from cartridge_bridge.planning.llm.answers import (
    REASON_LENGTH,
    AggregateRepair,
    ColumnTest,
    FailingTestVerdict,
    MartRepair,
    ModelTestAnswer,
    StagingRepair,
)
from cartridge_bridge.planning.llm.conversion import to_answer
from cartridge_bridge.planning.plan import (
    DataTest,
    ExecutionPlan,
    HistorySpec,
    ModelTest,
    PeriodicSnapshotSpec,
    PlanAction,
    SourceSpec,
    TimeSpineSpec,
    output_columns,
)
from cartridge_bridge.verify.failures import BuildFailure
from cartridge_bridge.verify.repair import relax, tested

RepairAnswer = StagingRepair | AggregateRepair | MartRepair
FailingTest = tuple[BuildFailure, DataTest | ModelTest]  # a test that found rows, and the plan's test it is


def reason_line(verdict: FailingTestVerdict) -> str:
    """The verdict's reason on one line, whitespace collapsed."""
    return " ".join(verdict.reason.split())


def verdict_problems(answer: RepairAnswer, action: PlanAction, failing: list[FailingTest]) -> list[str]:
    """A problem line for each failing test without exactly one sound verdict, and each verdict on no failing test."""
    nodes = {failure.name: (failure, test) for failure, test in failing}
    seen = Counter(v.test for v in answer.failing_tests)
    problems = [
        f"failing_tests: no verdict on {node}; give each failing test of the data one"
        for node in nodes
        if not seen[node]
    ]
    assert not isinstance(action.spec, SourceSpec | TimeSpineSpec | HistorySpec | PeriodicSnapshotSpec)
    spec_changed = to_answer(action.spec) != answer.spec
    for verdict in answer.failing_tests:
        where = f"failing_tests[{verdict.test}]"
        if verdict.test not in nodes:
            problems.append(
                f"{where}: not a failing test of this model (expected one of: {', '.join(nodes)})"
            )
            continue
        if seen[verdict.test] > 1:
            problems.append(f"{where}: more than one verdict on this test")
        reason = reason_line(verdict)
        if not reason or len(reason) > REASON_LENGTH:
            problems.append(f"{where}.reason: must be one line of 1 to {REASON_LENGTH} characters")
        failure, test = nodes[verdict.test]
        kept = answered_test(answer, failure, test)
        if verdict.verdict == "keep_relaxed" and not kept:
            problems.append(
                f"{where}: keep_relaxed, but the answer's tests no longer hold this test unchanged; "
                "keep it as it is to keep it relaxed"
            )
        if verdict.verdict == "fixed" and kept and not spec_changed:
            problems.append(f"{where}: fixed, but neither the spec nor this test changed")
    return problems


def answered_test(answer: RepairAnswer, failure: BuildFailure, test: DataTest | ModelTest) -> bool:
    """Whether the answer's tests hold this planned test unchanged (same kind, column and arguments)."""
    if isinstance(test, DataTest):
        same = ColumnTest(name=test.name, to=test.to, field=test.field, values=test.values)
        return any(
            entry.column == failure.tested_column and any(same.same_test(t) for t in entry.tests)
            for entry in answer.tests.columns
        )
    if test.name == "versions_do_not_overlap":
        return False  # an answer cannot hold it: a failing overlap test is repaired by changing the history
    model_test = ModelTestAnswer(name=test.name, columns=test.columns, expression=test.expression)
    return model_test in answer.tests.model_tests


def keep_relaxed(
    plan: ExecutionPlan, name: str, answer: RepairAnswer, failing: list[FailingTest]
) -> tuple[list[str], list[str]]:
    """Relax, in `plan`, each test the answer keeps relaxed, with its reason: a line per verdict for the report,
    and a change line per test kept relaxed."""
    action = next(a for a in plan.actions if a.name == name)
    nodes = {failure.name: (failure, test) for failure, test in failing}
    verdicts, kept = [], []
    for verdict in answer.failing_tests:
        failure, planned = nodes[verdict.test]
        what = f"{tested(failure)}: {failure.test_name} ({failure.failing_rows} failing rows)"
        if verdict.verdict == "fixed":
            verdicts.append(f"{what} fixed by the model: {reason_line(verdict)}")
            continue
        relax(_same_test(action, failure, planned), failure.failing_rows, reason_line(verdict))
        verdicts.append(f"{what} accepted by the model, kept at warn: {reason_line(verdict)}")
        kept.append(f"{what}, kept at warn by the model")
    return verdicts, kept


def _same_test(
    action: PlanAction, failure: BuildFailure, planned: DataTest | ModelTest
) -> DataTest | ModelTest:
    """The action's test with the same kind, column and arguments as `planned` (the check made sure there is one)."""
    assert not isinstance(action.spec, SourceSpec)
    if isinstance(planned, ModelTest):
        return next(
            t
            for t in action.tests
            if (t.name, t.columns, t.expression) == (planned.name, planned.columns, planned.expression)
        )
    column = next(c for c in output_columns(action.spec) if c.name == failure.tested_column)
    return next(
        t
        for t in column.tests
        if (t.name, t.to, t.field, t.values) == (planned.name, planned.to, planned.field, planned.values)
    )
