"""Generated SQL follows the project's style: commas, keyword case, indentation, import CTEs."""

from __future__ import annotations

import sqlglot

from cartridge_bridge.planning.plan import ColumnSpec, Materialization, ModelConfig, PlanAction, StagingSpec
from cartridge_bridge.render.plan_files import render_sql
from cartridge_bridge.render.sql_style import SqlStyle, restyle, select_list

COLUMNS = [
    ColumnSpec(name="order_id", source_column="id", cast_to="integer", description="d"),
    ColumnSpec(name="status", source_column="status", description="d"),
    ColumnSpec(name="note", source_column="Select Note", cast_to="text", description="d"),
]


def _staging(materialized: Materialization | None = None) -> PlanAction:
    spec = StagingSpec(
        source_name="shop", table="orders", entity="order", grain=["order_id"], columns=COLUMNS
    )
    return PlanAction(
        step_id=1,
        type="create_staging",
        name="stg_shop__orders",
        file_path="models/staging/shop/stg_shop__orders.sql",
        config=ModelConfig(materialized=materialized),
        description="d",
        spec=spec,
    )


def test_trailing_and_leading_commas() -> None:
    assert select_list(COLUMNS[:2], 1, SqlStyle()) == "    cast(id as integer) as order_id,\n    status"
    assert select_list(COLUMNS[:2], 1, SqlStyle(leading_commas=True)) == (
        "    cast(id as integer) as order_id\n    , status"
    )


def test_upper_case_keeps_jinja_quoted_names_and_strings() -> None:
    sql = "select cast(\"select\" as text) as a, 'from' as b from {{ source('shop', 'select') }}"
    assert restyle(sql, SqlStyle(keyword_case="upper")) == (
        "SELECT CAST(\"select\" AS text) AS a, 'from' AS b FROM {{ source('shop', 'select') }}"
    )


def test_indentation_is_rescaled() -> None:
    assert restyle("with\n\nx as (\n\n    select\n        a\n)\n", SqlStyle(indent=2)) == (
        "with\n\nx as (\n\n  select\n    a\n)\n"
    )


def test_without_import_ctes_the_source_is_selected_from_directly() -> None:
    style = SqlStyle(import_ctes=False, keyword_case="upper", indent=2, leading_commas=True)
    sql = render_sql(_staging(), style)
    assert sql == (
        "SELECT\n"
        "  CAST(id AS integer) AS order_id\n"
        "  , status\n"
        '  , CAST("Select Note" AS text) AS note\n'
        "FROM {{ source('shop', 'orders') }}\n"
    )


def test_every_style_renders_sql_that_parses() -> None:
    for import_ctes in (True, False):
        for leading in (True, False):
            for case in ("lower", "upper"):
                style = SqlStyle(import_ctes=import_ctes, leading_commas=leading, keyword_case=case, indent=2)
                sql = render_sql(_staging("view"), style)
                body = sql.replace("{{ source('shop', 'orders') }}", "raw.orders")
                body = body.replace("{{ config(materialized='view') }}", "")
                assert sqlglot.parse_one(body, read="postgres") is not None
