"""What the repair prompt says about a data test that failed on the data: the test, dbt's count, and profile counts.

Nothing is queried for it: the failing-row count is dbt's, and the counts of the columns involved are the
gathered profile's, of the raw column a model's column passes through (a staging column's `source_column`,
followed through `alias.column` expressions of aggregates and marts). Values (min, max, top values) go in
only with `share_samples`, as everywhere else.
"""

from __future__ import annotations

import re

from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.llm.prompt_data import ColumnCounts, FailingTestFacts, column_stats
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    DataTest,
    ExecutionPlan,
    MartSpec,
    ModelTest,
    SourceSpec,
    StagingSpec,
    output_columns,
)
from cartridge_bridge.verify.failures import BuildFailure

_PASS_THROUGH = re.compile(r"\s*(?:([a-z_][a-z0-9_]*)\.)?([a-z_][a-z0-9_]*)\s*")
_DEPTH = 8  # models followed back towards the raw column; a plan's chains are shorter

# What dbt counts as a failing row of each generic test (its SQL selects these).
_COUNTED = {
    "unique": "values of the column found on more than one row",
    "not_null": "rows where the column is null",
    "accepted_values": "distinct values of the column outside `values`",
    "relationships": "rows whose non-null value of the column is absent from `field` of the `to` model",
    "unique_combination_of_columns": "combinations of `columns` found on more than one row",
    "expression_is_true": "rows where `expression` is false",
}


def failing_test_facts(
    plan: ExecutionPlan,
    failure: BuildFailure,
    test: DataTest | ModelTest,
    context: ProjectContext | None,
    share_samples: bool,
) -> FailingTestFacts:
    """One failing test of a planned model as the repair prompt shows it."""
    model = failure.tested_model or ""
    counted = [(model, failure.tested_column)] if failure.tested_column else []
    if isinstance(test, DataTest) and test.name == "relationships" and test.to and test.field:
        counted.append((test.to, test.field))
    if isinstance(test, ModelTest):
        # A composite key's test names no column of its own: each of its columns is counted.
        counted += [(model, c) for c in test.columns if (model, c) not in counted]
    counts = [
        found
        for name, column in counted
        if column and (found := column_counts(plan, name, column, context, share_samples)) is not None
    ]
    data_test = test if isinstance(test, DataTest) else None
    model_test = test if isinstance(test, ModelTest) else None
    return FailingTestFacts(
        node=failure.name,
        test=test.name,
        column=failure.tested_column,
        to=data_test.to if data_test else None,
        field=data_test.field if data_test else None,
        values=data_test.values if data_test else None,
        columns=(model_test.columns or None) if model_test else None,
        expression=model_test.expression if model_test else None,
        failing_rows=failure.failing_rows,
        failing_rows_are=_COUNTED.get(test.name, "rows the test selected"),
        counts=counts,
    )


def column_counts(
    plan: ExecutionPlan, model: str, column: str, context: ProjectContext | None, share_samples: bool
) -> ColumnCounts | None:
    """The profile of the raw column `model.column` passes through, None when it computes or nothing was profiled."""
    if context is None:
        return None
    actions = {a.name: a.spec for a in plan.actions}
    name, wanted = model, column
    for _ in range(_DEPTH):
        spec = actions.get(name)
        if spec is None or isinstance(spec, SourceSpec):
            return None
        found = next((c for c in output_columns(spec) if c.name == wanted), None)
        if found is None:
            return None
        if isinstance(spec, StagingSpec):
            if found.source_column is None:
                return None
            return _raw_counts(plan, spec, found.source_column, f"{model}.{column}", context, share_samples)
        passed = _PASS_THROUGH.fullmatch(found.expression or "")
        if passed is None:
            return None
        alias, wanted = passed.groups()
        if isinstance(spec, AggregateSpec):
            name = spec.from_model
        elif isinstance(spec, MartSpec):
            aliases = {spec.base_alias: spec.base_model, **{j.alias: j.model for j in spec.joins}}
            if alias not in aliases:
                return None
            name = aliases[alias]
    return None


def _raw_counts(
    plan: ExecutionPlan,
    spec: StagingSpec,
    raw_column: str,
    what: str,
    context: ProjectContext,
    share_samples: bool,
) -> ColumnCounts | None:
    source = next(
        (
            a.spec
            for a in plan.actions
            if isinstance(a.spec, SourceSpec) and a.spec.source_name == spec.source_name
        ),
        None,
    )
    table = next((t for t in source.tables if t.name == spec.table), None) if source else None
    if source is None or table is None:
        return None
    relation = next(
        (
            r
            for raw in context.raw_schemas
            if raw.schema_name.lower() == source.schema_name.lower()
            for r in raw.relations
            if r.identifier == table.identifier
        ),
        None,
    )
    raw = relation.column(raw_column) if relation else None
    rows = relation.profile.row_count if relation and relation.profile else None
    stats = column_stats(raw, rows, share_samples) if raw else None
    if stats is None:
        return None
    return ColumnCounts(
        column=what, reads=f"{spec.source_name}.{spec.table}.{raw_column}", profiled_rows=rows, stats=stats
    )
