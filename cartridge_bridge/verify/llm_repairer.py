"""The LLM repairer: whatever failed in a planned model goes back to the model that wrote its spec.

One request per model with failures, all of them together. A node that errored goes with the SQL cartridge
rendered, the SQL dbt compiled and dbt's whole message; a data test that failed on the data goes with the
test, dbt's failing-row count and the profile's counts of the columns involved (llm_failing_tests.py). The model
answers with the whole corrected spec and tests, and a verdict on each failing test: `fixed`, or
`keep_relaxed` with a reason that lands in the test's meta. The answer is checked like any other (against
the whole plan, since other models may read it) before it replaces the old one. A failing test the model
cannot settle (an answer that stays invalid, or no repair round left) is relaxed by `fallback` as on the
rules path, and the report says why. The verify loop bounds the rounds; `repair_rounds` of the LLM
settings bounds how many of them may ask the model.
"""

from __future__ import annotations

from typing import NamedTuple

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.dependencies import plan_cycle_problems
from cartridge_bridge.planning.llm.answers import REPAIR_OF_KIND
from cartridge_bridge.planning.llm.asking import AnswerRejected, Asker
from cartridge_bridge.planning.llm.chat import ChatModel, LLMSettings
from cartridge_bridge.planning.llm.conditions import changed_condition_problems
from cartridge_bridge.planning.llm.conversion import data_tests_answer, to_answer, to_spec, with_tests
from cartridge_bridge.planning.llm.prompt_data import (
    FailureFacts,
    ModelColumn,
    ModelFacts,
    RepairTask,
    planned_model,
)
from cartridge_bridge.planning.llm.prompts import phase_messages
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    DataTest,
    ExecutionPlan,
    HistorySpec,
    MartSpec,
    ModelSpec,
    PeriodicSnapshotSpec,
    PlanAction,
    SourceSpec,
    StagingSpec,
    TimeSpineSpec,
    UnionSpec,
    action_inputs,
    model_inputs,
    output_columns,
)
from cartridge_bridge.planning.problems import PlanProblem
from cartridge_bridge.planning.rules import column_docs
from cartridge_bridge.planning.spec_checks import Inputs, SpecChecker
from cartridge_bridge.render.plan_files import render_sql
from cartridge_bridge.render.sql_style import SqlStyle
from cartridge_bridge.verify.failures import BuildFailure
from cartridge_bridge.verify.llm_failing_tests import failing_test_facts
from cartridge_bridge.verify.llm_repair_answer import (
    FailingTest,
    RepairAnswer,
    keep_relaxed,
    verdict_problems,
)
from cartridge_bridge.verify.repair import Repairer, RepairOutcome, Unrepairable, planned_test, tested


def found_rows(failure: BuildFailure) -> bool:
    """A data test that ran and failed on the data (not a node that could not run)."""
    return failure.resource_type == "test" and failure.status == "fail"


class Answered(NamedTuple):
    """One model's repair answer applied: the plan, its change lines, its verdict lines, whether it was corrected."""

    plan: ExecutionPlan
    changes: list[str]  # the model's correction, and each test it keeps relaxed
    verdicts: list[str]  # one per failing data test: fixed or accepted, with the model's reason
    corrected: bool


class LLMRepairer:
    """Sends each planned model's failures to the model; relaxes through `fallback` what the model cannot settle.

    `context` holds the gathered profile the failing tests' counts are read from (none without it).
    """

    def __init__(
        self,
        chat: ChatModel,
        settings: LLMSettings,
        fallback: Repairer,
        context: ProjectContext | None = None,
    ):
        self.asker = Asker(chat, settings.max_retries)
        self.settings = settings
        self.fallback = fallback
        self.context = context
        self.rounds_asked = 0

    def repair(self, plan: ExecutionPlan, failures: list[BuildFailure]) -> RepairOutcome:
        """The plan with each failed model corrected by the model, or its failing tests relaxed; or what stayed."""
        by_model, to_relax, unrepairable = _route(plan, failures)
        repaired, changes, verdicts, corrected = plan, [], [], 0
        if by_model and self.rounds_asked >= self.settings.repair_rounds:
            why = f"the model already had its {self.settings.repair_rounds} repair rounds"
            for model_failures in by_model.values():
                to_relax += [(f, why) for f in model_failures if found_rows(f)]
                unrepairable += [Unrepairable(f, why) for f in model_failures if not found_rows(f)]
        elif by_model:
            self.rounds_asked += 1
            outside = outside_names(plan)
            for name, model_failures in by_model.items():
                try:
                    answered = self.corrected(repaired, name, model_failures, outside)
                except AnswerRejected as rejected:
                    to_relax += [(f, rejected.line()) for f in model_failures if found_rows(f)]
                    unrepairable += [
                        Unrepairable(f, rejected.line()) for f in model_failures if not found_rows(f)
                    ]
                    continue
                repaired, corrected = answered.plan, corrected + answered.corrected
                changes += answered.changes
                verdicts += answered.verdicts
        if to_relax:
            relaxed = self.fallback.repair(repaired, [f for f, _ in to_relax])
            unrepairable += relaxed.unrepairable
            if relaxed.plan is not None:
                repaired, changes = relaxed.plan, changes + relaxed.changes
            verdicts += [
                f"{tested(f)}: {f.test_name} ({f.failing_rows} failing rows) relaxed without the model: {why}"
                for f, why in to_relax
                if why
            ]
        if unrepairable or not changes:
            return RepairOutcome(None, unrepairable=unrepairable, model_verdicts=verdicts)
        summary = f"{len(changes) - corrected} data tests relaxed, {corrected} models corrected by the model"
        return RepairOutcome(repaired, changes, summary=summary, model_verdicts=verdicts)

    def corrected(
        self, plan: ExecutionPlan, name: str, failures: list[BuildFailure], outside: tuple[set[str], set[str]]
    ) -> Answered:
        """The plan with the model's corrected spec and tests for one failed model, checked against the whole plan."""
        action = next(a for a in plan.actions if a.name == name)
        spec = action.spec
        assert not isinstance(
            spec, SourceSpec | TimeSpineSpec | HistorySpec | PeriodicSnapshotSpec
        )  # routed as unrepairable
        failing: list[FailingTest] = []
        for failure in failures:
            test = planned_test(plan, failure)[0] if found_rows(failure) else None
            if test is not None:
                failing.append((failure, test))
        errors = [f for f in failures if not found_rows(f)]
        task = RepairTask(
            model=name,
            kind=spec.kind,
            adapter_type=plan.adapter_type,
            failures=[
                FailureFacts(
                    node=f.name,
                    resource_type=f.resource_type,
                    status=f.status,
                    file=f.file_path,
                    message=f.message,
                    compiled_sql=f.compiled_sql,
                )
                for f in errors
            ],
            failing_tests=[
                failing_test_facts(plan, f, t, self.context, self.settings.share_samples) for f, t in failing
            ],
            rendered_sql=render_sql(action, SqlStyle.of(plan.render, plan.adapter_type)),
            current_spec=to_answer(spec),
            current_tests=data_tests_answer(spec, action.tests),
            inputs=_input_facts(plan, spec),
            raw_columns=_raw_columns(plan, spec),
            models=_parents(plan, name, failing),
        )
        answer_type = REPAIR_OF_KIND[spec.kind]
        messages = phase_messages("repair", task, answer_type, plan.adapter_type)

        def check(answer: RepairAnswer) -> list[str]:
            fixed = replaced(plan, action, answer)
            problems = [p.line() for p in plan_only_problems(fixed, *outside)]
            problems += [
                p.line()
                for a in fixed.actions
                if a.name == name
                for p in changed_condition_problems(a, plan.adapter_type)
            ]
            return problems + verdict_problems(answer, action, failing)

        answer = self.asker.ask("repair", f"the corrected spec of {name}", messages, answer_type, check)
        fixed = replaced(plan, action, answer)
        verdicts, kept = keep_relaxed(fixed, name, answer, failing)
        if errors:
            line = f"{name}: spec corrected by the model after {errors[0].cause}"
        elif len(kept) < len(failing):
            line = f"{name}: spec and tests corrected by the model after {len(failing)} failing data tests"
        else:  # every failing test kept relaxed: nothing corrected
            return Answered(fixed, kept, verdicts, corrected=False)
        return Answered(fixed, [line, *kept], verdicts, corrected=True)


def replaced(plan: ExecutionPlan, action: PlanAction, answer: RepairAnswer) -> ExecutionPlan:
    """The plan with one action's spec and tests taken from a repair answer; descriptions kept by column name."""
    old = action.spec
    assert not isinstance(old, SourceSpec)
    types = {
        a.name: {c.name: c.data_type for c in output_columns(a.spec) if c.data_type}
        for a in plan.actions
        if not isinstance(a.spec, SourceSpec)
    }
    source = next(
        (a.spec for a in plan.actions if isinstance(old, StagingSpec) and a.name == old.source_name), None
    )
    raw = (
        {c.name: c.data_type or "" for t in source.tables if t.name == old.table for c in t.columns}
        if isinstance(source, SourceSpec) and isinstance(old, StagingSpec)
        else {}
    )
    spec = to_spec(
        answer.spec,
        source_table=(old.source_name, old.table) if isinstance(old, StagingSpec) else None,
        raw_types=raw,
        from_model=old.from_model if isinstance(old, AggregateSpec) else None,
        role=old.role if isinstance(old, MartSpec) else "fact",
        input_types=types,
    )
    spec, model_tests = with_tests(spec, answer.tests)
    described = {c.name: c.description for c in output_columns(old)}
    entity = old.entity if isinstance(old, StagingSpec) else action.name
    for column in output_columns(spec):
        column.description = described.get(column.name) or column_docs.describe_column(column.name, entity)
    fixed = action.model_copy(update={"spec": spec, "tests": model_tests})
    fixed.dependencies = action_inputs(fixed)  # an edited mart's own SQL is no input of it
    actions = [fixed if a.name == action.name else a for a in plan.actions]
    return plan.model_copy(update={"actions": actions})


def outside_names(plan: ExecutionPlan) -> tuple[set[str], set[str]]:
    """The project's models and sources a checked plan reads without planning them (they exist: it was checked)."""
    provided = {a.name for a in plan.models()}
    sources = {
        f"{a.name}.{t.name}" for a in plan.actions if isinstance(a.spec, SourceSpec) for t in a.spec.tables
    }
    models, outside_sources = set(), set()
    for action in plan.models():
        assert not isinstance(action.spec, SourceSpec)
        for name in action.dependencies:
            if "." in name and name not in sources:
                outside_sources.add(name)
            elif "." not in name and name not in provided:
                models.add(name)
        models |= {
            t.to for c in output_columns(action.spec) for t in c.tests if t.to and t.to not in provided
        }
    return models, outside_sources


def plan_only_problems(plan: ExecutionPlan, models: set[str], sources: set[str]) -> list[PlanProblem]:
    """Every spec problem of the plan, reading only what it plans and the project's models and sources it already read."""
    inputs = Inputs.of_plan(plan, models, sources)
    problems = [p for a in plan.actions for p in SpecChecker(a, plan.adapter_type, inputs).check()]
    return problems + plan_cycle_problems(plan)


def _input_facts(plan: ExecutionPlan, spec: ModelSpec) -> list[ModelFacts]:
    planned = {a.name: a for a in plan.models()}
    facts = []
    for name in model_inputs(spec):
        action = planned.get(name)
        if action is not None and not isinstance(
            action.spec, SourceSpec | TimeSpineSpec | HistorySpec | PeriodicSnapshotSpec
        ):
            facts.append(planned_model(name, action.spec))
        elif "." not in name:
            facts.append(ModelFacts(name=name, planned=False))
    return facts


def _route(
    plan: ExecutionPlan, failures: list[BuildFailure]
) -> tuple[dict[str, list[BuildFailure]], list[tuple[BuildFailure, str]], list[Unrepairable]]:
    """The failures for the model, by planned model; the failing tests cartridge did not write (the fallback says
    so, with no reason of the model's); and the nodes cartridge did not plan."""
    by_model: dict[str, list[BuildFailure]] = {}
    not_ours: list[tuple[BuildFailure, str]] = []
    unrepairable: list[Unrepairable] = []
    for failure in failures:
        model = failure.name if failure.resource_type == "model" else failure.tested_model
        action = next((a for a in plan.actions if a.name == model), None)
        if found_rows(failure) and planned_test(plan, failure)[0] is None:
            not_ours.append((failure, ""))
        elif (
            failure.resource_type not in ("model", "test")
            or action is None
            or isinstance(
                action.spec, SourceSpec | TimeSpineSpec | HistorySpec | PeriodicSnapshotSpec
            )  # the time spine, histories and snapshots are cartridge's own SQL
        ):
            unrepairable.append(
                Unrepairable(failure, "cartridge did not plan this node, so it leaves it alone")
            )
        elif isinstance(action.spec, UnionSpec):
            unrepairable.append(
                Unrepairable(failure, "the model does not write unions yet: fix this one by hand")
            )
        else:
            by_model.setdefault(action.name, []).append(failure)
    return by_model, not_ours, unrepairable


def _parents(plan: ExecutionPlan, name: str, failing: list[FailingTest]) -> list[ModelFacts]:
    """With a failing relationships test: every other planned model with its grain and key columns."""
    if not any(isinstance(t, DataTest) and t.name == "relationships" for _, t in failing):
        return []
    return [
        planned_model(a.name, a.spec, all_columns=False)
        for a in plan.models()
        if a.name != name
        and not isinstance(a.spec, SourceSpec | TimeSpineSpec | HistorySpec | PeriodicSnapshotSpec)
    ]


def _raw_columns(plan: ExecutionPlan, spec: ModelSpec) -> list[ModelColumn]:
    if not isinstance(spec, StagingSpec):
        return []
    return [
        ModelColumn(name=c.name, data_type=c.data_type)
        for a in plan.actions
        if isinstance(a.spec, SourceSpec) and a.spec.source_name == spec.source_name
        for t in a.spec.tables
        if t.name == spec.table
        for c in t.columns
    ]
