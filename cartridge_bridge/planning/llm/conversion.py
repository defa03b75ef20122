"""Answers to plan specs and back: fill in what code derives, keep what the model decided."""

from __future__ import annotations

import re
from textwrap import shorten
from typing import Literal, TypeVar, cast

from cartridge_bridge.planning.llm.answers import (
    REASON_LENGTH,
    AggregateAnswer,
    AggregateColumn,
    ColumnDoc,
    ColumnTest,
    ColumnTests,
    ConditionalAggregateAnswer,
    DataTestsAnswer,
    DeduplicateAnswer,
    DocsAnswer,
    ExpressionColumn,
    HistoryAnswer,
    JoinAnswer,
    LatestFirst,
    MartAnswer,
    ModelDocsAndTests,
    ModelTestAnswer,
    OutlineModel,
    PeriodicSnapshotAnswer,
    PlanOutline,
    SpecAnswer,
    StagingAnswer,
    StagingColumn,
    UnionAnswer,
)
from cartridge_bridge.planning.plan import (
    HISTORY_COLUMNS,
    AggregateSpec,
    ColumnSpec,
    ConditionalAggregate,
    DataTest,
    Deduplicate,
    HistorySpec,
    IncrementalConfig,
    MartJoin,
    MartSpec,
    ModelSpec,
    ModelTest,
    OrderBy,
    PeriodicSnapshotSpec,
    SnapshotEntity,
    SnapshotMeasure,
    SnapshotState,
    SpineBounds,
    StagingSpec,
    UnionInput,
    UnionSpec,
    output_columns,
)
from cartridge_bridge.planning.planner import HistoryDraft, ModelDraft, SnapshotDraft, SourceDraft
from cartridge_bridge.planning.rules.histories import history_draft
from cartridge_bridge.planning.rules.measures import is_loader_column
from cartridge_bridge.planning.rules.snapshots import DAY_COLUMN
from cartridge_bridge.planning.spec_checks import data_test_identity

_PASS_THROUGH = re.compile(r"(?:([a-z_][a-z0-9_]*)\.)?([a-z_][a-z0-9_]*)")
# What the tests-and-documentation phase describes: the models cartridge writes from a spec, and the snapshots.
DocumentedSpec = ModelSpec | PeriodicSnapshotSpec
SpecT = TypeVar("SpecT", bound=DocumentedSpec)


def answer_inputs(answer: SpecAnswer) -> list[str]:
    """The models a mart answer selects from (staging and aggregate inputs come from the outline)."""
    if isinstance(answer, MartAnswer):
        return [answer.base_model, *(join.model for join in answer.joins)]
    return []


def to_spec(
    answer: SpecAnswer,
    *,
    source_table: tuple[str, str] | None = None,
    raw_types: dict[str, str] | None = None,
    from_model: str | None = None,
    role: Literal["dimension", "fact"] = "fact",
    input_types: dict[str, dict[str, str]] | None = None,
) -> ModelSpec:
    """The plan's spec for an answer; descriptions stay empty until the documentation phase fills them.

    `source_table` and `raw_types` serve staging answers, `from_model` aggregates, `role` marts;
    `input_types` (model → column → type) documents the type of columns that pass an input's column through.
    """
    if isinstance(answer, StagingAnswer):
        assert source_table is not None
        raw = raw_types or {}
        columns = [
            ColumnSpec(
                name=c.name,
                source_column=c.source_column,
                cast_to=c.cast_to,
                expression=c.expression,
                data_type=c.cast_to or (raw.get(c.source_column) if c.source_column else None),
                description="",
            )
            for c in answer.columns
        ]
        return StagingSpec(
            source_name=source_table[0],
            table=source_table[1],
            entity=answer.entity,
            grain=answer.grain,
            columns=columns,
            filter=answer.filter,
            deduplicate=_deduplicate(answer),
        )
    types = input_types or {}
    if isinstance(answer, AggregateAnswer):
        assert from_model is not None
        scope: dict[str | None, dict[str, str]] = {None: types.get(from_model, {})}
        return AggregateSpec(
            from_model=from_model,
            group_by=answer.group_by,
            columns=[_aggregate_column(c, scope) for c in answer.columns],
            filter=answer.filter,
        )
    aliases = {answer.base_alias: answer.base_model, **{j.alias: j.model for j in answer.joins}}
    mart_scope: dict[str | None, dict[str, str]] = {a: types.get(m, {}) for a, m in aliases.items()}
    return MartSpec(
        role=role,
        base_model=answer.base_model,
        base_alias=answer.base_alias,
        grain=answer.grain,
        columns=[_expression_column(c, mart_scope) for c in answer.columns],
        joins=[
            MartJoin(
                model=j.model,
                alias=j.alias,
                join_type=j.join_type,
                on=j.on,
                columns=[_expression_column(c, mart_scope) for c in j.columns],
            )
            for j in answer.joins
        ],
        filter=answer.filter,
    )


def with_incremental(draft: ModelDraft, answer: SpecAnswer) -> ModelDraft:
    """The draft built incrementally when its mart answer asks: replaced on its grain, filtered on the growing
    column (the plan checks judge the column; `incremental_problems` the rest)."""
    if not isinstance(answer, MartAnswer) or answer.incremental is None:
        return draft
    config = IncrementalConfig(
        column=answer.incremental.column, lookback_days=answer.incremental.lookback_days
    )
    return draft.model_copy(
        update={"materialized": "incremental", "unique_key": list(answer.grain), "incremental": config}
    )


def incremental_problems(model: OutlineModel, answer: SpecAnswer) -> list[str]:
    """Why a mart answer cannot be incremental: only a fact reading its base model alone is (a joined model's
    columns of an old row would go stale, as that row is never read again)."""
    if not isinstance(answer, MartAnswer) or answer.incremental is None:
        return []
    where = f"{model.name}: incremental"
    if model.role != "fact":
        return [
            f"{where}: only a fact is incremental, and this mart is a {model.role} (expected: no incremental)"
        ]
    if answer.joins:
        return [
            f"{where}: a fact with joins is rebuilt whole, as a joined row may change (expected: no joins)"
        ]
    return []


def _deduplicate(answer: StagingAnswer) -> Deduplicate | None:
    """The answer's de-duplication over output columns: a raw column named there is read as the output column
    staging renames it to (`id` → `account_id`), as a model naturally writes the key it saw in the data."""
    if answer.deduplicate is None:
        return None
    outputs = {c.name for c in answer.columns}
    renamed = {
        c.source_column: c.name for c in answer.columns if c.source_column and c.source_column not in outputs
    }

    def output(name: str) -> str:
        return renamed.get(name, name)  # anything else stays as written: the spec checks name it

    return Deduplicate(
        partition_by=[output(n) for n in answer.deduplicate.partition_by],
        order_by=[
            OrderBy(column=output(o.column), descending=o.descending) for o in answer.deduplicate.order_by
        ],
    )


def _expression_column(column: ExpressionColumn, scope: dict[str | None, dict[str, str]]) -> ColumnSpec:
    """A column of an aggregate or mart, typed when it passes an input's typed column through."""
    data_type = None
    found = _PASS_THROUGH.fullmatch(column.expression.strip())
    if found:
        alias, name = found.groups()
        data_type = scope.get(alias, {}).get(name)
    return ColumnSpec(name=column.name, expression=column.expression, data_type=data_type, description="")


def _aggregate_column(column: AggregateColumn, scope: dict[str | None, dict[str, str]]) -> ColumnSpec:
    """A column of an aggregate: an expression, or a conditional aggregate as the plan's own form (the plan checks
    refuse a column with both, or neither)."""
    if column.aggregate is None and column.expression is not None:
        return _expression_column(ExpressionColumn(name=column.name, expression=column.expression), scope)
    aggregate = None
    if column.aggregate is not None:
        aggregate = ConditionalAggregate.model_validate(column.aggregate.model_dump())
    return ColumnSpec(name=column.name, expression=column.expression, aggregate=aggregate, description="")


def to_answer(spec: ModelSpec) -> SpecAnswer:
    """A spec in the form a model answers it: what the repairer shows as the spec to correct."""
    if isinstance(spec, UnionSpec):  # the repairer routes a union's failures to the user: no answer form yet
        raise ValueError("a union has no answer form")
    if isinstance(spec, StagingSpec):
        return StagingAnswer(
            entity=spec.entity,
            grain=spec.grain,
            columns=[
                StagingColumn(
                    name=c.name, source_column=c.source_column, cast_to=c.cast_to, expression=c.expression
                )
                for c in spec.columns
            ],
            filter=spec.filter,
            deduplicate=DeduplicateAnswer(
                partition_by=spec.deduplicate.partition_by,
                order_by=[
                    LatestFirst(column=o.column, descending=o.descending) for o in spec.deduplicate.order_by
                ],
            )
            if spec.deduplicate
            else None,
        )
    if isinstance(spec, AggregateSpec):
        return AggregateAnswer(
            group_by=spec.group_by,
            columns=[
                AggregateColumn(
                    name=c.name,
                    expression=c.expression,
                    aggregate=ConditionalAggregateAnswer.model_validate(c.aggregate.model_dump())
                    if c.aggregate
                    else None,
                )
                for c in spec.columns
            ],
            filter=spec.filter,
        )
    return MartAnswer(
        base_model=spec.base_model,
        base_alias=spec.base_alias,
        grain=spec.grain,
        columns=[ExpressionColumn(name=c.name, expression=c.expression or "") for c in spec.columns],
        joins=[
            JoinAnswer(
                model=j.model,
                alias=j.alias,
                join_type=j.join_type,
                on=j.on,
                columns=[ExpressionColumn(name=c.name, expression=c.expression or "") for c in j.columns],
            )
            for j in spec.joins
        ],
        filter=spec.filter,
    )


def with_tests(spec: SpecT, answer: DataTestsAnswer) -> tuple[SpecT, list[ModelTest]]:
    """A copy of the spec whose columns carry the answer's tests, and the answer's model tests."""
    tested = cast(SpecT, spec.model_copy(deep=True))  # mypy loses Self on a TypeVar bound to a union
    by_column: dict[str, list[DataTest]] = {}
    for entry in answer.columns:
        by_column.setdefault(entry.column, []).extend(
            DataTest(
                name=t.name,
                to=t.to,
                field=t.field,
                values=t.values,
                severity=t.severity or "error",
                # The model's reason for a test kept at warn, in the test's meta as a repair's would be.
                relaxed_reason=" ".join(t.reason.split()) if t.reason else None,
            )
            for t in entry.tests
        )
    for column in output_columns(tested):
        # A model may list a test twice (`not_null` on a key column and again with its grain): dbt would refuse
        # the project at parse, and the second says nothing the first does not.
        distinct: dict[tuple[object, ...], DataTest] = {}
        for test in by_column.get(column.name, []):
            distinct.setdefault(data_test_identity(test), test)
        column.tests = list(distinct.values())
    model_tests = [
        ModelTest(name=t.name, columns=t.columns, expression=t.expression) for t in answer.model_tests
    ]
    if isinstance(tested, UnionSpec):  # a union's grain is always tested: its check refuses it untested
        model_tests = union_grain_tests(tested, model_tests)
    return tested, model_tests


def column_test(test: DataTest) -> ColumnTest:
    """A planned column test as a model answers it: at warn with its reason (the model's, else cartridge's note)."""
    reason = None
    if test.severity == "warn":
        # Never empty, never past the answer's limit: a plan written by hand may relax a test without a word.
        reason = shorten(test.relaxed_reason or test.note or "the data fails this test", REASON_LENGTH)
    return ColumnTest(
        name=test.name,
        to=test.to,
        field=test.field,
        values=test.values,
        severity="warn" if reason else None,
        reason=reason,
    )


def data_tests_answer(spec: ModelSpec, model_tests: list[ModelTest]) -> DataTestsAnswer:
    """A model's tests in the form a model answers them."""
    return DataTestsAnswer(
        columns=[
            ColumnTests(
                column=c.name,
                tests=[column_test(t) for t in c.tests],
            )
            for c in output_columns(spec)
            if c.tests
        ],
        model_tests=[
            ModelTestAnswer(name=t.name, columns=t.columns, expression=t.expression)
            for t in model_tests
            # A history's overlap test is cartridge's own, never the model's to answer (histories are not repaired).
            if t.name != "versions_do_not_overlap"
        ],
    )


def split_docs_tests(entry: ModelDocsAndTests) -> tuple[DataTestsAnswer, DocsAnswer]:
    """A model's entry of a documentation-and-tests answer as its tests and its documentation."""
    tests = DataTestsAnswer(
        columns=[ColumnTests(column=c.name, tests=c.tests) for c in entry.columns if c.tests],
        model_tests=entry.model_tests,
    )
    docs = DocsAnswer(
        description=entry.description,
        columns=[ColumnDoc(name=c.name, description=c.description) for c in entry.columns],
    )
    return tests, docs


def with_docs(spec: SpecT, answer: DocsAnswer) -> SpecT:
    """A copy of the spec whose columns carry the answer's descriptions."""
    documented = cast(SpecT, spec.model_copy(deep=True))
    descriptions = {c.name: c.description for c in answer.columns}
    for column in output_columns(documented):
        column.description = descriptions.get(column.name, column.description)
    return documented


def with_source_docs(
    sources: list[SourceDraft], outline: PlanOutline, models: list[ModelDraft]
) -> list[SourceDraft]:
    """Sources described as the model described them: each table as the outline says, each column as its staging
    column's documentation says; the rules' wording stays where the model said nothing."""
    tables = {t.source_table: " ".join(t.description.split()) for t in outline.source_tables}
    staged = {
        (m.spec.source_name, m.spec.table): {
            c.source_column: c.description for c in m.spec.columns if c.source_column
        }
        for m in models
        if isinstance(m.spec, StagingSpec)
    }
    described = []
    for source in sources:
        spec = source.spec.model_copy(deep=True)
        for table in spec.tables:
            table.description = tables.get(f"{spec.source_name}.{table.name}") or table.description
            columns = staged.get((spec.source_name, table.name), {})
            for column in table.columns:
                column.description = columns.get(column.name) or column.description
        described.append(source.model_copy(update={"spec": spec}))
    return described


def unknown_columns(spec: DocumentedSpec, names: list[str], what: str) -> list[str]:
    """A problem line for each name that is not an output column of the spec."""
    outputs = [c.name for c in output_columns(spec)]
    return [
        f"{what}[{name}]: {name!r} is not an output column of this model (expected one of: {', '.join(outputs)})"
        for name in names
        if name not in outputs
    ]


def union_grain_tests(spec: UnionSpec, tests: list[ModelTest]) -> list[ModelTest]:
    """The tests with a unique_combination_of_columns test of the union's grain, added when none is there."""
    if not spec.grain or any(
        t.name == "unique_combination_of_columns" and set(t.columns) == set(spec.grain) for t in tests
    ):
        return tests
    return [*tests, ModelTest(name="unique_combination_of_columns", columns=spec.grain)]


def to_union_spec(answer: UnionAnswer) -> UnionSpec:
    """A union answer as the plan's union; descriptions stay empty until the documentation phase fills them."""
    return UnionSpec(
        inputs=[
            UnionInput(model=i.model, label=i.label, columns={m.column: m.expression for m in i.columns})
            for i in answer.inputs
        ],
        source_column=answer.source_column,
        columns=[ColumnSpec(name=c.name, data_type=c.data_type, description="") for c in answer.columns],
        grain=answer.grain,
    )


def union_answer_problems(model: str, answer: UnionAnswer) -> list[str]:
    """What the plan's union cannot show once converted: an output column one input maps twice."""
    lines = []
    for index, branch in enumerate(answer.inputs):
        names = [m.column for m in branch.columns]
        lines += [
            f"{model}: inputs[{index}].columns[{name}]: mapped twice (expected one expression per column)"
            for name in sorted({n for n in names if names.count(n) > 1})
        ]
    return lines


def to_history_draft(
    answer: HistoryAnswer, name: str, from_model: str, input_spec: ModelSpec, entity: str
) -> HistoryDraft:
    """A history answer as the rules planner drafts a history: the input's columns carried (not a loader's),
    its grain and overlap tests, cartridge's description."""
    spec = HistorySpec(
        from_model=from_model,
        entity_key=answer.entity_key,
        valid_from=answer.valid_from,
        valid_to=answer.valid_to,
        tie_breaker=[OrderBy(column=o.column, descending=o.descending) for o in answer.tie_breaker],
        columns=[],
    )
    carried = [c for c in output_columns(input_spec) if not is_loader_column(c)]
    typed = [c.model_copy(update={"data_type": c.cast_to or c.data_type}) for c in carried]
    return history_draft(name, spec, typed, entity)


def to_snapshot_draft(answer: PeriodicSnapshotAnswer, name: str, description: str) -> SnapshotDraft:
    """A periodic snapshot answer as the plan's snapshot: its spine bounded by the event time's first and last
    values, a daily one's period column named as the rules name it, its grain tested when an entity crosses it."""
    spec = PeriodicSnapshotSpec(
        period=answer.period,
        period_column=DAY_COLUMN if answer.period == "day" else "period_start",
        # A week's or month's last day beside its first: balances and running totals are asked "at each
        # month-end", and a query must not compute the date.
        period_end_column=None if answer.period == "day" else "period_last_day",
        bounds=SpineBounds(model=answer.event_model, column=answer.event_time, end=answer.end),
        event_model=answer.event_model,
        event_time=answer.event_time,
        event_filter=answer.event_filter,
        entity=SnapshotEntity(
            model=answer.entity.model,
            columns=answer.entity.columns,
            event_columns=answer.entity.event_columns,
        )
        if answer.entity
        else None,
        measures=[
            SnapshotMeasure(
                name=m.name,
                expression=m.expression,
                description=" ".join(m.description.split()),
                when_no_event=m.when_no_event,
            )
            for m in answer.measures
        ],
        state=SnapshotState(
            model=answer.state.model,
            valid_from=HISTORY_COLUMNS[0],
            valid_to=HISTORY_COLUMNS[1],
            key_columns=answer.state.key_columns,
            columns=[
                ColumnSpec(name=c.name, expression=c.expression, description=" ".join(c.description.split()))
                for c in answer.state.columns
            ],
        )
        if answer.state
        else None,
    )
    tests = [ModelTest(name="unique_combination_of_columns", columns=spec.grain)] if spec.entity else []
    return SnapshotDraft(name=name, description=description, spec=spec, tests=tests)
