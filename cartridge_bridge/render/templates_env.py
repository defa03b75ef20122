"""The one jinja2 Environment that renders cartridge's templates (package data)."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from cartridge_bridge.render.sql_style import select_list


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
    # Generated models call dbt's own Jinja; these helpers write those calls as text.
    env.globals["ref_call"] = lambda model: "{{ ref('" + model + "') }}"
    env.globals["source_call"] = lambda source, table: "{{ source('" + source + "', '" + table + "') }}"
    env.globals["config_call"] = lambda materialized: "{{ config(materialized='" + materialized + "') }}"
    env.globals["select_list"] = select_list
    return env
