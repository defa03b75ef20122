"""Documentation and data tests of the specified models: several models per request, within a token budget.

A request's data lists its models whole (each staging column once, beside its raw column's facts) and,
once for all of them, the other models a relationships test may point at (by their grain) and the
project's conventions. Models are packed in outline order until the data's
estimated tokens would pass `batch_tokens`; a model over the budget on its own is asked for alone. Each
model's entry in the answer is checked alone: a good one is kept, a bad one is asked for again with its
problems, and one that stays wrong falls back (with `fallback: rules`) for the part that stayed wrong.
An answer in which no entry can be read (cut off at the model's output limit, say) is not re-asked as
it was: its batch is asked for again in two halves. A mart with a semantic model lists its candidate measures,
and its entry names and describes the metrics (`metrics.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel

from cartridge_bridge.context.key_owners import KeyOwner
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.llm.answers import (
    DataTestsAnswer,
    DocsAndTestsAnswer,
    DocsAnswer,
    MetricAnswer,
    ModelDocsAndTests,
    OutlineModel,
)
from cartridge_bridge.planning.llm.asking import AnswerRejected, Asker, UnreadBatch
from cartridge_bridge.planning.llm.conversion import (
    DocumentedSpec,
    split_docs_tests,
    unknown_columns,
    with_docs,
    with_tests,
)
from cartridge_bridge.planning.llm.fallback import docs_fallback, tests_fallback
from cartridge_bridge.planning.llm.metrics import candidates, name_problems, time_dimensions, with_metrics
from cartridge_bridge.planning.llm.prompt_data import (
    ConventionFacts,
    DocsTestsTask,
    ModelFacts,
    ModelKey,
    TableFacts,
    described_model,
    grain_of,
)
from cartridge_bridge.planning.llm.prompts import data_json, phase_messages
from cartridge_bridge.planning.plan import SemanticModelSpec, output_columns
from cartridge_bridge.planning.planner import ModelDraft, SnapshotDraft
from cartridge_bridge.planning.problems import PlanProblem

CHARS_PER_TOKEN = 4  # a cheap, model-free estimate; the budget is a target, not a context limit
ItemT = TypeVar("ItemT")
TaskT = TypeVar("TaskT", bound=BaseModel)
Result = ModelDocsAndTests | AnswerRejected
# A model this phase documents and tests: one cartridge writes from a spec, or a periodic snapshot (its SQL is
# cartridge's own, but its measures and the tests of its rows are the model's to describe, as any mart's).
Documented = ModelDraft | SnapshotDraft
DraftProblems = Callable[[Documented, Iterable[Documented]], list[PlanProblem]]


def estimated_tokens(task: BaseModel) -> int:
    """The tokens of a task's data block, estimated from its characters."""
    return -(-len(data_json(task)) // CHARS_PER_TOKEN)


def pack(
    items: list[ItemT], task_of: Callable[[list[ItemT]], TaskT], budget: int
) -> list[tuple[list[ItemT], TaskT]]:
    """Consecutive items in batches whose task stays within `budget` estimated tokens, each with its task.

    The task is built for each candidate batch, so what every batch shares (the models it may point at)
    is counted as it will be sent; an item whose task alone passes the budget goes alone.
    """
    batches: list[tuple[list[ItemT], TaskT]] = []
    batch: list[ItemT] = []
    task: TaskT | None = None
    for item in items:
        candidate = task_of([*batch, item])
        if task is not None and estimated_tokens(candidate) > budget:
            batches.append((batch, task))
            batch, task = [item], task_of([item])
        else:
            batch, task = [*batch, item], candidate
    if task is not None:
        batches.append((batch, task))
    return batches


def docs_problems(draft: Documented, docs: DocsAnswer) -> list[str]:
    """A model's documentation: its own description and every output column's, exactly once each."""
    outputs = [c.name for c in output_columns(draft.spec)]
    named = [c.name for c in docs.columns]
    lines = unknown_columns(draft.spec, named, "columns")
    lines += [f"columns: {n!r} is not described" for n in outputs if n not in named]
    lines += [
        f"columns[{n}]: described {named.count(n)} times" for n in sorted(set(named)) if named.count(n) > 1
    ]
    # An empty column description is an answer: the column is left for the user to describe.
    return lines + (["description: is empty"] if not docs.description.strip() else [])


@dataclass
class DocsAndTests:
    """The documentation-and-tests phase of one planner run: batches asked for concurrently, entries checked alone."""

    asker: Asker
    context: ProjectContext
    table_facts: dict[str, TableFacts]  # `<source>.<table>` → the raw table's facts
    existing_targets: list[ModelFacts]  # existing models a relationships test may point at
    key_owners: list[KeyOwner]
    conventions: ConventionFacts
    problems: DraftProblems  # what the plan's checks find in one draft placed with some others
    fallback: bool  # `fallback: rules`: cartridge's own tests or descriptions for what stayed wrong
    notes: list[str]
    semantic: dict[str, SemanticModelSpec] = field(default_factory=dict)  # mart → as the rules derive it
    named: set[str] = field(default_factory=set)  # metric and measure names of the marts finished so far

    def batches(
        self, order: list[OutlineModel], specified: dict[str, Documented], budget: int
    ) -> list[tuple[list[OutlineModel], DocsTestsTask]]:
        """The models in outline order, packed into requests within the budget."""
        return pack(order, lambda batch: self.task(batch, specified), budget)

    def task(self, batch: list[OutlineModel], specified: dict[str, Documented]) -> DocsTestsTask:
        """One request's data: its models whole; the other models by their grain, what a relationships test
        points at (the data of every request grows by a name and a key per model of the plan, no more)."""
        names = {m.name for m in batch}
        # In name order, not the order concurrent specs finished in: the same plan must ask the same question
        # (the answer cache is keyed by the prompt, and a re-run must reproduce the same files).
        others = sorted((d for n, d in specified.items() if n not in names), key=lambda d: d.name)
        described = []
        for m in batch:
            entry = described_model(m, specified[m.name].spec, self.table_facts.get(m.source_table or ""))
            times = time_dimensions(self.semantic[m.name]) if m.name in self.semantic else []
            if times:  # without a time, a mart's semantic model has no measure to name
                entry.measures = candidates(self.semantic[m.name])
                entry.time_dimensions = times
            described.append(entry)
        return DocsTestsTask(
            models_to_describe=described,
            other_models=[ModelKey(name=d.name, grain=grain_of(d.spec)) for d in others]
            + self.existing_targets,
            existing_key_owners=self.key_owners,
            conventions=self.conventions,
        )

    def ask(
        self, batch: list[OutlineModel], task: DocsTestsTask, specified: dict[str, Documented]
    ) -> dict[str, Result]:
        """Each model's accepted entry, or why it stayed wrong."""
        messages = phase_messages("docs_tests", task, DocsAndTestsAnswer, self.context.adapter_type)

        def check(name: str, entry: ModelDocsAndTests) -> list[str]:
            tests, docs = split_docs_tests(entry)
            lines = self.tests_problems(specified[name], tests, specified)
            lines += self.metrics_problems(specified[name], entry.metrics, specified)
            return list(dict.fromkeys(lines + docs_problems(specified[name], docs)))

        try:
            accepted, rejected = self.asker.ask_batch(
                "docs_tests",
                lambda name: f"the tests and documentation of {name}",
                messages,
                DocsAndTestsAnswer,
                ModelDocsAndTests,
                [m.name for m in batch],
                check,
                split=True,
            )
        except UnreadBatch:
            half = len(batch) // 2
            halves = [batch[:half], batch[half:]]
            return {k: v for h in halves for k, v in self.ask(h, self.task(h, specified), specified).items()}
        return {**accepted, **rejected}

    def tests_problems(
        self, draft: Documented, tests: DataTestsAnswer, specified: dict[str, Documented]
    ) -> list[str]:
        """A model's tests, placed with every other specified model they may point at."""
        lines = unknown_columns(draft.spec, [c.column for c in tests.columns], "columns")
        spec, model_tests = with_tests(draft.spec, tests)
        tested = draft.model_copy(update={"spec": spec, "tests": model_tests})
        others = [d for n, d in specified.items() if n != draft.name]
        return lines + [p.line() for p in self.problems(tested, others)]

    def metrics_problems(
        self,
        draft: Documented,
        metrics: list[MetricAnswer],
        specified: dict[str, Documented],
        partial: bool = False,
    ) -> list[str]:
        """A mart's metrics applied to its derived semantic model, checked as the plan checks it and against the
        names of the other marts; with `partial`, candidates left unanswered keep their derived metric."""
        derived = self.semantic.get(draft.name)
        if derived is None:
            return ["metrics: only a model listed with `measures` has metrics; give none"] if metrics else []
        model, lines = with_metrics(derived, metrics, partial)
        others = [m for n, m in self.semantic.items() if n != draft.name]
        lines += name_problems(model, derived, others, self.context.semantic_names)
        described = draft.model_copy(update={"semantic_model": model})
        rest = [d for n, d in specified.items() if n != draft.name]
        return lines + [
            p.line() for p in self.problems(described, rest) if p.field.startswith("semantic_model")
        ]

    def semantic_model(
        self,
        draft: Documented,
        spec: DocumentedSpec,
        metrics: list[MetricAnswer] | None,
        specified: dict[str, Documented],
    ) -> SemanticModelSpec | None:
        """A mart's semantic model with the answer's metrics: those that stayed wrong (or collide with a mart
        finished before) keep the rules' names; dimensions described as the documented columns are."""
        derived = self.semantic.get(draft.name)
        if derived is None:
            return None
        answers = list(metrics or [])
        if self.metrics_problems(draft, answers, specified):
            # `fallback: rules` (else the answer was accepted): each entry that fits is kept, in order.
            answers = []
            for answer in metrics or []:
                if not self.metrics_problems(draft, [*answers, answer], specified, partial=True):
                    answers.append(answer)
            self.notes.append(
                f"the metrics of {draft.name} stayed invalid: {len(answers)} of {len(metrics or [])} answered kept, "
                "the rules' metric for each other candidate"
            )
        model, _ = with_metrics(derived, answers, partial=True)
        model = _without_taken(model, derived, self.named, self.notes)
        self.named |= {m.name for m in model.measures} | {m.name for m in model.metrics}
        described = {c.name: c.description for c in output_columns(spec)}
        for dimension in model.dimensions:
            if dimension.type == "categorical":
                dimension.description = described.get(dimension.name, dimension.description)
        return model

    def finished(
        self, model: OutlineModel, draft: Documented, result: Result, specified: dict[str, Documented]
    ) -> Documented:
        """A specified draft with its tests and descriptions; with fallback rules, cartridge's own for a part that stayed wrong."""
        entry = result if isinstance(result, ModelDocsAndTests) else result.last
        tests, docs = split_docs_tests(entry) if entry is not None else (None, None)
        why = ""
        if isinstance(result, AnswerRejected):
            if not self.fallback:
                raise result
            why = result.line()
            if tests is not None and self.tests_problems(draft, tests, specified):
                tests = None
            if docs is not None and docs_problems(draft, docs):
                docs = None
        if isinstance(draft, SnapshotDraft):
            return _documented_snapshot(draft, tests, docs, why, self.notes)
        if tests is not None:
            spec, model_tests = with_tests(draft.spec, tests)
        else:
            (spec, model_tests), instead = tests_fallback(draft, self.context)
            self.notes.append(f"{why}; {instead}")
        if docs is None:
            docs, instead = docs_fallback(draft, self.table_facts.get(model.source_table or ""))
            self.notes.append(f"{why}; {instead}")
        documented = with_docs(spec, docs)
        metrics = entry.metrics if entry is not None else None
        return draft.model_copy(
            update={
                "spec": documented,
                "tests": model_tests,
                "description": docs.description,
                "semantic_model": self.semantic_model(draft, documented, metrics, specified),
            }
        )


def _without_taken(
    model: SemanticModelSpec, derived: SemanticModelSpec, taken: set[str], notes: list[str]
) -> SemanticModelSpec:
    """A mart's model without the metric names a mart finished before took: the rules' metric for a candidate,
    an added measure left out (each answer was checked against the other marts' derived names, not their
    answers, which are asked for concurrently)."""
    clashing = [m.name for m in model.metrics if m.name in taken]
    if not clashing:
        return model
    rules = {m.measure: m for m in derived.metrics}
    kept = [
        m if m.name not in taken else rules[m.measure]
        for m in model.metrics
        if m.name not in taken or m.measure in rules
    ]
    model.metrics = kept
    model.measures = [x for x in model.measures if any(m.measure == x.name for m in kept)]
    notes.append(
        f"{model.name}: metric names {', '.join(clashing)} were taken by another mart; the rules' names kept"
    )
    return model


def _documented_snapshot(
    draft: SnapshotDraft, tests: DataTestsAnswer | None, docs: DocsAnswer | None, why: str, notes: list[str]
) -> SnapshotDraft:
    """A snapshot with the answer's tests and descriptions; a part that stayed wrong keeps cartridge's own (its
    grain test and the descriptions its spec gives). The grain test is cartridge's and always stays."""
    spec, model_tests = draft.spec, draft.tests
    if tests is not None:
        spec, answered = with_tests(draft.spec, tests)
        model_tests = [*draft.tests, *(t for t in answered if t not in draft.tests)]
    elif why:
        notes.append(f"{why}; the tests of {draft.name} are cartridge's own")
    description = draft.description
    if docs is not None:
        spec, description = with_docs(spec, docs), docs.description
    elif why:
        notes.append(f"{why}; the descriptions of {draft.name} are cartridge's own")
    return draft.model_copy(update={"spec": spec, "tests": model_tests, "description": description})
