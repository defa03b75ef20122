"""Semantic-model rules: a mart described to dbt's semantic layer from what its spec and staged table show.

Entities come from keys (the grain is the primary entity, each key pointing at another table a foreign one,
named after that table's entity so that semantic models join on it); dimensions from types (every date
and timestamp a time dimension, text and booleans categorical); measures from the rules `measures` already
applies to marts (rows counted, meaningful amounts summed within one currency, booleans counted where true)
plus a count per other event time (`closed_at`: rows counted in the month they were closed), a distinct
count per foreign entity (the accounts a month's invoices reach) and a count of the rows that have an
identifier the data leaves null on some rows (the projects with an owner). Each measure gets a simple metric.

The rules apply to any mart spec, the LLM planner's too: `base_of` reads what they need from the mart's spec and
its base model (the entity, the raw table's profile, the typed columns under the mart's names).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cartridge_bridge.gather.facts import RawRelation
from cartridge_bridge.planning.plan import (
    LABEL_LIMIT,
    AggregateSpec,
    ColumnSpec,
    MartJoin,
    MartSpec,
    ModelSpec,
    SemanticDimension,
    SemanticEntity,
    SemanticMeasure,
    SemanticMetric,
    SemanticModelSpec,
    StagingSpec,
    TimeSpineSpec,
    output_columns,
)
from cartridge_bridge.planning.rules import column_docs as docs
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.sum_conditions import splits
from cartridge_bridge.sql.naming import plural
from cartridge_bridge.sql.sql_types import is_boolean, is_temporal, is_text

# Wide enough for any business history a raw table holds, small enough to build in a second (≈22,000 rows).
TIME_SPINE_START = datetime.date(1990, 1, 1)
TIME_SPINE_END = datetime.date(2051, 1, 1)
_FIRST_LAST = re.compile(r"(min|max)\(([a-z_][a-z0-9_]*)\)")
COLUMN_REFERENCE = re.compile(r"(?:([a-z_][a-z0-9_]*)\.)?([a-z_][a-z0-9_]*)")
# What a timestamp's name adds to the event it dates: `closed_at` → `closed`.
# Events that end a row's lifecycle whatever its outcome: another outcome the row records by its own time (a merge
# beside a close, a cancellation beside an end) is one way of ending, so "ended without it" is a count worth asking.
_ENDINGS = frozenset({"closed", "resolved", "ended", "finished", "terminated"})
_TIME_SUFFIX = re.compile(r"_(at|on|date|time|timestamp|ts)$")


def time_spine() -> TimeSpineSpec:
    """The day-grained time spine a project without one gets."""
    return TimeSpineSpec(start_date=TIME_SPINE_START, end_date=TIME_SPINE_END)


@dataclass(frozen=True)
class MartBase:
    """What a mart's rows are, besides its spec: the entity one row is, the raw table they come from (its profile
    tells empty columns and currencies), and the base model's columns under the names the mart gives them,
    typed, each with the raw column it reads."""

    entity: str
    relation: RawRelation
    columns: list[ColumnSpec]


def passed_through(spec: MartSpec) -> dict[str, str]:
    """A mart's own columns that pass a base column through (`orders.status`, renamed or not) → that column."""
    found = {}
    for column in spec.columns:
        reference = COLUMN_REFERENCE.fullmatch((column.expression or "").strip())
        if reference is not None and reference.group(1) in (None, spec.base_alias):
            found[column.name] = reference.group(2)
    return found


def base_of(spec: MartSpec, base: ModelSpec | None, relation: RawRelation | None, entity: str) -> MartBase:
    """A mart's base as the rules read it: a column passing a base column through is that column under the
    mart's name (reading the same raw column); any other column stays as the mart computes it. `relation` is
    the raw table a staging base reads (None for another base: nothing is known of its data); `entity` names
    a row when the base is not a staging model."""
    staged = {c.name: c for c in base.columns} if isinstance(base, StagingSpec | AggregateSpec) else {}
    passed = passed_through(spec)
    columns = []
    for column in spec.columns:
        found = staged.get(passed.get(column.name, ""))
        if found is None:
            columns.append(column)
            continue
        # A staging column with neither names the raw column of its own name.
        raw = found.source_column or (
            found.name if isinstance(base, StagingSpec) and not found.expression else None
        )
        columns.append(found.model_copy(update={"name": column.name, "source_column": raw}))
    return MartBase(
        entity=base.entity if isinstance(base, StagingSpec) else entity,
        relation=relation or RawRelation(schema="", identifier=spec.base_model, columns=[]),
        columns=columns,
    )


def first_last_times(
    joins: list[MartJoin], aggregated: Mapping[str, tuple[list[ColumnSpec], list[ColumnSpec]]]
) -> set[str]:
    """The mart columns that hold a child's first or last event time (`first_order_created_at`): a joined
    aggregate's `min`/`max` of a temporal column. `aggregated` maps an aggregate model to its columns and the
    typed columns of the model it aggregates."""
    found = set()
    for join in joins:
        if join.model not in aggregated:
            continue
        columns, child = aggregated[join.model]
        expressions = {c.name: c.computed() or "" for c in columns}
        typed = {c.name: measures.column_type(c) for c in child}
        for column in join.columns:
            reference = COLUMN_REFERENCE.fullmatch((column.expression or "").strip())
            if reference is None or reference.group(1) not in (None, join.alias):
                continue
            first_last = _FIRST_LAST.fullmatch(expressions.get(reference.group(2), ""))
            if first_last and is_temporal(typed.get(first_last.group(2), "")):
                found.add(column.name)
    return found


def _label(text: str) -> str:
    words = docs.words(text)
    return words[:1].upper() + words[1:]


def _stem(column: str) -> str:
    return _TIME_SUFFIX.sub("", column)


def semantic_model(
    name: str,
    table: MartBase,
    spec: MartSpec,
    parents: Mapping[str, tuple[str, str]],
    times: set[str],
    adapter_type: str | None = None,
) -> SemanticModelSpec:
    """The semantic model of one mart: `table` is its base, `parents` its foreign keys → (model, entity),
    `times` the joined columns that are event times. With `adapter_type` (the values of a state are written as
    its literals), each flag's sides are also counted per state and by each other event time (see `_crossed`)."""
    entity = table.entity
    things = plural(entity)
    outputs = output_columns(spec)
    base = {c.name for c in spec.columns}
    keys = set(spec.grain) | set(parents)
    entities = []
    if len(spec.grain) == 1:
        entities.append(SemanticEntity(name=entity, type="primary", column=spec.grain[0]))
    used = {entity}
    for key, (_, parent_entity) in parents.items():
        if key not in base:
            continue
        # Two keys to one table (reporter and assignee): the second is named by its column, it cannot join.
        named = parent_entity if parent_entity not in used else key.removesuffix("_id")
        if named in used:
            continue
        used.add(named)
        entities.append(SemanticEntity(name=named, type="foreign", column=key))
    typed = {c.name: measures.column_type(c) for c in table.columns}
    # A loader's bookkeeping column (`_fivetran_synced`) is no business dimension, and MetricFlow refuses a
    # name that does not begin with a letter.
    time_columns = [
        c.name
        for c in outputs
        if ((c.name in base and is_temporal(typed.get(c.name, ""))) or c.name in times)
        and not measures.is_loader_name(c.name)
    ]
    dimensions = [SemanticDimension(name=c, type="time", time_granularity="day") for c in time_columns]
    for column in spec.columns:
        kind = typed.get(column.name, "")
        if column.name in keys or column.name in used or not (is_text(kind) or is_boolean(kind)):
            continue
        if measures.is_loader_name(column.name):
            continue
        if column.name.endswith("_id") or column.name == "id":
            continue  # an identifier of text (a parent no mart holds): grouping by it splits into single rows
        dimensions.append(
            SemanticDimension(name=column.name, type="categorical", description=column.description)
        )
    event = measures.event_time(table.relation, table.columns)
    default_time = event.name if event is not None and event.name in time_columns else None
    model = SemanticModelSpec(
        name=name,
        description=f"The {docs.words(things)} of `{name}`, one row per {docs.words(entity)}, for MetricFlow.",
        primary_entity=entity if len(spec.grain) != 1 else None,
        agg_time_dimension=default_time,
        entities=entities,
        dimensions=dimensions,
    )
    if default_time is not None:
        _add_measures(model, table, spec, keys, time_columns, default_time, adapter_type)
    return model


def _add_measures(
    model: SemanticModelSpec,
    table: MartBase,
    spec: MartSpec,
    keys: set[str],
    time_columns: list[str],
    default_time: str,
    adapter_type: str | None = None,
) -> None:
    """Counts, sums and flag counts dated by the mart's event time; counts of other events by their own time."""
    entity, things = table.entity, plural(table.entity)
    base = {c.name for c in spec.columns}
    count_expr = spec.grain[0] if len(spec.grain) == 1 else "1"
    found: list[tuple[SemanticMeasure, str]] = [
        (
            SemanticMeasure(
                name=f"{entity}_count",
                agg="count" if len(spec.grain) == 1 else "sum",
                expr=count_expr,
                description=f"Number of {docs.words(things)}, dated by `{default_time}`.",
            ),
            _label(things),
        )
    ]
    for column in measures.amounts(table.relation, table.columns, keys):
        if column.name not in base:
            continue
        what = column.name if column.name.startswith(entity) else f"{entity}_{column.name}"
        found.append(
            (
                SemanticMeasure(
                    name=f"total_{what}" if not what.startswith("total_") else what,
                    agg="sum",
                    expr=column.name,
                    description=f"Sum of `{column.name}` over {docs.words(things)}.",
                ),
                f"Total {docs.words(column.name.removeprefix('total_'))} of {docs.words(things)}",
            )
        )
    for flag in measures.flags(table.relation, table.columns, keys):
        if flag.column not in base:
            continue
        # A flag with a time of its own (`merged` and `merged_at`) counts when that happened.
        own_time = next((t for t in time_columns if _stem(t) == flag.yes and t != default_time), None)
        # Both sides, as the marts split a child's count (issues apart from pull requests); the true side is dated
        # by its own time when it has one, the false side (nothing happened) by the mart's.
        sides = (
            (flag.yes, "", "true", own_time, _label(f"{flag.yes}_{things}")),
            (flag.no, "not ", "false", None, _label(f"{things}_{flag.no}")),
        )
        for part, negation, value, when, label in sides:
            measure = SemanticMeasure(
                name=f"{entity}_{part}_count",
                agg="sum",
                expr=f"case when {negation}{flag.column} then 1 else 0 end",
                description=f"Number of {docs.words(things)} where `{flag.column}` is {value}.",
                agg_time_dimension=when,
            )
            found.append((measure, label))
    if adapter_type is not None:
        found += _crossed(table, base, keys, time_columns, default_time, adapter_type)
        found += _ended_without(table, base, keys, time_columns, default_time)
    for foreign in (e for e in model.entities if e.type == "foreign"):
        # How many customers ordered in a month, how many accounts hold active subscriptions: the parents a
        # group of rows reaches, counted once each (a sum of row counts would count a parent many times).
        found.append(
            (
                SemanticMeasure(
                    name=f"{entity}_distinct_{foreign.name}_count",
                    agg="count_distinct",
                    expr=foreign.column,
                    description=f"Number of distinct `{foreign.column}` values of the {docs.words(things)}.",
                ),
                _label(f"distinct_{plural(foreign.name)}_of_{things}"),
            )
        )
    for identifier in _sometimes_set(table, base - set(spec.grain)):
        # How many projects have an owner: an identifier the data leaves null on some rows counts where it is set
        # (never a sum of a case: the warehouse counts the non-null values).
        stem = identifier.removesuffix("_id")
        found.append(
            (
                SemanticMeasure(
                    name=f"{entity}_with_{stem}_count",
                    agg="count",
                    expr=identifier,
                    description=f"Number of {docs.words(things)} with a `{identifier}` (not null).",
                ),
                _label(f"{things}_with_{stem}"),
            )
        )
    for time in time_columns:
        stem = _stem(time)
        # A child's first or last event dates the parent's rows only by proxy: counted where its own table is.
        if (
            time not in base
            or time == default_time
            or measures.is_bookkeeping_time(time)
            or stem == _stem(default_time)
        ):
            continue
        found.append(
            (
                SemanticMeasure(
                    name=f"{entity}_{stem}_count",
                    agg="count",
                    expr=time,
                    description=f"Number of {docs.words(things)} with a `{time}`, dated by it.",
                    agg_time_dimension=time,
                ),
                _label(f"{things}_{stem}"),
            )
        )
    seen: set[str] = set()
    for measure, label in found:
        # A name past the shortest warehouse limit fails the plan's checks there; cut with a hash no one would
        # ask for it by name: such a measure is left out (a wide table's long column names).
        if measure.name in seen or measure.name in keys or len(measure.name) > measures.READABLE_NAME:
            continue
        seen.add(measure.name)
        model.measures.append(measure)
        model.metrics.append(
            SemanticMetric(
                name=measure.name, label=label[:100], description=measure.description, measure=measure.name
            )
        )


def _crossed(
    table: MartBase,
    base: set[str],
    keys: set[str],
    time_columns: list[str],
    default_time: str,
    adapter_type: str,
) -> list[tuple[SemanticMeasure, str]]:
    """Each side of a flag counted apart by what else a row says: by each other event time of the row (issues
    that are no pull request, counted in the month they were closed) and per value of a state column (open pull
    requests). One query then asks both sides of a flag at once, which a filter on the flag cannot (it applies
    to every metric of the query). A value named as an event time (`closed` beside `closed_at`) is that event."""
    entity, things = table.entity, plural(table.entity)
    states = [
        s for s in splits(table.relation, table.columns, keys, adapter_type) if s.state and s.column in base
    ]
    others = [
        t
        for t in time_columns
        if t in base
        and t != default_time
        and not measures.is_bookkeeping_time(t)
        and _stem(t) != _stem(default_time)
    ]
    found: list[tuple[SemanticMeasure, str]] = []
    for flag in measures.flags(table.relation, table.columns, keys):
        if flag.column not in base:
            continue
        for part, negation, value in ((flag.yes, "", "true"), (flag.no, "not ", "false")):
            for time in others:
                if _stem(time) == flag.yes:
                    continue  # the flag's own time (`archived` and `archived_at`) counts that flag already
                found.append(
                    (
                        SemanticMeasure(
                            name=f"{entity}_{part}_{_stem(time)}_count",
                            agg="sum",
                            expr=f"case when {negation}{flag.column} and {time} is not null then 1 else 0 end",
                            description=f"Number of {docs.words(things)} where `{flag.column}` is {value}, with a "
                            f"`{time}`, dated by it.",
                            agg_time_dimension=time,
                        ),
                        _label(f"{part}_{things}_{_stem(time)}"),
                    )
                )
            for state in states:
                found.append(
                    (
                        SemanticMeasure(
                            name=f"{entity}_{part}_{state.part}_count",
                            agg="sum",
                            expr=f"case when {negation}{flag.column} and {state.where} then 1 else 0 end",
                            description=f"Number of {docs.words(things)} where `{flag.column}` is {value} and "
                            f"`{state.column}` is {state.value!r}.",
                        ),
                        _label(f"{part}_{things}_{state.part}"),
                    )
                )
    return found


def _set_count(table: MartBase, column: str) -> int | None:
    """How many rows hold a value in one of the mart's columns, when the raw table's profile says; else None."""
    found = next((c for c in table.columns if c.name == column), None)
    raw = measures.raw_column(table.relation, found) if found is not None else None
    rows = table.relation.profile.row_count if table.relation.profile else None
    if raw is None or raw.profile is None or rows is None:
        return None
    return rows - raw.profile.null_count


def _ended_without(
    table: MartBase, base: set[str], keys: set[str], time_columns: list[str], default_time: str
) -> list[tuple[SemanticMeasure, str]]:
    """Rows that ended (`closed_at` set: an ending event by its name) without another outcome the row dates
    (`merged_at` null), counted in the period of their ending: the pull requests closed without a merge. The other
    outcome is a special case of the ending (every merged pull request is closed): where the profile counts both,
    it is set on no more rows than the ending. Counted over all rows and per side of each flag (issues apart from
    pull requests), as `_crossed` counts the ending itself."""
    entity, things = table.entity, plural(table.entity)
    others = [
        t
        for t in time_columns
        if t in base
        and t != default_time
        and not measures.is_bookkeeping_time(t)
        and _stem(t) != _stem(default_time)
        and _stem(t).endswith("ed")
    ]
    flags = [f for f in measures.flags(table.relation, table.columns, keys) if f.column in base]
    found: list[tuple[SemanticMeasure, str]] = []
    for ending in (t for t in others if _stem(t) in _ENDINGS):
        for outcome in (t for t in others if t != ending and _stem(t) not in _ENDINGS):
            ended, outcome_count = _set_count(table, ending), _set_count(table, outcome)
            if ended is not None and outcome_count is not None and outcome_count > ended:
                continue  # set on more rows than the ending: no special case of it
            what = f"{_stem(ending)}_not_{_stem(outcome)}"
            # A flag of the outcome itself (`is_archived` beside `archived_at`) splits nothing the count says.
            sides = [("", "", "")] + [
                (f"{part}_", f"{negation}{flag.column} and ", f" where `{flag.column}` is {value}")
                for flag in flags
                if flag.yes != _stem(outcome)
                for part, negation, value in ((flag.yes, "", "true"), (flag.no, "not ", "false"))
            ]
            for part, condition, said in sides:
                found.append(
                    (
                        SemanticMeasure(
                            name=f"{entity}_{part}{what}_count",
                            agg="sum",
                            expr=f"case when {condition}{ending} is not null and {outcome} is null then 1 else 0 end",
                            description=f"Number of {docs.words(things)}{said}, with a `{ending}` and no "
                            f"`{outcome}`, dated by `{ending}`.",
                            agg_time_dimension=ending,
                        ),
                        _label(f"{part}{things}_{what}"),
                    )
                )
    return found


def _sometimes_set(table: MartBase, own: set[str]) -> list[str]:
    """The mart's own identifiers but its key (`owner_id`, a foreign key or not) the profile shows null on some
    rows but not on all: each counts the rows that have one. Unprofiled, nothing is known and nothing is counted."""
    rows = table.relation.profile.row_count if table.relation.profile else 0
    found = []
    for column in table.columns:
        raw = measures.raw_column(table.relation, column)
        stats = raw.profile if raw is not None else None
        if (
            column.name not in own
            or not column.name.endswith("_id")
            or stats is None
            or measures.is_loader_column(column)
            or not rows
        ):
            continue
        if 0 < stats.null_count < rows:
            found.append(column.name)
    return found


def settle_names(models: list[SemanticModelSpec], taken: dict[str, list[str]]) -> list[SemanticModelSpec]:
    """The models MetricFlow can hold together: one per primary entity (the project's own included), names not
    already the project's, no name both an entity and a dimension or measure. A measure or categorical dimension
    in the way is left out; a model whose time dimension is an entity's name elsewhere is left out whole."""
    kept: list[SemanticModelSpec] = []
    primaries: set[str] = set(taken.get("primary entity", []))
    for model in models:
        primary = next((e.name for e in model.entities if e.type == "primary"), model.primary_entity)
        if model.name in taken.get("semantic model", []) or primary in primaries:
            continue
        primaries.add(primary or "")
        kept.append(model)
    entities = {e.name for m in kept for e in m.entities} | {
        m.primary_entity for m in kept if m.primary_entity
    }
    kept = [m for m in kept if not any(d.type == "time" and d.name in entities for d in m.dimensions)]
    for model in kept:
        model.dimensions = [d for d in model.dimensions if d.name not in entities]
    dimensions = {d.name for m in kept for d in m.dimensions}
    measure_names = set(taken.get("measure", [])) | set(taken.get("metric", []))
    for model in kept:
        dropped = {x.name for x in model.measures if x.name in entities | dimensions | measure_names}
        model.measures = [x for x in model.measures if x.name not in dropped]
        model.metrics = [x for x in model.metrics if x.measure not in dropped]
        measure_names |= {x.name for x in model.measures}
    _distinct_labels(kept)
    return kept


def _distinct_labels(models: list[SemanticModelSpec]) -> None:
    """MetricFlow refuses two metrics of one label (dbt parse fails): a repeated label (`amount` and `total_amount`
    both read "Total amount of orders"; two marts documented in separate LLM requests) is told apart by the
    metric's own name."""
    labels: set[str] = set()
    for metric in (m for model in models for m in model.metrics):
        if metric.label in labels:
            metric.label = f"{metric.label} ({docs.words(metric.name)})"[:LABEL_LIMIT]
        labels.add(metric.label)
