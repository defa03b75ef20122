"""Unit tests of cartridge_bridge.context.relevance: the budgeted slice of existing models related to new tables."""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from bench.synthetic_manifest import BrownfieldCase, brownfield_case
from cartridge_bridge.context.existing_models import ExistingModels
from cartridge_bridge.context.relevance import (
    DEFAULT_BUDGET,
    LINEAGE_BEYOND,
    NAME_BEYOND,
    OTHER_COLUMNS,
    UNRELATED,
    RelevantSlice,
    SliceEntry,
    estimate_tokens,
    key_names,
    relevant_slice,
)
from cartridge_bridge.gather.facts import ForeignKey, RawColumn, RawRelation
from cartridge_bridge.gather.manifest import Manifest

# Different seeds pick different new tables, key columns and project shapes.
SEEDS = {1: 2, 2: 3, 3: 2}  # seed → number of new tables


@dataclass(frozen=True)
class Case:
    generated: BrownfieldCase
    manifest: Manifest
    default: RelevantSlice  # the slice at the default budget, computed once per case


@pytest.fixture(scope="module", params=sorted(SEEDS))
def case(request: pytest.FixtureRequest) -> Case:
    generated = brownfield_case(5000, seed=request.param, new_tables=SEEDS[request.param], lean=True)
    manifest = to_manifest(generated.document)
    return Case(generated, manifest, relevant_slice(manifest, generated.relations))


def to_manifest(document: dict[str, Any]) -> Manifest:
    # As read_manifest does: the cyclic collector only slows down building this acyclic graph.
    gc.disable()
    try:
        return msgspec.convert(document, Manifest)
    finally:
        gc.enable()


def relation(identifier: str, *columns: str, **fields: Any) -> RawRelation:
    return RawRelation.model_validate(
        {
            "schema": "raw_app",
            "identifier": identifier,
            "columns": [RawColumn(name=c, data_type="text", position=i) for i, c in enumerate(columns, 1)],
            **fields,
        }
    )


def project(*models: dict[str, Any]) -> Manifest:
    nodes = {f"model.{m.get('package', 'shop')}.{m['name']}": m for m in models}
    document = {
        "metadata": {"project_name": "shop"},
        "nodes": {
            uid: {
                "unique_id": uid,
                "resource_type": "model",
                "package_name": m.get("package", "shop"),
                "name": m["name"],
                "original_file_path": f"models/{m['name']}.sql",
                "columns": {c: {"name": c} for c in m.get("columns", ())},
                "raw_code": m.get("code", ""),
                "depends_on": {"nodes": [f"model.shop.{p}" for p in m.get("parents", ())]},
            }
            for uid, m in nodes.items()
        },
    }
    return msgspec.convert(document, Manifest)


def model(
    name: str, columns: Iterable[str] = (), code: str = "", parents: Iterable[str] = (), **extra: Any
) -> dict[str, Any]:
    return {"name": name, "columns": list(columns), "code": code, "parents": list(parents), **extra}


def by_name(found: RelevantSlice) -> dict[str, SliceEntry]:
    return {e.name: e for e in found.entries}


def root_neighbours(manifest: Manifest, sharing: frozenset[str]) -> set[str]:
    """Parents and children of the sharing models, computed straight from the manifest."""
    models = {m.unique_id: m for m in manifest.root_models()}
    found = set()
    for node in models.values():
        parents = {models[p].name for p in node.depends_on.nodes if p in models}
        if node.name in sharing:
            found |= parents
        if parents & sharing:
            found.add(node.name)
    return found - sharing


# --- synthetic projects of 5,000 models ---------------------------------------------------------


def test_the_generator_and_the_slice_agree_on_the_key_names(case: Case) -> None:
    assert set(key_names(case.generated.relations)) == case.generated.key_names == set(case.default.key_names)


def test_every_key_sharing_model_is_in_the_slice_within_the_default_budget(case: Case) -> None:
    found = case.default
    sharing = {e.name for e in found.entries if e.signal == "key"}
    assert sharing == case.generated.key_sharing  # recall 1.0, and nothing sharing no key is called sharing
    assert len(sharing) > 50
    assert found.budget == DEFAULT_BUDGET
    assert found.tokens_used == estimate_tokens(found.context_json()) <= DEFAULT_BUDGET
    assert (found.over_budget_by, found.dropped_fields) == (0, [])
    for entry in found.entries:
        if entry.signal == "key":
            assert entry.keys and set(entry.keys) <= case.generated.key_names
            assert entry.why == f"key {', '.join(entry.keys)}"
            assert entry.path == case.manifest.nodes[f"model.acme_analytics.{entry.name}"].original_file_path


def test_key_sharing_models_come_first(case: Case) -> None:
    signals = [e.signal for e in case.default.entries]
    order = {"key": 0, "lineage": 1, "name": 2}
    assert signals == sorted(signals, key=order.__getitem__)


def test_lineage_neighbours_fill_the_budget_and_the_rest_is_counted(case: Case) -> None:
    neighbours = root_neighbours(case.manifest, case.generated.key_sharing)
    found = case.default
    included = {e.name for e in found.entries if e.signal == "lineage"}
    assert included and included < neighbours
    assert found.left_out[LINEAGE_BEYOND] == len(neighbours) - len(included)
    assert sum(found.left_out.values()) + len(found.entries) == len(case.manifest.root_models())
    # Nothing more would have fitted: the next neighbour alone needs more than what is left.
    assert found.tokens_used > DEFAULT_BUDGET - 60


def test_with_room_every_neighbour_and_name_alike_is_in(case: Case) -> None:
    # One reading of the models' SQL for the slice and the check below (parsing 1,000 models' SQL is the cost).
    existing = ExistingModels(case.manifest, None, "duckdb")
    found = relevant_slice(case.manifest, case.generated.relations, budget=1_000_000, existing=existing)
    signals = {s: {e.name for e in found.entries if e.signal == s} for s in ("key", "lineage", "name")}
    assert signals["key"] == case.generated.key_sharing
    assert signals["lineage"] == root_neighbours(case.manifest, case.generated.key_sharing)
    assert signals["name"]
    assert set(found.left_out) == {UNRELATED}
    assert found.left_out[UNRELATED] == len(case.manifest.root_models()) - len(found.entries)
    # No warehouse here: the columns come from each model's SQL (`*` followed upstream), never from its YAML.
    with_columns = [e for e in found.entries if e.columns]
    assert with_columns and all(0 < len(e.columns) <= OTHER_COLUMNS for e in with_columns)
    for entry in with_columns:
        facts = existing.get(entry.name)
        assert facts is not None and facts.columns_from == "sql"
        assert {c.name for c in entry.columns} <= {c.name for c in facts.columns} - set(facts.stale_columns)
    assert all(not {c.name for c in e.columns} & set(e.keys) for e in found.entries)


def test_a_budget_too_small_keeps_every_key_sharing_model_and_says_by_how_much(case: Case) -> None:
    found = relevant_slice(case.manifest, case.generated.relations, budget=500)
    assert {e.name for e in found.entries} == case.generated.key_sharing
    assert found.dropped_fields == ["path"] and all(e.path is None for e in found.entries)
    assert found.over_budget_by == found.tokens_used - 500 > 0
    assert found.left_out[LINEAGE_BEYOND] == len(root_neighbours(case.manifest, case.generated.key_sharing))


def test_the_slice_does_not_depend_on_manifest_order(case: Case) -> None:
    nodes = dict(reversed(list(case.manifest.nodes.items())))
    shuffled = Manifest(metadata=case.manifest.metadata, nodes=nodes)
    found = relevant_slice(shuffled, list(reversed(case.generated.relations)))
    assert found.model_dump_json() == case.default.model_dump_json()


# --- small hand-made projects -----------------------------------------------------------------


ORDERS = relation("orders", "id", "customer_id", "ordered_at")


def test_key_names_stage_the_primary_key_and_keep_foreign_keys() -> None:
    assert key_names([ORDERS]) == ["customer_id", "order_id"]
    declared = relation(
        "Line Items",
        "sku",
        "OrderRef",
        primary_key=["sku"],
        foreign_keys=[
            ForeignKey(
                columns=["OrderRef"], ref_schema="raw_app", ref_identifier="orders", ref_columns=["id"]
            )
        ],
    )
    assert key_names([ORDERS, declared]) == ["customer_id", "order_id", "order_ref", "sku"]
    assert key_names([relation("events", "payload", "at")]) == []


def test_a_key_found_only_in_the_sql_counts_and_a_longer_word_does_not() -> None:
    manifest = project(
        model("int_spend", code="select c.CUSTOMER_ID, sum(amount) from {{ ref('x') }} c group by 1"),
        model("stg_legacy", code="select customer_id_old, legacy_customer_id, old_order_idx from t"),
        model("dim_calendar", columns=["date_day"], code="select * from {{ ref('days') }}"),
        model("fct_sales", columns=["ORDER_ID", "amount"]),
    )
    found = relevant_slice(manifest, [ORDERS])
    assert [(e.name, e.why) for e in found.entries] == [
        ("fct_sales", "key order_id"),
        ("int_spend", "key customer_id"),
    ]
    assert found.left_out == {UNRELATED: 2}


def test_models_of_installed_packages_are_never_in_the_slice() -> None:
    manifest = project(model("stg_stripe__orders", columns=["order_id"], package="stripe"))
    assert relevant_slice(manifest, [ORDERS]).entries == []


def test_a_declared_key_without_id_is_matched_as_a_whole_word() -> None:
    products = relation("products", "sku", "title", primary_key=["sku"])
    manifest = project(
        model("fct_stock", code="select sku, qty from s"), model("fct_labels", code="select sku_code from s")
    )
    assert [e.name for e in relevant_slice(manifest, [products]).entries] == ["fct_stock"]


def test_neighbours_say_whose_parent_or_child_they_are() -> None:
    manifest = project(
        model("stg_customers", columns=["customer_id"]),
        model("stg_geo", columns=["zip"]),
        model("int_regions", columns=["region"], parents=["stg_geo"]),
        model("dim_customers", columns=["region"], parents=["stg_customers", "int_regions"]),
        model("fct_orders", columns=["order_id"], code="select 1", parents=["int_regions"]),
    )
    found = by_name(relevant_slice(manifest, [relation("refunds", "id", "customer_id")]))
    assert found["stg_customers"].why == "key customer_id"
    assert found["dim_customers"].why == "child of stg_customers"
    assert "int_regions" not in found  # a grandparent is not a neighbour
    assert set(found) == {"stg_customers", "dim_customers"}


def test_name_alikes_are_ordered_by_word_overlap() -> None:
    manifest = project(
        model("stg_app__subscription_events_daily"),
        model("int_subscription_plans"),
        model("fct_subscriptions"),
        model("dim_products"),
    )
    found = relevant_slice(manifest, [relation("subscriptions", "plan_name", "started_at")])
    assert [(e.name, e.why) for e in found.entries] == [
        ("fct_subscriptions", "name ~ subscriptions"),
        ("int_subscription_plans", "name ~ subscriptions"),
        ("stg_app__subscription_events_daily", "name ~ subscriptions"),
    ]
    assert found.left_out == {UNRELATED: 1}


def test_key_sharing_models_sort_by_keys_shared_then_name_likeness() -> None:
    manifest = project(
        model("a_orders_by_customer", columns=["customer_id"]),
        model("z_spend", columns=["customer_id", "order_id"]),
        model("b_misc", columns=["customer_id"]),
        model("fct_orders", columns=["customer_id"]),
    )
    names = [e.name for e in relevant_slice(manifest, [ORDERS]).entries]
    assert names == ["z_spend", "fct_orders", "a_orders_by_customer", "b_misc"]


def test_other_columns_are_added_in_slice_order_while_they_fit() -> None:
    columns = ["order_id", *(f"attribute_{i}" for i in range(12))]
    code = f"select {', '.join(columns)} from {{{{ ref('stg_orders') }}}}"
    manifest = project(*(model(f"fct_orders_{i}", code=code) for i in range(3)))
    roomy = relevant_slice(manifest, [ORDERS], budget=10_000)
    assert [[c.name for c in e.columns] for e in roomy.entries] == [columns[1 : 1 + OTHER_COLUMNS]] * 3
    exact = relevant_slice(manifest, [ORDERS], budget=roomy.tokens_used)
    assert exact.model_dump_json() == roomy.model_dump_json().replace("10000", str(roomy.tokens_used))
    short = relevant_slice(manifest, [ORDERS], budget=roomy.tokens_used - 1)
    assert [len(e.columns) for e in short.entries] == [OTHER_COLUMNS, OTHER_COLUMNS, 0]
    assert all(e.path for e in short.entries) and short.over_budget_by == 0


def test_real_columns_are_shown_and_a_yaml_only_column_never_is() -> None:
    code = (
        "with renamed as (select id as payment_id, order_id, amount / 100 as amount from {{ ref('raw') }})\n"
    )
    code += "select * from renamed"
    manifest = project(
        model("stg_payments", columns=["payment_id", "payment_method"], code=code),
    )
    (entry,) = relevant_slice(manifest, [ORDERS]).entries
    assert [(c.name, c.expression) for c in entry.columns] == [
        ("amount", "amount / 100"),
        ("payment_id", None),
    ]
    assert (entry.layer, entry.keys) == ("staging", ["order_id"])


def test_name_alikes_beyond_the_budget_are_counted() -> None:
    manifest = project(
        model("stg_shop__orders", columns=["order_id"]),
        *(model(f"fct_refunds_{i}") for i in range(40)),
        model("dim_days"),
    )
    refunds = relation("refunds", "id", "order_id")
    found = relevant_slice(manifest, [refunds], budget=300)
    names = [e.name for e in found.entries if e.signal == "name"]
    assert 0 < len(names) < 40 and found.tokens_used <= 300
    assert found.left_out == {UNRELATED: 1, NAME_BEYOND: 40 - len(names)}
    assert names == sorted(names)  # equally similar names: alphabetical order
