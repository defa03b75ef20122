"""The one jinja2 Environment that renders cartridge's templates (package data)."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from cartridge_bridge.planning.plan import ModelConfig, TimeSpineSpec
from cartridge_bridge.render.guards import checked_expression, checked_name
from cartridge_bridge.render.incremental import incremental_arguments
from cartridge_bridge.render.sql_style import name_list, select_list
from cartridge_bridge.sql.identifiers import TAG


def ref_call(model: str) -> str:
    """dbt's `ref()` of a model whose name passed the grammar."""
    return "{{ ref('" + checked_name(model, "") + "') }}"


def source_call(source: str, table: str) -> str:
    """dbt's `source()` of a source table whose names passed the grammar."""
    return "{{ source('" + checked_name(source, "") + "', '" + checked_name(table, "") + "') }}"


def config_call(config: ModelConfig, adapter_type: str = "") -> str:
    """The model's `config()` block, or nothing when its folder's config in dbt_project.yml covers it."""
    arguments = []
    if config.materialized:
        arguments.append(f"materialized='{config.materialized}'")  # a Literal: view, table, …
    if config.unique_key:
        keys = [f"'{checked_name(k, '')}'" for k in config.unique_key]
        arguments.append(f"unique_key={keys[0]}" if len(keys) == 1 else f"unique_key=[{', '.join(keys)}]")
    if config.tags:
        tags = [f"'{t}'" for t in config.tags if TAG.fullmatch(t)]
        arguments.append(f"tags=[{', '.join(tags)}]")
    if config.incremental is not None:
        arguments += incremental_arguments(config.incremental, adapter_type)
    return "{{ config(" + ", ".join(arguments) + ") }}" if arguments else ""


def date_spine_call(spec: TimeSpineSpec) -> str:
    """dbt's own `date_spine` over the spine's days; the bounds are dates, written in ISO form."""
    start, end = spec.start_date.isoformat(), spec.end_date.isoformat()
    return f"{{{{ dbt.date_spine('day', \"cast('{start}' as date)\", \"cast('{end}' as date)\") }}}}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Environment over cartridge_bridge/render/templates (model SQL), strict about undefined names."""
    env = Environment(
        loader=PackageLoader("cartridge_bridge.render", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    # Generated models call dbt's own Jinja; these helpers write those calls as text, from checked names.
    env.globals["ref_call"] = ref_call
    env.globals["source_call"] = source_call
    env.globals["config_call"] = config_call
    env.globals["date_spine_call"] = date_spine_call
    env.globals["select_list"] = select_list
    env.globals["name_list"] = name_list
    env.globals["name"] = checked_name
    env.globals["expression"] = checked_expression
    return env
