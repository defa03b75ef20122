"""Existing models as the warehouse and their SQL hold them: columns, types, grain, transforms, stale YAML."""

from __future__ import annotations

from typing import Any

import msgspec

from cartridge_bridge.context.existing_models import ExistingModels, stale_findings
from cartridge_bridge.gather.facts import GraphColumn, GraphNode, ProjectGraph
from cartridge_bridge.gather.manifest import Manifest

STAGING = """
{{ config(materialized='view') }}
{# payments arrive in cents #}
with source as (select * from {{ source('shop', 'payments') }}),
renamed as (
    select
        id as payment_id,
        order_id,
        cast(paid_on as date) as paid_on,
        amount / 100 as amount,
        case when method = 'cc' then 'credit_card' else method end as payment_method
    from source
)
select * from renamed
"""
LOOPED = "select order_id{% for m in ['a', 'b'] %}, {{ m }}_amount{% endfor %} from {{ ref('stg_payments') }}"


def manifest(
    *models: dict[str, Any], tests: tuple[dict[str, Any], ...] = (), docs: dict[str, str] | None = None
) -> Manifest:
    nodes = {
        f"model.shop.{m['name']}": {
            "unique_id": f"model.shop.{m['name']}",
            "resource_type": "model",
            "package_name": "shop",
            "original_file_path": f"models/{m['name']}.sql",
            "depends_on": {"nodes": m.pop("parents", [])},
            **m,
        }
        for m in models
    }
    for index, test in enumerate(tests):
        nodes[f"test.shop.t{index}"] = {
            "unique_id": f"test.shop.t{index}",
            "resource_type": "test",
            "name": f"t{index}",
            "package_name": "shop",
            **test,
        }
    blocks = {
        f"doc.shop.{name}": {
            "unique_id": f"doc.shop.{name}",
            "name": name,
            "package_name": "shop",
            "block_contents": text,
        }
        for name, text in (docs or {}).items()
    }
    document = {
        "metadata": {"project_name": "shop", "adapter_type": "duckdb"},
        "nodes": nodes,
        "docs": blocks,
    }
    document["sources"] = {
        "source.shop.shop.payments": {
            "unique_id": "source.shop.shop.payments",
            "name": "payments",
            "source_name": "shop",
            "package_name": "shop",
            "identifier": "payments",
        }
    }
    return msgspec.convert(document, Manifest)


def test_a_staging_models_transforms_are_read_from_its_sql() -> None:
    project = manifest(
        {
            "name": "stg_payments",
            "raw_code": STAGING,
            "parents": ["source.shop.shop.payments"],
            "columns": {"payment_method": {"name": "payment_method", "description": "How it was paid."}},
        }
    )
    facts = ExistingModels(project, None, "duckdb").get("stg_payments")
    assert facts is not None and (facts.columns_from, facts.layer, facts.reads) == (
        "sql",
        "staging",
        ["shop.payments"],
    )
    made = {c.name: (c.expression, c.data_type) for c in facts.columns}
    assert made == {
        "payment_id": (None, None),  # a rename is no transform
        "order_id": (None, None),
        "paid_on": ("CAST(paid_on AS DATE)", "DATE"),
        "amount": ("amount / 100", None),
        "payment_method": ("CASE WHEN method = 'cc' THEN 'credit_card' ELSE method END", None),
    }
    assert facts.column("payment_method").description == "How it was paid."  # type: ignore[union-attr]


def test_the_warehouse_names_the_columns_and_the_yaml_only_ones_are_stale() -> None:
    project = manifest(
        {"name": "stg_payments", "raw_code": STAGING, "parents": ["source.shop.shop.payments"]},
        {
            "name": "orders",
            "raw_code": LOOPED,
            "parents": ["model.shop.stg_payments"],
            "columns": {"order_id": {"name": "order_id"}, "total": {"name": "total", "description": "Gone."}},
        },
    )
    unknown = ExistingModels(project, None, "duckdb").get("orders")
    # Jinja loops shape it and nothing is built: columns unknown, and the YAML is not called stale either.
    assert unknown is not None and (unknown.columns_from, unknown.columns, unknown.stale_columns) == (
        "unknown",
        [],
        [],
    )
    columns = [("order_id", "INTEGER"), ("a_amount", "DOUBLE"), ("b_amount", "DOUBLE")]
    graph = ProjectGraph(
        project_name="shop",
        nodes=[
            GraphNode(
                unique_id="model.shop.orders",
                resource_type="model",
                name="orders",
                schema="main",
                identifier="orders",
                exists=True,
                type="table",
                columns=[GraphColumn(name=n, data_type=t, position=i) for i, (n, t) in enumerate(columns, 1)],
            )
        ],
    )
    built = ExistingModels(project, graph, "duckdb")
    orders = built.get("orders")
    assert orders is not None and orders.columns_from == "warehouse"
    assert [(c.name, c.data_type) for c in orders.columns] == columns
    assert orders.stale_columns == ["total"]
    assert stale_findings(built.some(["orders", "stg_payments", "missing"])) == [
        "stale documentation: `orders.total` (models/orders.sql) is documented, but the built relation has no such column"
    ]


def test_the_grain_comes_from_constraints_key_tests_or_a_unique_combination() -> None:
    def test(name: str, model: str, column: str | None = None, **kwargs: Any) -> dict[str, Any]:
        return {
            "attached_node": f"model.shop.{model}",
            "column_name": column,
            "test_metadata": {
                "name": name,
                "namespace": "dbt_utils" if column is None else None,
                "kwargs": kwargs,
            },
        }

    project = manifest(
        {
            "name": "a",
            "raw_code": "select 1 as x, 2 as y",
            "constraints": [{"type": "primary_key", "columns": ["x", "y"]}],
        },
        {
            "name": "b",
            "raw_code": "select 1 as x",
            "columns": {"x": {"name": "x", "constraints": [{"type": "primary_key"}]}},
        },
        {"name": "c", "raw_code": "select 1 as c_id, 2 as other_id"},
        {"name": "d", "raw_code": "select 1 as x, 2 as y"},
        tests=(
            test("unique", "c", "c_id"),
            test("not_null", "c", "c_id"),
            test("unique", "c", "other_id"),  # unique alone is no key
            test("unique_combination_of_columns", "d", combination_of_columns=["x", "y"]),
        ),
    )
    found = ExistingModels(project, None, "duckdb").some(["a", "b", "c", "d"])
    assert {n: (f.grain, f.grain_from) for n, f in found.items()} == {
        "a": (["x", "y"], "primary_key constraint"),
        "b": (["x"], "primary_key constraint"),
        "c": (["c_id"], "unique + not_null tests"),
        "d": (["x", "y"], "unique_combination_of_columns test"),
    }


def test_a_doc_block_is_recognised_by_its_text_in_older_manifests() -> None:
    text = "Where the order is:\n\n| status | meaning |\n|---|---|\n| placed | new |"
    project = manifest(
        {
            "name": "stg_orders",
            "raw_code": "select status from {{ source('shop', 'payments') }}",
            "parents": ["source.shop.shop.payments"],
            "columns": {"status": {"name": "status", "description": text}},
        },
        docs={"order_status": text},
    )
    facts = ExistingModels(project, None, "duckdb").get("stg_orders")
    assert facts is not None and facts.column("status").doc == "order_status"  # type: ignore[union-attr]
