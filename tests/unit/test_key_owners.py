"""Existing models own a key only when they are tested unique + not_null on it and the warehouse holds them."""

from __future__ import annotations

import msgspec

from cartridge_bridge.context.key_owners import key_owners
from cartridge_bridge.gather.facts import GraphNode, ProjectGraph
from cartridge_bridge.gather.manifest import Manifest


def _manifest() -> Manifest:
    def model(name: str) -> dict[str, object]:
        return {
            "unique_id": f"model.shop.{name}",
            "resource_type": "model",
            "name": name,
            "package_name": "shop",
        }

    def test(model_name: str, column: str, kind: str) -> dict[str, object]:
        return {
            "unique_id": f"test.shop.{kind}_{model_name}_{column}",
            "resource_type": "test",
            "name": f"{kind}_{model_name}_{column}",
            "package_name": "shop",
            "attached_node": f"model.shop.{model_name}",
            "column_name": column,
            "test_metadata": {"name": kind},
        }

    nodes = [
        model(n) for n in ("stg_customers", "dim_customers", "customers_v2", "int_customers", "stg_orders")
    ]
    for name in ("stg_customers", "dim_customers", "customers_v2", "int_customers", "stg_orders"):
        key = "order_id" if name == "stg_orders" else "customer_id"
        nodes += [test(name, key, "unique"), test(name, key, "not_null")]
    nodes.append(test("stg_orders", "customer_id", "not_null"))  # not a key: no unique test
    document = {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "project_name": "shop",
        },
        "nodes": {n["unique_id"]: n for n in nodes},
    }
    return msgspec.json.decode(msgspec.json.encode(document), type=Manifest)


def _graph(*built: str) -> ProjectGraph:
    names = ("stg_customers", "dim_customers", "customers_v2", "int_customers", "stg_orders")
    return ProjectGraph(
        project_name="shop",
        nodes=[
            GraphNode(
                unique_id=f"model.shop.{n}",
                resource_type="model",
                name=n,
                schema="analytics",
                identifier=n,
                exists=n in built,
                type="table" if n in built else None,
            )
            for n in names
        ],
    )


def test_without_the_graph_nothing_is_known_to_be_built() -> None:
    assert key_owners(_manifest(), None) == {}


def test_owners_are_built_keyed_models_per_layer_named_after_the_entity() -> None:
    owners = key_owners(
        _manifest(), _graph("stg_customers", "dim_customers", "customers_v2", "int_customers")
    )
    assert set(owners) == {"customer_id"}  # stg_orders is not built
    assert (owners["customer_id"].staging, owners["customer_id"].mart) == ("stg_customers", "dim_customers")


def test_an_unbuilt_model_is_never_an_owner() -> None:
    owners = key_owners(_manifest(), _graph("stg_customers", "customers_v2"))
    assert (owners["customer_id"].staging, owners["customer_id"].mart) == ("stg_customers", "customers_v2")
