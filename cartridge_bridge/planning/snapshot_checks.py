"""Check a periodic snapshot: every model it reads real, every column it names one of that model's, every
measure one aggregate over the event model's columns, the history's key as long as the entity's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from cartridge_bridge.planning.plan import SPINE_COLUMNS, PeriodicSnapshotSpec, SnapshotMeasure
from cartridge_bridge.planning.sql_fragments import parse_expression

if TYPE_CHECKING:  # spec_checks calls in here for a periodic snapshot
    from cartridge_bridge.planning.spec_checks import Columns, SpecChecker


def check_periodic_snapshot(checker: SpecChecker, spec: PeriodicSnapshotSpec) -> None:
    """Record every problem of one periodic snapshot on `checker` (its action's problems)."""
    events = checker.model_columns("spec.event_model", spec.event_model)
    checker.columns_in("spec.event_time", [spec.event_time], events)
    if spec.event_filter is not None:
        checker.fragment("spec.event_filter", spec.event_filter, {None: events})
    bounded = checker.model_columns("spec.bounds.model", spec.bounds.model)
    checker.columns_in("spec.bounds.column", [spec.bounds.column], bounded)
    if spec.entity is not None:
        entity = spec.entity
        owners = checker.model_columns("spec.entity.model", entity.model)
        if not entity.columns:
            checker.add("spec.entity.columns", "an entity has at least one key column")
        checker.columns_in("spec.entity.columns", entity.columns, owners)
        if entity.event_columns and len(entity.event_columns) != len(entity.columns):
            checker.add(
                "spec.entity.event_columns",
                f"{len(entity.event_columns)} columns for a key of {len(entity.columns)}",
                "one event column per entity column, in order (or none: the same names)",
            )
        checker.columns_in("spec.entity.event_columns", entity.event_columns or entity.columns, events)
    # The spine's own columns live beside the entity's key and the measures until the last select.
    for column in [*(spec.entity.columns if spec.entity else []), *(m.name for m in spec.measures)]:
        if column in SPINE_COLUMNS:
            checker.add("spec.columns", f"{column!r} is a column the spine adds itself", "another name")
    if not spec.measures and spec.state is None:
        checker.add("spec.measures", "the snapshot carries nothing", "at least one measure, or a state")
    for measure in spec.measures:
        at = f"spec.measures[{measure.name}].expression"
        checker.expression_column(at, measure, {None: events})
        if measure.expression is not None and not _aggregates(
            measure.expression, checker.adapter, window=False
        ):
            checker.add(at, f"{measure.expression!r} is not one aggregate of the events", "like sum(amount)")
        if measure.running and not _adds_up(measure, checker.adapter):
            checker.add(
                f"spec.measures[{measure.name}].running",
                "only a sum or a count (0 when a period has no event) adds up over the periods",
                "running: false, or a sum or count with when_no_event: zero",
            )
    if spec.state is not None:
        _check_state(checker, spec)


def _check_state(checker: SpecChecker, spec: PeriodicSnapshotSpec) -> None:
    state = spec.state
    assert state is not None
    history: Columns = checker.model_columns("spec.state.model", state.model)
    checker.columns_in("spec.state.valid_from", [state.valid_from], history)
    checker.columns_in("spec.state.valid_to", [state.valid_to], history)
    checker.columns_in("spec.state.key_columns", state.key_columns, history)
    keys = spec.entity.columns if spec.entity else []
    if len(state.key_columns) != len(keys) or not keys:
        checker.add(
            "spec.state.key_columns",
            f"{len(state.key_columns)} key columns for an entity key of {len(keys)}",
            "an entity, and one history column per entity column, in order",
        )
    for column in state.columns:
        at = f"spec.columns[{column.name}].expression"
        checker.expression_column(at, column, {"state": history})
        if column.expression is not None and _aggregates(column.expression, checker.adapter, window=True):
            checker.add(
                at, f"{column.expression!r} aggregates; a state column reads one version", "state.<column>"
            )


def _adds_up(measure: SnapshotMeasure, adapter_type: str) -> bool:
    """Whether the measure's period values add up into a running total: a sum or a count, 0 for no event."""
    tree, _ = parse_expression(measure.expression or "", adapter_type)
    return measure.when_no_event == "zero" and isinstance(tree, exp.Sum | exp.Count)


def _aggregates(text: str, adapter_type: str, *, window: bool) -> bool:
    """Whether the expression aggregates (and, unless `window`, with no window: a measure is a plain aggregate)."""
    tree, _ = parse_expression(text, adapter_type)
    if tree is None:
        return not window  # unparsable: reported by the fragment check already
    if not window and any(tree.find_all(exp.Window)):
        return False
    return any(tree.find_all(exp.AggFunc))
