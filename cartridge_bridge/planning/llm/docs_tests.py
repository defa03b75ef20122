"""Documentation and data tests of the specified models: several models per request, within a token budget.

A request's data lists its models whole (each staging column once, beside its raw column's facts) and,
once for all of them, the other models a relationships test may point at (by their grain) and the
project's conventions. Models are packed in outline order until the data's
estimated tokens would pass `batch_tokens`; a model over the budget on its own is asked for alone. Each
model's entry in the answer is checked alone: a good one is kept, a bad one is asked for again with its
problems, and one that stays wrong falls back (with `fallback: rules`) for the part that stayed wrong.
An answer in which no entry can be read (cut off at the model's output limit, say) is not re-asked as
it was: its batch is asked for again in two halves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from cartridge_bridge.context.key_owners import KeyOwner
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.llm.answers import (
    DataTestsAnswer,
    DocsAndTestsAnswer,
    DocsAnswer,
    ModelDocsAndTests,
    OutlineModel,
)
from cartridge_bridge.planning.llm.asking import AnswerRejected, Asker, UnreadBatch
from cartridge_bridge.planning.llm.conversion import split_docs_tests, unknown_columns, with_docs, with_tests
from cartridge_bridge.planning.llm.fallback import docs_fallback, tests_fallback
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
from cartridge_bridge.planning.plan import output_columns
from cartridge_bridge.planning.planner import ModelDraft

CHARS_PER_TOKEN = 4  # a cheap, model-free estimate; the budget is a target, not a context limit
ItemT = TypeVar("ItemT")
TaskT = TypeVar("TaskT", bound=BaseModel)
Result = ModelDocsAndTests | AnswerRejected
DraftProblems = Callable[[ModelDraft, Iterable[ModelDraft]], list[str]]


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


def docs_problems(draft: ModelDraft, docs: DocsAnswer) -> list[str]:
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

    def batches(
        self, order: list[OutlineModel], specified: dict[str, ModelDraft], budget: int
    ) -> list[tuple[list[OutlineModel], DocsTestsTask]]:
        """The models in outline order, packed into requests within the budget."""
        return pack(order, lambda batch: self.task(batch, specified), budget)

    def task(self, batch: list[OutlineModel], specified: dict[str, ModelDraft]) -> DocsTestsTask:
        """One request's data: its models whole; the other models by their grain, what a relationships test
        points at (the data of every request grows by a name and a key per model of the plan, no more)."""
        names = {m.name for m in batch}
        # In name order, not the order concurrent specs finished in: the same plan must ask the same question
        # (the answer cache is keyed by the prompt, and a re-run must reproduce the same files).
        others = sorted((d for n, d in specified.items() if n not in names), key=lambda d: d.name)
        return DocsTestsTask(
            models_to_describe=[
                described_model(m, specified[m.name].spec, self.table_facts.get(m.source_table or ""))
                for m in batch
            ],
            other_models=[ModelKey(name=d.name, grain=grain_of(d.spec)) for d in others]
            + self.existing_targets,
            existing_key_owners=self.key_owners,
            conventions=self.conventions,
        )

    def ask(
        self, batch: list[OutlineModel], task: DocsTestsTask, specified: dict[str, ModelDraft]
    ) -> dict[str, Result]:
        """Each model's accepted entry, or why it stayed wrong."""
        messages = phase_messages("docs_tests", task, DocsAndTestsAnswer, self.context.adapter_type)

        def check(name: str, entry: ModelDocsAndTests) -> list[str]:
            tests, docs = split_docs_tests(entry)
            lines = self.tests_problems(specified[name], tests, specified)
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
        self, draft: ModelDraft, tests: DataTestsAnswer, specified: dict[str, ModelDraft]
    ) -> list[str]:
        """A model's tests, placed with every other specified model they may point at."""
        lines = unknown_columns(draft.spec, [c.column for c in tests.columns], "columns")
        spec, model_tests = with_tests(draft.spec, tests)
        tested = draft.model_copy(update={"spec": spec, "tests": model_tests})
        others = [d for n, d in specified.items() if n != draft.name]
        return lines + self.problems(tested, others)

    def finished(
        self, model: OutlineModel, draft: ModelDraft, result: Result, specified: dict[str, ModelDraft]
    ) -> ModelDraft:
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
        if tests is not None:
            spec, model_tests = with_tests(draft.spec, tests)
        else:
            (spec, model_tests), instead = tests_fallback(draft, self.context)
            self.notes.append(f"{why}; {instead}")
        if docs is None:
            docs, instead = docs_fallback(draft, self.table_facts.get(model.source_table or ""))
            self.notes.append(f"{why}; {instead}")
        return draft.model_copy(
            update={"spec": with_docs(spec, docs), "tests": model_tests, "description": docs.description}
        )
