"""The pieces of a periodic snapshot's SQL the template cannot write from names alone: each checked again here."""

from __future__ import annotations

from typing import Any

from cartridge_bridge.planning.plan import SPINE_COLUMNS, ColumnSpec, PeriodicSnapshotSpec, SnapshotMeasure
from cartridge_bridge.render.guards import checked_expression, checked_name


def period_spine_call(spec: PeriodicSnapshotSpec) -> str:
    """The package's `period_spine` over the bounds CTE; the period is a Literal, the bounds fixed SQL."""
    end = "current_date" if spec.bounds.end == "today" else "(select spine_end from bounds)"
    return f"{{{{ cartridge.period_spine('{spec.period}', '(select spine_start from bounds)', '{end}') }}}}"


def _measure_value(measure: SnapshotMeasure, column: str, keys: list[str]) -> str:
    """A measure's value in a period: the period's aggregate (0 or null without events), or its running total
    over the entity's periods so far (every period of the spine is there, so a row is a period)."""
    value = f"measured.{column}"
    if measure.when_no_event == "zero":
        value = f"coalesce({value}, 0)"
    if not measure.running:
        return value
    partition = f"partition by {', '.join(f'periods.{k}' for k in keys)} " if keys else ""
    return (
        f"sum({value}) over ({partition}order by periods.period_start "
        "rows between unbounded preceding and current row)"
    )


def snapshot_values(spec: PeriodicSnapshotSpec, adapter_type: str) -> dict[str, Any]:
    """The lists and conditions periodic_snapshot.sql.j2 lays out, every name and fragment checked."""

    def name(value: str) -> str:
        return checked_name(value, adapter_type)

    keys = [name(c) for c in spec.entity.columns] if spec.entity else []
    event_keys = [name(c) for c in (spec.entity.event_columns or spec.entity.columns)] if spec.entity else []
    event_time = name(spec.event_time)
    # The period an event falls in, as the spine writes it: the first day of its day, week (Monday) or month.
    period_of_event = f"cast(date_trunc('{spec.period}', cast(events.{event_time} as timestamp)) as date)"
    where = [f"events.{event_time} is not null"]
    if spec.event_filter is not None:
        where.append(f"({checked_expression(spec.event_filter, adapter_type)})")
    measured = [
        ColumnSpec(name="period_start", expression=period_of_event, description=""),
        *(
            ColumnSpec(name=key, expression=f"events.{event_key}", description="")
            for key, event_key in zip(keys, event_keys, strict=True)
        ),
        *(ColumnSpec(name=m.name, expression=m.expression, description="") for m in spec.measures),
    ]
    ends = [spec.period_end_column] if spec.period_end_column else []
    final = [
        ColumnSpec(name=name(spec.period_column), expression="periods.period_start", description=""),
        *(ColumnSpec(name=name(end), expression="periods.period_last_day", description="") for end in ends),
        *(ColumnSpec(name=key, expression=f"periods.{key}", description="") for key in keys),
        *(
            ColumnSpec(name=m.name, expression=_measure_value(m, name(m.name), keys), description="")
            for m in spec.measures
        ),
        *(spec.state.columns if spec.state else []),
    ]
    state_conditions = []
    if spec.state is not None:
        state_conditions = [
            f"state.{name(column)} = periods.{key}"
            for column, key in zip(spec.state.key_columns, keys, strict=True)
        ]
        valid_from, valid_to = name(spec.state.valid_from), name(spec.state.valid_to)
        # The version in effect at the period's end: begun before the next period, not ended by then.
        state_conditions += [
            f"state.{valid_from} < periods.period_end",
            f"(state.{valid_to} is null or state.{valid_to} >= periods.period_end)",
        ]
    return {
        "spine_call": period_spine_call(spec),
        "entity_present": " and ".join(f"{key} is not null" for key in keys),
        "period_columns": [
            ColumnSpec(name=column, expression=f"{table}.{column}", description="")
            for table, column in [*(("spine", c) for c in SPINE_COLUMNS), *(("entities", k) for k in keys)]
        ],
        "measured_columns": measured,
        "event_where": " and ".join(where),
        "event_group_by": ", ".join([period_of_event, *(f"events.{k}" for k in event_keys)]),
        "measured_conditions": [f"measured.{c} = periods.{c}" for c in ("period_start", *keys)],
        "final_columns": final,
        "state_conditions": state_conditions,
    }
