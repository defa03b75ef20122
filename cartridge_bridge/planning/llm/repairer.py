"""The LLM repairer: a model error (or a test that cannot run) goes back to the model that wrote the spec.

Data tests that fail on today's data are the data's problem, not the spec's: they go to the fallback
repairer (RelaxFailingTests). Anything else that failed in a planned model goes to the model with the
model's spec and tests, the SQL cartridge rendered, the SQL dbt compiled and dbt's whole message; its
corrected spec is checked like any other answer (against the whole plan, since other models may read
it) before it replaces the old one. The verify loop bounds the rounds; `repair_rounds` of the LLM
settings bounds how many of them may ask the model.
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

from cartridge_bridge.planning.llm.answers import REPAIR_OF_KIND, AggregateRepair, MartRepair, StagingRepair
from cartridge_bridge.planning.llm.asking import AnswerRejected, Asker
from cartridge_bridge.planning.llm.chat import ChatModel, LLMSettings
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
    ExecutionPlan,
    MartSpec,
    ModelSpec,
    PlanAction,
    SourceSpec,
    StagingSpec,
    model_inputs,
    output_columns,
)
from cartridge_bridge.planning.problems import PLAN_LEVEL, PlanProblem
from cartridge_bridge.planning.rules import column_docs
from cartridge_bridge.planning.spec_checks import Inputs, SpecChecker
from cartridge_bridge.render.plan_files import render_sql
from cartridge_bridge.render.sql_style import SqlStyle
from cartridge_bridge.verify.failures import BuildFailure
from cartridge_bridge.verify.repair import Repairer, RepairOutcome, Unrepairable

RepairAnswer = StagingRepair | AggregateRepair | MartRepair


class LLMRepairer:
    """Relaxes failing data tests through `fallback`; asks the model to correct the spec of a model that errored."""

    def __init__(self, chat: ChatModel, settings: LLMSettings, fallback: Repairer):
        self.asker = Asker(chat, settings.max_retries)
        self.settings = settings
        self.fallback = fallback
        self.rounds_asked = 0

    def repair(self, plan: ExecutionPlan, failures: list[BuildFailure]) -> RepairOutcome:
        """The plan with failing data tests relaxed and errored models corrected, or what stayed unrepairable."""
        relaxable = [f for f in failures if f.resource_type == "test" and f.status == "fail"]
        broken = [f for f in failures if not (f.resource_type == "test" and f.status == "fail")]
        repaired, changes, unrepairable = plan, [], []
        if relaxable:
            relaxed = self.fallback.repair(plan, relaxable)
            unrepairable += relaxed.unrepairable
            if relaxed.plan is not None:
                repaired, changes = relaxed.plan, list(relaxed.changes)
        relaxed_count = len(changes)
        by_model: dict[str, list[BuildFailure]] = {}
        for failure in broken:
            model = failure.name if failure.resource_type == "model" else failure.tested_model
            action = next((a for a in plan.actions if a.name == model), None)
            if (
                failure.resource_type not in ("model", "test")
                or action is None
                or isinstance(action.spec, SourceSpec)
            ):
                unrepairable.append(
                    Unrepairable(failure, "cartridge did not plan this node, so it leaves it alone")
                )
            else:
                by_model.setdefault(action.name, []).append(failure)
        if by_model and self.rounds_asked >= self.settings.repair_rounds:
            reason = f"the model already had its {self.settings.repair_rounds} repair rounds"
            unrepairable += [Unrepairable(f, reason) for fs in by_model.values() for f in fs]
        elif by_model:
            self.rounds_asked += 1
            for name, model_failures in by_model.items():
                try:
                    repaired = self.corrected(repaired, name, model_failures, outside_names(plan))
                except AnswerRejected as rejected:
                    unrepairable += [Unrepairable(f, rejected.line()) for f in model_failures]
                    continue
                changes.append(f"{name}: spec corrected by the model after {model_failures[0].cause}")
        if unrepairable or not changes:
            return RepairOutcome(None, unrepairable=unrepairable)
        summary = f"{relaxed_count} data tests relaxed, {len(changes) - relaxed_count} models corrected by the model"
        return RepairOutcome(repaired, changes, summary=summary)

    def corrected(
        self, plan: ExecutionPlan, name: str, failures: list[BuildFailure], outside: tuple[set[str], set[str]]
    ) -> ExecutionPlan:
        """The plan with the model's corrected spec and tests for one failed model, checked against the whole plan."""
        action = next(a for a in plan.actions if a.name == name)
        spec = action.spec
        assert not isinstance(spec, SourceSpec)
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
                for f in failures
            ],
            rendered_sql=render_sql(action, SqlStyle.of(plan.render, plan.adapter_type)),
            current_spec=to_answer(spec),
            current_tests=data_tests_answer(spec, action.tests),
            inputs=_input_facts(plan, spec),
            raw_columns=_raw_columns(plan, spec),
        )
        answer_type = REPAIR_OF_KIND[spec.kind]
        messages = phase_messages("repair", task, answer_type, plan.adapter_type)

        def check(answer: RepairAnswer) -> list[str]:
            return [p.line() for p in plan_only_problems(replaced(plan, action, answer), *outside)]

        answer = self.asker.ask("repair", f"the corrected spec of {name}", messages, answer_type, check)
        return replaced(plan, action, answer)


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
    fixed = action.model_copy(update={"spec": spec, "tests": model_tests, "dependencies": model_inputs(spec)})
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
    try:
        TopologicalSorter({a.name: list(a.dependencies) for a in plan.models()}).prepare()
    except CycleError as error:
        cycle = " → ".join(error.args[1])
        problems.append(
            PlanProblem(PLAN_LEVEL, "dependencies", f"the plan's dependencies form a cycle: {cycle}")
        )
    return problems


def _input_facts(plan: ExecutionPlan, spec: ModelSpec) -> list[ModelFacts]:
    planned = {a.name: a for a in plan.models()}
    facts = []
    for name in model_inputs(spec):
        action = planned.get(name)
        if action is not None and not isinstance(action.spec, SourceSpec):
            facts.append(planned_model(name, action.spec))
        elif "." not in name:
            facts.append(ModelFacts(name=name, planned=False))
    return facts


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
