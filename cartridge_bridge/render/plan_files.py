"""Render an execution plan into file contents: SQL from templates, YAML entries to merge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cartridge_bridge.context.naming import cte_name
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    DataTest,
    ExecutionPlan,
    MartSpec,
    PlanAction,
    RenderSettings,
    SourceSpec,
    StagingSpec,
    output_columns,
)
from cartridge_bridge.render.sql_style import SqlStyle, restyle
from cartridge_bridge.render.templates_env import environment

_TEMPLATES = {StagingSpec: "staging.sql.j2", AggregateSpec: "aggregate.sql.j2", MartSpec: "mart.sql.j2"}


@dataclass
class RenderedFile:
    """One file the plan writes: whole SQL text, or YAML entries merged into the file add-only."""

    path: str
    kind: Literal["sql", "yaml"]
    text: str = ""
    models: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)


def render_plan(plan: ExecutionPlan, options: RenderSettings | None = None) -> list[RenderedFile]:
    """Every file of the plan, in plan order, YAML entries grouped by their file (as `plan.render` says)."""
    options = options or plan.render
    style = SqlStyle.of(options)
    files: dict[str, RenderedFile] = {}
    for action in plan.actions:
        spec = action.spec
        if isinstance(spec, SourceSpec):
            yaml_file = files.setdefault(action.file_path, RenderedFile(action.file_path, "yaml"))
            yaml_file.sources.append(_source_entry(spec, options))
            continue
        files[action.file_path] = RenderedFile(action.file_path, "sql", text=render_sql(action, style))
        if action.properties_path:
            yaml_file = files.setdefault(action.properties_path, RenderedFile(action.properties_path, "yaml"))
            yaml_file.models.append(_model_entry(action, options))
    return list(files.values())


def render_sql(action: PlanAction, style: SqlStyle | None = None) -> str:
    """The SQL of one model action, in the project's SQL style."""
    style = style or SqlStyle()
    template = environment().get_template(_TEMPLATES[type(action.spec)])
    alias = action.spec.from_model.split("__")[-1] if isinstance(action.spec, AggregateSpec) else ""
    return restyle(
        template.render(action=action, spec=action.spec, alias=_cte_name(alias), style=style), style
    )


def _cte_name(model: str) -> str:
    for prefix in ("stg_", "int_", "base_"):
        if model.startswith(prefix):
            return cte_name(model[len(prefix) :])
    return cte_name(model)


def _model_entry(action: PlanAction, options: RenderSettings) -> dict[str, Any]:
    assert not isinstance(action.spec, SourceSpec)
    entry: dict[str, Any] = {"name": action.name}
    if options.describe_models:
        entry["description"] = action.description
    columns = _columns(output_columns(action.spec), options)
    if columns:
        entry["columns"] = columns
    return entry


def _columns(columns: list[ColumnSpec], options: RenderSettings) -> list[dict[str, Any]]:
    """Column entries; a project that does not describe columns only lists those that carry tests."""
    return [_column_entry(c, options) for c in columns if options.describe_columns or c.tests]


def _source_entry(spec: SourceSpec, options: RenderSettings) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": spec.source_name}
    if spec.database:
        entry["database"] = spec.database
    entry["schema"] = spec.schema_name
    if options.describe_models:
        entry["description"] = spec.description
    if spec.quote_schema:
        entry["quoting"] = {"schema": True}
    tables = []
    for table in spec.tables:
        item: dict[str, Any] = {"name": table.name}
        if table.identifier != table.name:
            item["identifier"] = table.identifier
        if table.quote_identifier:
            item["quoting"] = {"identifier": True}
        if options.describe_models:
            item["description"] = table.description
        columns = _columns(table.columns, options)
        if columns:
            item["columns"] = columns
        tables.append(item)
    entry["tables"] = tables
    return entry


def _column_entry(column: ColumnSpec, options: RenderSettings) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": column.name}
    if not options.describe_columns:
        return entry | (
            {"data_tests": [_test_entry(t, options) for t in column.tests]} if column.tests else {}
        )
    entry["description"] = column.description
    if column.data_type:
        entry["data_type"] = column.data_type
    if column.tests:
        entry["data_tests"] = [_test_entry(t, options) for t in column.tests]
    return entry


def _test_entry(test: DataTest, options: RenderSettings) -> Any:
    arguments: dict[str, Any] = {}
    if test.name == "relationships":
        arguments = {"to": f"ref('{test.to}')", "field": test.field}
    elif test.name == "accepted_values":
        arguments = {"values": list(test.values or [])}
    config: dict[str, Any] = {}
    if test.severity != "error":
        config["severity"] = test.severity
    if test.note:
        config["meta"] = {"cartridge_note": test.note}
    if not arguments and not config:
        return test.name
    body: dict[str, Any] = {}
    if arguments:
        if options.nested_test_arguments:
            body["arguments"] = arguments
        else:
            body.update(arguments)
    if config:
        body["config"] = config
    return {test.name: body}
