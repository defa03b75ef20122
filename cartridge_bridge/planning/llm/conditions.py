"""Conditions in an LLM answer compare the values the data holds, as written (issue 24).

A model that writes `trim(kind) = 'percentage'` or `lower(status) = 'open'` counts rows the source wrote
otherwise (`'percentage '`, `'Open'`) as if they were the value it names: the staging layer keeps values as
the source wrote them so that such a difference stays visible, and a condition that hides it miscounts.
The plan checks accept these functions (a user's plan file may want them); only an LLM answer is refused,
with one line naming the field and the function, so the re-ask can drop it.
"""

from __future__ import annotations

from collections.abc import Iterator

from cartridge_bridge.planning.plan import (
    AggregateSpec,
    MartSpec,
    PeriodicSnapshotSpec,
    PlanAction,
    StagingSpec,
    UnionSpec,
    output_columns,
)
from cartridge_bridge.planning.planner import HistoryDraft, ModelDraft, SnapshotDraft
from cartridge_bridge.planning.problems import PlanProblem
from cartridge_bridge.sql.sql_fragments import changed_comparison, parse_expression

# A planned draft, or a plan's action (the repair round's answer, placed).
Written = ModelDraft | HistoryDraft | SnapshotDraft | PlanAction


def changed_condition_problems(draft: Written, adapter_type: str) -> list[PlanProblem]:
    """Each fragment of the draft whose condition wraps a compared column in trim(), lower() or upper()."""
    problems = []
    for field, text in _fragments(draft):
        tree, _ = parse_expression(text, adapter_type, windows=True)
        function = changed_comparison(tree) if tree is not None else None
        if function is not None:
            problems.append(
                PlanProblem(
                    draft.name,
                    field,
                    f"{text!r} compares {function}() of a column; compare the column as the data writes it "
                    "(the value exactly as the data lists it; say other spellings in the description)",
                )
            )
    return problems


def _fragments(draft: Written) -> Iterator[tuple[str, str]]:
    """(field, SQL fragment) for every expression and condition of the draft the LLM wrote."""
    spec = draft.spec
    if isinstance(spec, StagingSpec | AggregateSpec | MartSpec):
        if spec.filter is not None:
            yield "spec.filter", spec.filter
        for column in output_columns(spec):
            if column.expression is not None:
                yield f"spec.columns[{column.name}].expression", column.expression
            if column.aggregate is not None:
                yield f"spec.columns[{column.name}].aggregate.where", column.aggregate.where
    elif isinstance(spec, UnionSpec):
        for index, branch in enumerate(spec.inputs):
            for name, text in branch.columns.items():
                yield f"spec.inputs[{index}].columns[{name}]", text
    elif isinstance(spec, PeriodicSnapshotSpec):
        if spec.event_filter is not None:
            yield "spec.event_filter", spec.event_filter
        for column in spec.measures:
            if column.expression is not None:
                yield f"spec.measures[{column.name}].expression", column.expression
    semantic = draft.semantic_model
    for measure in semantic.measures if semantic is not None else []:
        yield f"semantic_model.measures[{measure.name}].expr", measure.expr
