"""The LLM planner: an outline of the models, then their specs, then tests and documentation, all checked by the seam.

Sources are declared deterministically, as every planner declares them (`declare_sources`): the model never writes
source YAML, it only describes the raw tables in the outline (and their columns through its staging
models' documentation). Every answer is validated by pydantic and then, placed with the drafts
accepted so far, by `plan_problems`; each problem goes back to the model. Staging specs come several
models per request (each reads only its raw table); the other specs are asked for one model at a time
as soon as their inputs are specified, concurrently (at most `concurrency` calls in flight); tests and
documentation come several models per request (`docs_tests.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from pydantic import BaseModel

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.errors import LLMAnswerError
from cartridge_bridge.planning.carried_transforms import project_transforms, raw_types, staging_findings
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.llm.answers import (
    ANSWER_OF_KIND,
    ANSWER_OF_OUTLINE_KIND,
    HistoryAnswer,
    KindAnswer,
    OutlineModel,
    PeriodicSnapshotAnswer,
    PlanOutline,
    SpecAnswer,
    StagingAnswer,
    StagingBatchAnswer,
    StagingEntry,
    UnionAnswer,
)
from cartridge_bridge.planning.llm.asking import AnswerRejected, AnswerT, Asker, Check, UnreadBatch
from cartridge_bridge.planning.llm.chat import ChatModel, LLMSettings, Phase
from cartridge_bridge.planning.llm.conditions import changed_condition_problems
from cartridge_bridge.planning.llm.conversion import (
    answer_inputs,
    incremental_problems,
    to_history_draft,
    to_snapshot_draft,
    to_spec,
    to_union_spec,
    union_answer_problems,
    union_grain_tests,
    with_incremental,
    with_source_docs,
)
from cartridge_bridge.planning.llm.docs_tests import DocsAndTests, Documented, pack
from cartridge_bridge.planning.llm.fallback import rules_instead
from cartridge_bridge.planning.llm.metrics import derived_models, without_repeated_metrics
from cartridge_bridge.planning.llm.outline import outline_problems
from cartridge_bridge.planning.llm.prompt_data import (
    KindTask,
    SpecTask,
    StagingBatchTask,
    StagingTask,
    TableFacts,
    TransformFact,
    convention_facts,
    date_columns,
    existing_model,
    orphaned_keys,
    planned_model,
    project_facts,
    version_key,
)
from cartridge_bridge.planning.llm.prompts import phase_messages
from cartridge_bridge.planning.llm.spec_task_facts import incremental_facts, split_columns, staged_relation
from cartridge_bridge.planning.placement import place
from cartridge_bridge.planning.plan import (
    SemanticModelSpec,
    StagingSpec,
    model_inputs,
    output_columns,
)
from cartridge_bridge.planning.planner import HistoryDraft, ModelDraft, PlanDraft, SnapshotDraft, SourceDraft
from cartridge_bridge.planning.problems import PlanProblem
from cartridge_bridge.planning.rules.column_docs import words
from cartridge_bridge.planning.rules.planner import (
    DeclaredSources,
    RulesPlanner,
    declare_sources,
    with_semantic_layer,
)
from cartridge_bridge.progress import Progress, SilentProgress
from cartridge_bridge.sql.naming import snake_case

# The models asked for one at a time (staging specs come in batches: `specify_staging`), by their kind.
_PHASE_OF_KIND: dict[str, Phase] = {
    "aggregate": "intermediate",
    "mart": "mart",
    "history": "history",
    "periodic_snapshot": "periodic_snapshot",
    "union": "union",
}
_REASON_LENGTH = 200  # characters of a model's reason for leaving a table out
# A history or a periodic snapshot: cartridge's own SQL from the model's answer, neither described nor repaired.
KindDraft = HistoryDraft | SnapshotDraft
AnyDraft = ModelDraft | KindDraft
Specified = AnyDraft | AnswerRejected  # a model's draft, or why its answers stayed wrong


class LLMPlanner:
    """Drafts the models for a context with a language model, through the ChatModel seam only."""

    def __init__(self, chat: ChatModel, settings: LLMSettings, progress: Progress | None = None):
        self.chat = chat
        self.settings = settings
        self.progress = progress or SilentProgress()
        self.name = f"llm:{settings.model}"

    def draft(self, context: ProjectContext) -> PlanDraft:
        """Sources as every planner declares them; staging, intermediate and mart models as the model designs them."""
        declared = declare_sources(context)
        if not declared.draft.sources:  # nothing new to model: no call
            return declared.draft
        return _Planning(self, context, declared).run()


@dataclass
class _Planning:
    """One run of the LLM planner over one context."""

    planner: LLMPlanner
    context: ProjectContext
    declared: DeclaredSources  # the tables to model, declared as sources and staged (see `declare_sources`)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.settings = self.planner.settings
        self.asker = Asker(self.planner.chat, self.settings.max_retries)
        self.tables: dict[str, SourceDraft] = {  # `<source>.<table>` → the source declaring it
            f"{s.spec.source_name}.{t.name}": s for s in self.declared.draft.sources for t in s.spec.tables
        }
        staging_names = {
            f"{m.spec.source_name}.{m.spec.table}": m.name
            for m in self.declared.draft.models
            if isinstance(m.spec, StagingSpec)
        }
        self.facts = project_facts(
            self.context,
            [s.spec for s in self.declared.draft.sources],
            staging_names,
            self.settings.share_samples,
            events={table for table, model in staging_names.items() if model in self.declared.event_models},
        )
        self.table_facts: dict[str, TableFacts] = {t.source_table: t for t in self.facts.raw_tables}
        self.conventions = convention_facts(self.context)
        self.transforms = project_transforms(self.context.existing, self.context.adapter_type)
        self.types = raw_types([s.spec for s in self.declared.draft.sources])
        self.sources: list[SourceDraft] = []
        # The tables whose key has a `history` of versions (not copies): what a history model may read.
        self.history_tables = {
            t.source_table
            for t in self.facts.raw_tables
            if t.key is not None and t.key.history is not None and not t.key.history.copies
        }
        self.kind_drafts: dict[str, KindDraft] = {}  # the histories and snapshots, once specified
        self.read_by_history: dict[str, str] = {}  # staging model → the history reading it

    @cached_property
    def rules(self) -> PlanDraft:
        """The rules planner's drafts, made only when `fallback: rules` asks for them in place of failed answers.

        Without type-2 histories: the outline chooses its own, and a fallback to the rules must fit the answers; so
        without the measures the requests do not offer, nor roll-ups reading marts by the rules' names.
        """
        planner = RulesPlanner(
            type2_histories=False, crossed_measures=False, rollups=False, owner_sequences=False
        )
        return planner.draft(self.context)

    def run(self) -> PlanDraft:
        self.planner.progress.step(f"{self.planner.name}: plan the models of {len(self.tables)} raw tables")
        try:
            outline = self.outline()
        except AnswerRejected as rejected:
            if self.settings.fallback != "rules":
                raise _gave_up(rejected) from None
            note = f"{rejected.line()}; the rules planner planned every table instead"
            return self.rules.model_copy(update={"skipped": [*self.rules.skipped, note]})
        self.sources = self.staged_sources(outline)
        self.read_by_history = {
            m.inputs[0]: m.name for m in outline.models if m.model_kind() == "history" and m.inputs
        }
        every, failed = self.specify_all(outline)
        specified = {n: d for n, d in every.items() if isinstance(d, ModelDraft)}
        self.kind_drafts = {n: d for n, d in every.items() if not isinstance(d, ModelDraft)}
        semantic = (
            derived_models(specified, self.sources, self.context) if self.context.semantic_models else {}
        )
        snapshot_drafts = {n: d for n, d in self.kind_drafts.items() if isinstance(d, SnapshotDraft)}
        documented = self.test_and_document(outline, {**specified, **snapshot_drafts}, semantic)
        models = [d for d in documented if isinstance(d, ModelDraft)]
        # A snapshot's measures and tests as the model documented them; histories keep their staging's words.
        self.kind_drafts |= {d.name: d for d in documented if isinstance(d, SnapshotDraft)}
        self.sources = with_source_docs(self.sources, outline, models)
        if failed:
            models += rules_instead(
                models, failed, outline, self.rules, self.context, self.sources, self.notes
            )
        # The rules' models of failed marts join the layer as the rules plan holds them; a time spine if none.
        histories, snapshots = self.documented_kinds(models)
        draft = with_semantic_layer(
            PlanDraft(
                sources=self.sources,
                models=models,
                skipped=[*self.declared.draft.skipped, *self.notes],
                histories=histories,
                snapshots=snapshots,
            ),
            self.context,
        )
        draft.skipped += without_repeated_metrics(
            [m.semantic_model for m in draft.models if m.semantic_model]
        )
        return draft  # placed and checked with every planner's (api.make_plan)

    def ask(
        self, phase: Phase, subject: str, task: BaseModel, answer_type: type[AnswerT], check: Check[AnswerT]
    ) -> AnswerT:
        """One typed answer for a task, re-asked until `check` finds nothing (or AnswerRejected)."""
        messages = phase_messages(phase, task, answer_type, self.context.adapter_type)
        return self.asker.ask(phase, subject, messages, answer_type, check)

    def outline(self) -> PlanOutline:
        names = list(self.tables)

        def check(outline: PlanOutline) -> list[str]:
            return [p.line() for p in outline_problems(outline, self.context, names, self.history_tables)]

        outline: PlanOutline = self.ask("plan", "the plan outline", self.facts, PlanOutline, check)
        for skipped in outline.skipped:
            table = self.table_facts[skipped.source_table]
            reason = " ".join(skipped.reason.split())[:_REASON_LENGTH]
            self.notes.append(f"{table.schema_name}.{table.identifier}: left out by the model: {reason}")
        return outline

    def staged_sources(self, outline: PlanOutline) -> list[SourceDraft]:
        """The rules' source drafts, declaring only the tables the outline stages."""
        staged = {m.source_table for m in outline.models if m.layer == "staging"}
        sources = []
        for source in self.declared.draft.sources:
            tables = [t for t in source.spec.tables if f"{source.spec.source_name}.{t.name}" in staged]
            if tables:
                spec = source.spec.model_copy(update={"tables": tables})
                sources.append(source.model_copy(update={"spec": spec}))
        return sources

    def specify_all(self, outline: PlanOutline) -> tuple[dict[str, AnyDraft], dict[str, str]]:
        """Each model's spec, as soon as its planned inputs have one; the models that failed, with why.

        Staging models read only their raw table, so they are asked for first, several per request within
        `batch_tokens`; every other model is asked for alone once its inputs are specified.
        """
        planned = {m.name for m in outline.models}
        staging = [m for m in outline.models if m.layer == "staging"]
        pending = [m for m in outline.models if m.layer != "staging"]
        done: dict[str, AnyDraft] = {}
        failed: dict[str, str] = {}
        with _pool(self.settings.concurrency) as pool:
            running: set[Future[dict[str, Specified]]] = set()
            for batch, task in pack(staging, self.staging_task, self.settings.batch_tokens):
                names = ", ".join(m.name for m in batch)
                self.planner.progress.step(
                    f"{self.planner.name}: specs of {len(batch)} staging models ({names})"
                )
                running.add(pool.submit(self.specify_staging, batch, task))
            while pending or running:
                for model in list(pending):
                    inputs = [i for i in model.inputs if i in planned]
                    lost = next((i for i in inputs if i in failed), None)
                    if lost is not None:
                        pending.remove(model)
                        failed[model.name] = f"{model.name}: its input {lost} could not be specified"
                    elif all(i in done for i in inputs):
                        pending.remove(model)
                        self.planner.progress.step(f"{self.planner.name}: spec of {model.name}")
                        running.add(pool.submit(self.specify_one, model, dict(done)))
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    running.discard(future)
                    for name, result in future.result().items():
                        if not isinstance(result, AnswerRejected):
                            done[name] = result
                        elif self.settings.fallback != "rules":
                            raise _gave_up(result) from None
                        else:
                            failed[name] = result.line()
        # In the outline's order, not the order concurrent answers came back in: later phases settle clashing
        # names first come, first served, and the same plan must ask the same questions on every run.
        position = {m.name: i for i, m in enumerate(outline.models)}
        return {n: done[n] for n in sorted(done, key=lambda n: (position.get(n, len(position)), n))}, failed

    def staging_task(self, batch: list[OutlineModel]) -> StagingBatchTask:
        """One staging request's data: each model's outline entry beside its raw table's facts."""
        tables = [self.table_facts[m.source_table or ""] for m in batch]
        named = {snake_case(c.name) for t in tables for c in t.columns}
        transforms = [
            TransformFact(column=t.column, expression=t.expression, models=list(t.models))
            for t in self.transforms.values()
            if t.problem is None and t.column in named
        ]
        return StagingBatchTask(
            adapter_type=self.context.adapter_type,
            models=[
                StagingTask(model=m, table=t, read_by_history=self.read_by_history.get(m.name))
                for m, t in zip(batch, tables, strict=True)
            ],
            conventions=self.conventions,
            project_transforms=transforms or None,
        )

    def specify_staging(self, batch: list[OutlineModel], task: StagingBatchTask) -> dict[str, Specified]:
        """The drafts of a batch of staging models, each entry checked alone; those that stayed wrong, rejected."""
        models = {m.name: m for m in batch}

        def check(name: str, entry: StagingEntry) -> list[str]:
            draft = self.spec_draft(models[name], staging_answer(entry), {})
            # A column the project converts (`amount / 100`) answered without the conversion is asked again.
            unconverted = (
                staging_findings(
                    name, draft.spec, self.transforms, self.context.adapter_type, self.types, True
                )
                if isinstance(draft.spec, StagingSpec)
                else []
            )
            keeps = (
                self.history_staging_problems(name, draft.spec) if isinstance(draft.spec, StagingSpec) else []
            )
            return self.problems(draft, []) + unconverted + keeps

        messages = phase_messages("staging", task, StagingBatchAnswer, self.context.adapter_type)
        try:
            accepted, rejected = self.asker.ask_batch(
                "staging",
                lambda name: f"the spec of {name}",
                messages,
                StagingBatchAnswer,
                StagingEntry,
                list(models),
                check,
                split=True,
            )
        except UnreadBatch:
            half = len(batch) // 2
            return {
                name: result
                for part in (batch[:half], batch[half:])
                for name, result in self.specify_staging(part, self.staging_task(part)).items()
            }
        drafts: dict[str, Specified] = {
            name: self.spec_draft(models[name], staging_answer(entry), {}) for name, entry in accepted.items()
        }
        return {**drafts, **rejected}

    def history_staging_problems(self, name: str, spec: StagingSpec) -> list[str]:
        """A staging model a history reads keeps every version, keyed on the key and the version columns:
        de-duplicated, the history would date nothing; filtered, it would lose the versions that end a key;
        keyed on the key alone, its grain tests would fail."""
        if name not in self.read_by_history:
            return []
        history = self.read_by_history[name]
        table = self.table_facts.get(f"{spec.source_name}.{spec.table}")
        versions = version_key(spec, table) if table else None
        lines = []
        if spec.deduplicate is not None:
            lines.append(
                f"{name}: deduplicate: {history} is the history of this table and needs every version "
                "(expected null)"
            )
        if spec.filter is not None:
            # A deleted version ends its key's life in the history; the current-state model drops the key.
            lines.append(
                f"{name}: filter: {history} is the history of this table and keeps every version, deleted ones "
                "too; the model reading the current state leaves deleted keys out (expected null)"
            )
        if versions is not None and not {*versions.key, *versions.version_columns} <= set(spec.grain):
            expected = ", ".join([*versions.key, *versions.version_columns])
            lines.append(f"{name}: grain: it keeps every version for {history} (expected [{expected}])")
        return lines

    def specify_one(self, model: OutlineModel, accepted: dict[str, AnyDraft]) -> dict[str, Specified]:
        """One model's draft by its name, or why it stayed wrong."""
        try:
            return {model.name: self.specify(model, accepted)}
        except AnswerRejected as rejected:
            return {model.name: rejected}

    def specify(self, model: OutlineModel, accepted: dict[str, AnyDraft]) -> AnyDraft:
        """One intermediate or mart model's spec, checked with the drafts accepted so far."""
        if model.model_kind() in ANSWER_OF_OUTLINE_KIND:
            return self.specify_kind(model, accepted)
        task = SpecTask(
            model=model,
            adapter_type=self.context.adapter_type,
            inputs=[
                planned_model(n, accepted[n].spec) if n in accepted else existing_model(n, self.context)
                for n in model.inputs
            ],
            conventions=self.conventions,
        )
        self.add_column_facts(task, accepted)
        for facts in task.inputs:
            staged = accepted[facts.name].spec if facts.name in accepted else None
            table = (
                self.table_facts.get(f"{staged.source_name}.{staged.table}")
                if isinstance(staged, StagingSpec)
                else None
            )
            if isinstance(staged, StagingSpec) and table is not None:
                facts.orphaned_keys = orphaned_keys(staged, table)

        def check(answer: SpecAnswer) -> list[str]:
            lines = [
                f"{model.name}: inputs: {name!r} is not an input of this model in the outline "
                f"(expected one of: {', '.join(model.inputs)})"
                for name in answer_inputs(answer)
                if name not in model.inputs
            ]
            lines += incremental_problems(model, answer)
            return lines + self.problems(self.spec_draft(model, answer, accepted), accepted.values())

        kind = model.model_kind()  # an aggregate, or a mart (an intermediate one: a history's current state)
        answer = self.ask(
            _PHASE_OF_KIND[kind], f"the spec of {model.name}", task, ANSWER_OF_KIND[kind], check
        )
        return self.spec_draft(model, answer, accepted)

    def add_column_facts(self, task: SpecTask, accepted: dict[str, AnyDraft]) -> None:
        """An intermediate's input's statuses and flags, and a fact's growing column when its base table is big."""
        model = task.model
        first = model.inputs[0] if model.inputs else None
        draft = accepted.get(first) if first else None
        if first is None or not isinstance(draft, ModelDraft):  # a history or a snapshot: cartridge's own SQL
            return
        relation = staged_relation(self.context, draft.spec, self.table_facts)
        if model.layer == "intermediate":
            task.split_columns = (
                split_columns(first, draft.spec, relation, self.settings.share_samples) or None
            )
        elif model.layer == "marts":
            task.incremental = incremental_facts(model, first, draft.spec, relation, self.context)

    def specify_kind(self, model: OutlineModel, accepted: dict[str, AnyDraft]) -> AnyDraft:
        """A history's, a periodic snapshot's or a union's spec, checked with the drafts accepted so far."""
        kind = model.model_kind()
        specs = {n: accepted[n].spec for n in model.inputs if n in accepted}
        task = KindTask(
            model=model,
            adapter_type=self.context.adapter_type,
            inputs=[
                planned_model(n, specs[n]) if n in specs else existing_model(n, self.context)
                for n in model.inputs
            ],
            conventions=self.conventions,
        )
        staging = specs.get(model.inputs[0]) if model.inputs else None
        if kind == "history" and isinstance(staging, StagingSpec):
            table = self.table_facts.get(f"{staging.source_name}.{staging.table}")
            task.history_key = version_key(staging, table) if table else None
        if kind == "periodic_snapshot":
            task.date_columns = date_columns(specs, self.table_facts)

        def check(answer: KindAnswer) -> list[str]:
            lines = [
                f"{model.name}: {field}: {name!r} is not an input of this model in the outline "
                f"(expected one of: {', '.join(model.inputs)})"
                for field, name in _kind_inputs(answer)
                if name not in model.inputs
            ]
            if isinstance(answer, UnionAnswer):
                lines += union_answer_problems(model.name, answer)
            if lines:
                return lines
            return self.problems(self.kind_draft(model, answer, accepted), accepted.values())

        answer = self.ask(
            _PHASE_OF_KIND[kind], f"the spec of {model.name}", task, ANSWER_OF_OUTLINE_KIND[kind], check
        )
        return self.kind_draft(model, answer, accepted)

    def kind_draft(self, model: OutlineModel, answer: KindAnswer, accepted: dict[str, AnyDraft]) -> AnyDraft:
        """The draft of a history, a periodic snapshot or a union from its outline entry and its answer."""
        if isinstance(answer, HistoryAnswer):
            source = accepted[model.inputs[0]].spec
            assert isinstance(source, StagingSpec)  # the outline's check: a history reads a staging model
            return to_history_draft(answer, model.name, model.inputs[0], source, words(source.entity))
        if isinstance(answer, PeriodicSnapshotAnswer):
            return to_snapshot_draft(answer, model.name, model.description)
        spec = to_union_spec(answer)
        return ModelDraft(
            name=model.name,
            layer=model.layer,
            description=model.description,
            spec=spec,
            tests=union_grain_tests(spec, []),
            materialized=model.materialized,
        )

    def documented_kinds(self, models: list[ModelDraft]) -> tuple[list[HistoryDraft], list[SnapshotDraft]]:
        """The histories with their carried columns described as their staging model's documentation says, and
        the snapshots, in outline order."""
        described = {m.name: {c.name: c.description for c in output_columns(m.spec)} for m in models}
        histories, snapshots = [], []
        for draft in self.kind_drafts.values():
            if isinstance(draft, SnapshotDraft):
                snapshots.append(draft)
                continue
            docs = described.get(draft.spec.from_model, {})
            columns = [
                c.model_copy(update={"description": docs.get(c.name) or c.description})
                for c in draft.spec.columns
            ]
            histories.append(
                draft.model_copy(update={"spec": draft.spec.model_copy(update={"columns": columns})})
            )
        return histories, snapshots

    def spec_draft(
        self, model: OutlineModel, answer: SpecAnswer, accepted: dict[str, AnyDraft]
    ) -> ModelDraft:
        """The draft of a model from its outline entry and its spec answer."""
        source = None
        raw_types: dict[str, str] = {}
        if model.source_table is not None:
            source = (self.tables[model.source_table].spec.source_name, model.source_table.split(".", 1)[1])
            raw_types = {c.name: c.data_type for c in self.table_facts[model.source_table].columns}
        input_types = {
            name: {c.name: c.data_type for c in output_columns(draft.spec) if c.data_type}
            for name, draft in accepted.items()
        }
        spec = to_spec(
            answer,
            source_table=source,
            raw_types=raw_types,
            from_model=model.inputs[0] if model.inputs else None,
            role=model.role or "fact",
            input_types=input_types,
        )
        draft = ModelDraft(
            name=model.name,
            layer=model.layer,
            description=model.description,
            spec=spec,
            materialized=model.materialized,
        )
        return with_incremental(draft, answer)

    def problems(self, draft: AnyDraft, others: Iterable[AnyDraft]) -> list[str]:
        """The lines of `draft_problems`."""
        return [p.line() for p in self.draft_problems(draft, others)]

    def draft_problems(self, draft: AnyDraft, others: Iterable[AnyDraft]) -> list[PlanProblem]:
        """What `plan_problems` finds in one draft, placed with the sources and the others it reads or tests.

        Only this draft's problems count (names, cycles and files across the plan are the outline's), so the
        models it does not name are left out: checking each answer stays as cheap as the answer, not the plan.
        """
        named = set(model_inputs(draft.spec)) | {
            t.to for c in output_columns(draft.spec) for t in c.tests if t.to is not None
        }
        # The histories and snapshots specified so far, when the draft reads one (a mart on a history).
        related = [d for d in [*others, *self.kind_drafts.values()] if d.name in named]
        related = list({d.name: d for d in [*related, draft]}.values())
        placed = place(
            PlanDraft(
                sources=self.sources,
                models=[d for d in related if isinstance(d, ModelDraft)],
                histories=[d for d in related if isinstance(d, HistoryDraft)],
                snapshots=[d for d in related if isinstance(d, SnapshotDraft)],
            ),
            self.context,
            self.planner.name,
        )
        found = [p for p in plan_problems(placed, self.context) if p.action == draft.name]
        return found + changed_condition_problems(draft, self.context.adapter_type)

    def test_and_document(
        self, outline: PlanOutline, specified: dict[str, Documented], semantic: dict[str, SemanticModelSpec]
    ) -> list[Documented]:
        """Every specified model and snapshot with its tests and descriptions (a mart's metrics too), several
        models per request, asked concurrently."""
        order = [m for m in outline.models if m.name in specified]
        phase = DocsAndTests(
            asker=self.asker,
            context=self.context,
            table_facts=self.table_facts,
            existing_targets=[existing_model(n, self.context) for n in self.existing_targets()],
            key_owners=self.facts.existing_key_owners,
            conventions=self.conventions,
            problems=self.draft_problems,
            fallback=self.settings.fallback == "rules",
            notes=self.notes,
            semantic=semantic,
        )
        batches = phase.batches(order, specified, self.settings.batch_tokens)
        if order:
            self.planner.progress.step(
                f"{self.planner.name}: tests and documentation of {len(order)} models in {len(batches)} requests"
            )
        with _pool(self.settings.concurrency) as pool:
            asked = [pool.submit(phase.ask, batch, task, specified) for batch, task in batches]
            results = {name: result for future in asked for name, result in future.result().items()}
        try:
            return [phase.finished(m, specified[m.name], results[m.name], specified) for m in order]
        except AnswerRejected as rejected:
            raise _gave_up(rejected) from None

    def existing_targets(self) -> list[str]:
        """Existing models a relationships test may point at: those that own a key."""
        owners = self.facts.existing_key_owners
        return sorted({n for o in owners for n in (o.staging, o.mart) if n is not None})


@contextmanager
def _pool(concurrency: int) -> Iterator[ThreadPoolExecutor]:
    """Threads for `concurrency` calls; when the block fails, queued calls are cancelled, those in flight awaited."""
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def staging_answer(entry: StagingEntry) -> StagingAnswer:
    """A staging entry of a batch answer as the spec answer it holds (without the model's name)."""
    return StagingAnswer.model_validate(entry.model_dump(exclude={"model"}))


def _gave_up(rejected: AnswerRejected) -> LLMAnswerError:
    return LLMAnswerError(f"the LLM planner gave up: {rejected.line()}; nothing was written")


def _kind_inputs(answer: KindAnswer) -> list[tuple[str, str]]:
    """The models a snapshot or a union answer names, each with its field (a history's is the outline's)."""
    if isinstance(answer, UnionAnswer):
        return [(f"inputs[{i}].model", branch.model) for i, branch in enumerate(answer.inputs)]
    if isinstance(answer, PeriodicSnapshotAnswer):
        return (
            [("event_model", answer.event_model)]
            + ([("entity.model", answer.entity.model)] if answer.entity else [])
            + ([("state.model", answer.state.model)] if answer.state else [])
        )
    return []
