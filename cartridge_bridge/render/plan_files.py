"""Render an execution plan into file contents: SQL from templates, YAML entries to merge.

Every string that goes into YAML and did not come from cartridge itself is neutralized (dbt renders
Jinja in descriptions, identifiers and test arguments too); every name that goes into SQL has passed
the grammar again (render.guards).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from cartridge_bridge.errors import PlanError
from cartridge_bridge.files.yaml_merge import flow_strings
from cartridge_bridge.planning.join_checks import JOINED_CTE
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    DataTest,
    ExecutionPlan,
    HistorySpec,
    InputJoin,
    MartJoin,
    MartSpec,
    ModelTest,
    PeriodicSnapshotSpec,
    PlanAction,
    RenderSettings,
    SemanticMeasure,
    SemanticModelSpec,
    SourceSpec,
    SourceTableSpec,
    StagingSpec,
    TimeSpineSpec,
    UnionSpec,
    output_columns,
)
from cartridge_bridge.planning.union_checks import label_problem, source_label
from cartridge_bridge.render.guards import (
    checked_cast_type,
    checked_expression,
    checked_literal_body,
    checked_name,
    checked_warehouse_name,
)
from cartridge_bridge.render.history_sql import history_values, overlap_test_arguments
from cartridge_bridge.render.incremental import new_rows_filter
from cartridge_bridge.render.snapshot_sql import snapshot_values
from cartridge_bridge.render.sql_style import SqlStyle, restyle
from cartridge_bridge.render.templates_env import environment
from cartridge_bridge.sql.identifiers import DOC_NAME, description_text, neutralize, quote
from cartridge_bridge.sql.naming import cte_name, needs_quoting
from cartridge_bridge.sql.sql_types import is_temporal, timestamp_type

_TEMPLATES = {
    StagingSpec: "staging.sql.j2",
    AggregateSpec: "aggregate.sql.j2",
    MartSpec: "mart.sql.j2",
    TimeSpineSpec: "time_spine.sql.j2",
    UnionSpec: "union.sql.j2",
    HistorySpec: "history.sql.j2",
    PeriodicSnapshotSpec: "periodic_snapshot.sql.j2",
}
# Model-level generic tests ship in the cartridge dbt package, under the same names and arguments as
# dbt_utils' (so a project can switch by changing the prefix).
_MODEL_TEST_PACKAGE = "cartridge"


@dataclass
class RenderedFile:
    """One file the plan writes: whole SQL text, or YAML entries merged into the file add-only."""

    path: str
    kind: Literal["sql", "yaml"]
    text: str = ""
    models: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    semantic_models: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    # How a YAML file starts when it is new, in the project's dialect: `version: 2` or nothing, and the
    # (item, dash, mapping) indents (a file that exists keeps its own).
    version: int | None = None
    indent: tuple[int, int, int] = (4, 2, 2)
    # SQL: the SHA-256 of the existing file whose text fills EXISTING_SQL_SLOT (an in-place edit); None: whole text.
    wraps: str | None = None
    # YAML: new columns for models the file already documents, added to their entries (an in-place edit).
    extend_models: list[dict[str, Any]] = field(default_factory=list)


# Where an in-place edit's SQL takes the existing model's text, verbatim, when the file is staged.
EXISTING_SQL_SLOT = "-- cartridge_existing_sql_slot --"


def fill_slot(rendered: str, existing: str) -> str:
    """An in-place edit's SQL with the existing model's text in its slot, as it is (a final newline added, so a
    trailing `-- comment` does not swallow the closing parenthesis)."""
    if not existing.endswith("\n"):
        existing += "\n"
    return rendered.replace(EXISTING_SQL_SLOT + "\n", existing, 1)


# The flag `renamed` computes from a de-duplicated staging model's filter, applied after the ranking.
KEPT_COLUMN = "cartridge_kept"


def render_plan(plan: ExecutionPlan, options: RenderSettings | None = None) -> list[RenderedFile]:
    """Every file of the plan, in plan order, YAML entries grouped by their file (as `plan.render` says)."""
    options = options or plan.render
    style = SqlStyle.of(options, plan.adapter_type)
    files: dict[str, RenderedFile] = {}

    def yaml_file(path: str) -> RenderedFile:
        if path not in files:
            version = 2 if options.yaml_version_header else None
            indent = (options.yaml_sequence_indent, options.yaml_sequence_offset, options.yaml_mapping_indent)
            files[path] = RenderedFile(path, "yaml", version=version, indent=indent)
        return files[path]

    for action in plan.actions:
        spec = action.spec
        if isinstance(spec, SourceSpec):
            yaml_file(action.file_path).sources.append(_source_entry(spec, options, plan.adapter_type))
            continue
        if action.type == "modify_in_place":
            _render_in_place(action, files, yaml_file, style, options)
            continue
        files[action.file_path] = RenderedFile(action.file_path, "sql", text=render_sql(action, style))
        if action.properties_path:
            yaml_file(action.properties_path).models.append(_model_entry(action, options, plan.adapter_type))
        model_path = action.semantic_model_path or action.properties_path
        if action.semantic_model is not None and model_path:
            # In the project's own semantic-model and metrics files when it keeps them apart, else beside the mart.
            model, metrics = semantic_entries(action.name, action.semantic_model, plan.adapter_type)
            yaml_file(model_path).semantic_models.append(model)
            if metrics:
                yaml_file(action.metrics_path or model_path).metrics.extend(metrics)
    return list(files.values())


def _render_in_place(
    action: PlanAction,
    files: dict[str, RenderedFile],
    yaml_file: Callable[[str], RenderedFile],
    style: SqlStyle,
    options: RenderSettings,
) -> None:
    """An existing mart's edit: its SQL wrapped (filled when staged) and its properties entry's new columns."""
    spec = action.spec
    assert isinstance(spec, MartSpec) and action.modifies is not None
    new_columns = [c for join in spec.joins for c in join.columns]
    files[action.file_path] = RenderedFile(
        action.file_path, "sql", text=_in_place_sql(spec, style), wraps=action.modifies.sha256
    )
    if action.properties_path:
        entry = {
            "name": checked_name(action.name, style.adapter_type),
            "columns": _columns(new_columns, options, style.adapter_type),
        }
        yaml_file(action.properties_path).extend_models.append(entry)


def _in_place_sql(spec: MartSpec, style: SqlStyle) -> str:
    """An in-place edit's SQL with EXISTING_SQL_SLOT where the existing model's text goes."""
    template = environment().get_template("in_place.sql.j2")
    text = template.render(
        spec=spec,
        style=style,
        slot=EXISTING_SQL_SLOT,
        new_columns=[c for join in spec.joins for c in join.columns],
        join_conditions=_join_conditions(spec.joins),
    )
    return restyle(text, style)


def render_sql(action: PlanAction, style: SqlStyle | None = None) -> str:
    """The SQL of one model action, in the project's SQL style (an in-place edit's with its slot unfilled)."""
    style = style or SqlStyle()
    spec = action.spec
    assert not isinstance(spec, SourceSpec)
    if action.type == "modify_in_place":
        assert isinstance(spec, MartSpec)
        return _in_place_sql(spec, style)
    template = environment().get_template(_TEMPLATES[type(spec)])
    values: dict[str, Any] = {"action": action, "spec": spec, "style": style}
    values |= {"renamed_columns": None, "kept_column": None}
    if isinstance(spec, StagingSpec) and spec.deduplicate is not None:
        values["window"] = _window(spec, style.adapter_type)
        values["output_names"] = [c.name for c in spec.columns]
        if spec.filter:
            # Filtered after the latest version is picked: a latest version marked deleted must not let an
            # older one stand in for it. The filter still reads the raw columns, so `renamed` computes it.
            kept = ColumnSpec(name=KEPT_COLUMN, expression=f"({spec.filter})", description="")
            values["renamed_columns"] = [*spec.columns, kept]
            values["kept_column"] = KEPT_COLUMN
    if isinstance(spec, AggregateSpec):
        values |= _aggregate_values(spec, style.adapter_type)
    if isinstance(spec, UnionSpec):
        values |= _union_values(spec, style.adapter_type)
    if isinstance(spec, HistorySpec):
        values |= history_values(spec, style.adapter_type) | {
            "alias": _cte_name(spec.from_model.split("__")[-1])
        }
    if isinstance(spec, PeriodicSnapshotSpec):
        values |= snapshot_values(spec, style.adapter_type)
    if isinstance(spec, MartSpec):
        values["new_rows"] = (
            new_rows_filter(spec, action.config.incremental, style.adapter_type)
            if action.config.incremental is not None
            else None
        )
        values["join_conditions"] = _join_conditions(spec.joins)
    return restyle(template.render(**values), style)


def _join_conditions(joins: list[MartJoin] | list[InputJoin]) -> list[list[str]]:
    """Each join's `left.column = right.column` conditions, every name passed through the grammar again."""
    return [
        [
            f"{checked_name(c.left_alias, '')}.{checked_name(c.left_column, '')} = "
            f"{checked_name(join.alias, '')}.{checked_name(c.right_column, '')}"
            for c in join.on
        ]
        for join in joins
    ]


def _window(spec: StagingSpec, adapter_type: str) -> str:
    assert spec.deduplicate is not None
    partition = ", ".join(checked_name(c, adapter_type) for c in spec.deduplicate.partition_by)
    order = ", ".join(
        checked_name(o.column, adapter_type) + (" desc" if o.descending else "")
        for o in spec.deduplicate.order_by
    )
    return f"partition by {partition} order by {order}"


def _aggregate_values(spec: AggregateSpec, adapter_type: str) -> dict[str, Any]:
    """The input's CTE name, the where clause (group keys not null, then the filter) and the group by; with
    joins, the CTE the input's rows widened by the joined columns are selected into, and the join conditions."""
    keys = [checked_name(k, adapter_type) for k in spec.group_by]
    conditions = [f"{k} is not null" for k in keys]
    if spec.filter:
        conditions.append(f"({checked_expression(spec.filter, adapter_type)})")
    joined = spec.from_alias is not None and bool(spec.joins)
    return {
        "alias": checked_name(spec.from_alias or "", "")
        if joined
        else _cte_name(spec.from_model.split("__")[-1]),
        "where": " and ".join(conditions),
        "group_by": ", ".join(keys),
        "joined": JOINED_CTE if joined else None,
        "joined_columns": [c for join in spec.joins for c in join.columns],
        "join_conditions": _join_conditions(spec.joins),
    }


@dataclass
class UnionBranch:
    """One `select` of a union: the CTE (or model) it reads and its columns, each cast to the declared type."""

    model: str
    cte: str
    columns: list[ColumnSpec]


def _union_values(spec: UnionSpec, adapter_type: str) -> dict[str, Any]:
    """One CTE per input model (however many inputs read it) and each input's select: its label as the source
    column, every other column its expression cast to the declared type (PostgreSQL refuses a union of text and
    numbers, and no warehouse is left to guess a common type)."""
    ctes: dict[str, str] = {}
    for model in dict.fromkeys(branch.model for branch in spec.inputs):
        name = _cte_name(model.split("__")[-1])
        while name in ctes.values() or name == "final":
            name = f"{name}_{len(ctes) + 1}"
        ctes[model] = name
    branches = []
    for branch in spec.inputs:
        label = source_label(branch)
        if problem := label_problem(label, adapter_type):
            raise PlanError(f"refusing to render the union label {problem}")
        columns = []
        for column in spec.columns:
            data_type = checked_cast_type(column.data_type or "", adapter_type)
            if column.name == spec.source_column:
                value = f"'{checked_literal_body(label, adapter_type)}'"
            else:
                value = checked_expression(branch.columns[column.name], adapter_type)
            columns.append(
                ColumnSpec(name=column.name, expression=f"cast({value} as {data_type})", description="")
            )
        branches.append(UnionBranch(checked_name(branch.model, ""), ctes[branch.model], columns))
    return {"ctes": ctes, "branches": branches}


def _cte_name(model: str) -> str:
    for prefix in ("stg_", "int_", "base_"):
        if model.startswith(prefix):
            return cte_name(model[len(prefix) :])
    return cte_name(model)


def _model_entry(action: PlanAction, options: RenderSettings, adapter_type: str) -> dict[str, Any]:
    assert not isinstance(action.spec, SourceSpec)
    entry: dict[str, Any] = {"name": checked_name(action.name, adapter_type)}
    if options.describe_models and action.description:
        entry["description"] = description_text(action.description, adapter_type)
    if action.tests:
        entry[options.yaml_test_key] = [_model_test_entry(t, options, adapter_type) for t in action.tests]
    columns = _columns(output_columns(action.spec), options, adapter_type)
    if isinstance(action.spec, TimeSpineSpec):
        # dbt ≥1.9 finds the time spine by this property; the column says its grain whatever the docs settings.
        column = checked_name(action.spec.column, adapter_type)
        entry["time_spine"] = {"standard_granularity_column": column}
        columns = [{**(columns[0] if columns else {"name": column}), "granularity": "day"}]
    if columns:
        entry["columns"] = columns
    return entry


def _is_additive(measure: SemanticMeasure) -> bool:
    """Whether a measure counts or adds up rows (`count`, `count_distinct`, `sum`): over no rows it is 0."""
    return measure.agg in ("count", "count_distinct", "sum")


def semantic_entries(
    model_name: str, spec: SemanticModelSpec, adapter_type: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A mart's semantic model entry and its metrics' entries: names in the grammar, expressions checked,
    descriptions and labels neutralized (dbt renders Jinja in these files too)."""

    def name(value: str) -> str:
        return checked_name(value, adapter_type)

    entry: dict[str, Any] = {"name": name(spec.name)}
    if spec.description:
        entry["description"] = neutralize(spec.description)
    entry["model"] = f"ref('{name(model_name)}')"
    if spec.primary_entity:
        entry["primary_entity"] = name(spec.primary_entity)
    if spec.agg_time_dimension:
        entry["defaults"] = {"agg_time_dimension": name(spec.agg_time_dimension)}
    entry["entities"] = [
        {"name": name(e.name), "type": e.type} | ({"expr": name(e.column)} if e.column != e.name else {})
        for e in spec.entities
    ]
    dimensions = []
    for dimension in spec.dimensions:
        item: dict[str, Any] = {"name": name(dimension.name), "type": dimension.type}
        if dimension.description:
            item["description"] = neutralize(dimension.description)
        if dimension.time_granularity:
            item["type_params"] = {"time_granularity": dimension.time_granularity}
        dimensions.append(item)
    if dimensions:
        entry["dimensions"] = dimensions
    measures = []
    for measure in spec.measures:
        item = {
            "name": name(measure.name),
            "agg": measure.agg,
            "expr": checked_expression(measure.expr, adapter_type),
        }
        if measure.description:
            item["description"] = neutralize(measure.description)
        if measure.agg_time_dimension:
            item["agg_time_dimension"] = name(measure.agg_time_dimension)
        measures.append(item)
    if measures:
        entry["measures"] = measures
    additive = {m.name for m in spec.measures if _is_additive(m)}
    metrics = []
    for metric in spec.metrics:
        item = {"name": name(metric.name), "label": neutralize(metric.label)}
        if metric.description:
            item["description"] = neutralize(metric.description)
        # A count or sum over a period with nothing in it is 0, not null: MetricFlow leaves a metric null where
        # another metric of the same query has rows (the weeks with merges but no pull request opened, the months
        # with orders but no line sold). A min, max or average of nothing stays null.
        measure_params: str | dict[str, Any] = name(metric.measure)
        if metric.measure in additive:
            measure_params = {"name": name(metric.measure), "fill_nulls_with": 0}
        item |= {"type": "simple", "type_params": {"measure": measure_params}}
        metrics.append(item)
    return entry, metrics


def _columns(columns: list[ColumnSpec], options: RenderSettings, adapter_type: str) -> list[dict[str, Any]]:
    """Column entries; a project that does not describe columns only lists those that carry tests."""
    return [_column_entry(c, options, adapter_type) for c in columns if options.describe_columns or c.tests]


def _source_entry(spec: SourceSpec, options: RenderSettings, adapter_type: str) -> dict[str, Any]:
    """A source's YAML entry; dbt quotes its names without escaping, so each passes the quoting guard first."""
    entry: dict[str, Any] = {"name": checked_name(spec.source_name, "")}
    if spec.database:
        entry["database"] = neutralize(checked_warehouse_name(spec.database, adapter_type))
    entry["schema"] = neutralize(checked_warehouse_name(spec.schema_name, adapter_type))
    if options.describe_models and spec.description:
        entry["description"] = description_text(spec.description, adapter_type)
    # Quoted whenever the name is not plain, whatever the plan says: an adapter that does not quote by
    # default (Spark) would otherwise write it bare into SQL.
    if spec.quote_schema or needs_quoting(spec.schema_name):
        entry["quoting"] = {"schema": True}
    tables = []
    for table in spec.tables:
        item: dict[str, Any] = {"name": checked_name(table.name, "")}
        if table.identifier != table.name:
            item["identifier"] = neutralize(checked_warehouse_name(table.identifier, adapter_type))
        if table.quote_identifier or needs_quoting(table.identifier):
            item["quoting"] = {"identifier": True}
        if options.describe_models and table.description:
            item["description"] = description_text(table.description, adapter_type)
        if table.loaded_at_field and table.freshness:
            item["config"] = _freshness_config(table, adapter_type)
        for column in table.columns:
            if column.tests:
                checked_name(column.name, adapter_type)  # dbt writes a tested column bare into the test's SQL
        columns = _columns(table.columns, options, adapter_type)
        if columns:
            item["columns"] = columns
        tables.append(item)
    entry["tables"] = tables
    return entry


def _freshness_config(table: SourceTableSpec, adapter_type: str) -> dict[str, Any]:
    """A source table's freshness, under `config:` where dbt 1.10+ reads both keys without a deprecation warning.

    dbt pastes `loaded_at_field` into SQL as it is: the warehouse's name is quoted and escaped for the adapter,
    and a column holding timestamps as text is cast as its staging model casts it.
    """
    assert table.loaded_at_field is not None and table.freshness is not None
    column = next(c for c in table.columns if c.name == table.loaded_at_field)
    field = quote(column.name, adapter_type)
    if column.data_type and not is_temporal(column.data_type):
        field = f"cast({field} as {timestamp_type(adapter_type)})"
    thresholds = table.freshness.model_dump(exclude_none=True)
    return {"loaded_at_field": field, "freshness": thresholds}


def doc_reference(name: str) -> str:
    """`{{ doc('orders_status') }}`: the only Jinja cartridge writes into a description, for a plain name only."""
    # The plan checks held it to the manifest's names already; this keeps anything else out of the file.
    if not DOC_NAME.fullmatch(name):
        raise ValueError(f"not a doc block name: {name!r}")
    return "{{ doc('" + name + "') }}"


def _column_entry(column: ColumnSpec, options: RenderSettings, adapter_type: str) -> dict[str, Any]:
    # Source columns carry the warehouse's own names; model columns passed the grammar (neutral either way).
    entry: dict[str, Any] = {"name": neutralize(column.name)}
    if not options.describe_columns:
        return entry | (
            {options.yaml_test_key: [_test_entry(t, options, adapter_type) for t in column.tests]}
            if column.tests
            else {}
        )
    if column.description:  # left empty for the user to write: no `description: ''`
        entry["description"] = description_text(column.description, adapter_type)
    if column.description_doc is not None:
        entry["description"] = (
            f"{entry.get('description', '')} {doc_reference(column.description_doc)}".strip()
        )
    if column.data_type and options.yaml_column_types:
        entry["data_type"] = neutralize(column.data_type)
    if column.tests:
        entry[options.yaml_test_key] = [_test_entry(t, options, adapter_type) for t in column.tests]
    return entry


def _test_entry(test: DataTest, options: RenderSettings, adapter_type: str) -> Any:
    arguments: dict[str, Any] = {}
    if test.name == "relationships":
        arguments = {
            "to": f"ref('{checked_name(test.to or '', '')}')",
            "field": checked_name(test.field or "", ""),
        }
    elif test.name == "accepted_values":
        # dbt pastes each value between quotes without escaping it: the value carries its own escaping.
        values = [neutralize(checked_literal_body(v, adapter_type)) for v in test.values or []]
        arguments = {"values": flow_strings(values) if options.yaml_flow_values else values}
    return _generic_test(test.name, arguments, test, options)


def _model_test_entry(test: ModelTest, options: RenderSettings, adapter_type: str) -> Any:
    if test.name == "unique_combination_of_columns":
        arguments: dict[str, Any] = {
            "combination_of_columns": [checked_name(c, adapter_type) for c in test.columns]
        }
    elif test.name == "versions_do_not_overlap":
        arguments = overlap_test_arguments(test, adapter_type)
    else:
        arguments = {"expression": checked_expression(test.expression or "", adapter_type)}
    name = f"{_MODEL_TEST_PACKAGE}.{test.name}"
    return _generic_test(name, arguments, test, options)


def _generic_test(
    name: str, arguments: dict[str, Any], test: DataTest | ModelTest, options: RenderSettings
) -> Any:
    config: dict[str, Any] = {}
    if test.severity != "error":
        config["severity"] = test.severity
    meta = {"cartridge_note": test.note, "cartridge_relaxed": test.relaxed_reason}
    if any(meta.values()):
        # Both are outside text in part (failing counts, a model's reason): dbt renders Jinja in meta too.
        config["meta"] = {key: neutralize(value) for key, value in meta.items() if value}
    if not arguments and not config:
        return name
    body: dict[str, Any] = {}
    if arguments:
        if options.nested_test_arguments:
            body["arguments"] = arguments
        else:
            body.update(arguments)
    if config:
        body["config"] = config
    return {name: body}
