"""Unit tests of cartridge_bridge.planning.rules.planner on the fixture shop: structure, names, tests and measures."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from support import UNIT_FIXTURES, shop_project

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.gather.facts import ForeignKey, RawColumn, RawRelation, WarehouseFacts
from cartridge_bridge.gather.manifest import Manifest, Metadata, Node
from cartridge_bridge.planning.checks import validate_plan
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    ExecutionPlan,
    MartSpec,
    PlanAction,
    SourceSpec,
    StagingSpec,
    output_columns,
)
from cartridge_bridge.planning.rules.planner import PLANNER_NAME, plan_with_rules
from cartridge_bridge.render.sql_style import SqlStyle, column_expression
from cartridge_bridge.sql.naming import needs_quoting

FIXTURES = UNIT_FIXTURES
SHOP_TABLES = ["customers", "orders", "order_items", "products"]  # payments is already a source


def sql(column: ColumnSpec) -> str:
    """The SQL a column is rendered with on PostgreSQL."""
    return column_expression(column, SqlStyle(adapter_type="postgres"))


@pytest.fixture(scope="module")
def plan(context: ProjectContext) -> ExecutionPlan:
    return plan_with_rules(context)


def by_name(plan: ExecutionPlan) -> dict[str, PlanAction]:
    return {a.name: a for a in plan.actions}


def column(action: PlanAction, name: str) -> ColumnSpec:
    assert not isinstance(action.spec, SourceSpec)
    return next(c for c in output_columns(action.spec) if c.name == name)


def test_plan_header(plan: ExecutionPlan) -> None:
    assert plan.project_name == "shop"
    assert plan.planner == PLANNER_NAME
    assert plan.adapter_type == "postgres"
    assert plan.strategy == "brownfield"  # stg_legacy exists
    assert [a.step_id for a in plan.actions] == list(range(1, len(plan.actions) + 1))


def test_the_plan_is_valid(plan: ExecutionPlan, context: ProjectContext) -> None:
    validate_plan(plan, context)


def test_dependencies_come_before_their_dependents(plan: ExecutionPlan) -> None:
    seen: set[str] = set()
    for action in plan.actions:
        if isinstance(action.spec, SourceSpec):
            seen |= {f"{action.spec.source_name}.{t.name}" for t in action.spec.tables}
        assert set(action.dependencies) <= seen, action.name
        seen.add(action.name)


def test_one_source_declares_every_uncovered_table(plan: ExecutionPlan) -> None:
    sources = [a for a in plan.actions if a.type == "create_source"]
    assert len(sources) == 1
    [source] = sources
    assert source.name == "shop"
    assert source.file_path == "models/staging/shop/_shop__sources.yml"
    assert isinstance(source.spec, SourceSpec)
    assert source.spec.schema_name == "raw_shop"
    assert not source.spec.quote_schema
    assert [t.name for t in source.spec.tables] == SHOP_TABLES
    customers = source.spec.tables[0]
    assert customers.description == "Registered shop customers."  # the table comment, as a sentence
    assert [c.name for c in customers.columns] == ["id", "email", "createdAt"]  # raw spellings


def test_covered_table_is_skipped_with_a_reason(plan: ExecutionPlan) -> None:
    assert plan.skipped == ["raw_shop.payments: already declared as a source, read by stg_legacy"]
    assert not any("payments" in a.name for a in plan.actions)


def test_a_staging_model_per_table(plan: ExecutionPlan) -> None:
    staging = [a for a in plan.actions if a.type == "create_staging"]
    assert [a.name for a in staging] == [f"stg_shop__{t}" for t in SHOP_TABLES]
    for action, table in zip(staging, SHOP_TABLES, strict=True):
        assert action.file_path == f"models/staging/shop/stg_shop__{table}.sql"
        assert action.properties_path == "models/staging/shop/_shop__models.yml"
        assert action.dependencies == [f"shop.{table}"]
        assert action.config.materialized == "view"
        assert isinstance(action.spec, StagingSpec)
        assert (action.spec.source_name, action.spec.table) == ("shop", table)


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("stg_shop__customers", "customer_id"),
        ("stg_shop__orders", "order_id"),
        ("stg_shop__order_items", "order_item_id"),
        ("stg_shop__products", "product_id"),
    ],
)
def test_primary_key_is_renamed_to_entity_id_and_tested(plan: ExecutionPlan, model: str, key: str) -> None:
    action = by_name(plan)[model]
    assert isinstance(action.spec, StagingSpec)
    assert action.spec.grain == [key]
    first = action.spec.columns[0]
    assert (first.name, sql(first)) == (key, "id")  # integer already: renamed, not cast
    assert [t.name for t in first.tests] == ["unique", "not_null"]
    assert not [c for c in action.spec.columns[1:] if {"unique", "not_null"} & {t.name for t in c.tests}]


def test_staging_renames_to_snake_case_and_quotes_raw_names(plan: ExecutionPlan) -> None:
    created_at = column(by_name(plan)["stg_shop__customers"], "created_at")
    assert sql(created_at) == '"createdAt"'  # quoted, and not cast to the type it has
    assert created_at.data_type == "timestamp with time zone"


def test_reserved_word_column_gets_a_value_suffix(plan: ExecutionPlan) -> None:
    products = by_name(plan)["stg_shop__products"]
    assert [c.name for c in products.spec.columns] == ["product_id", "name", "group_value", "price"]  # type: ignore[union-attr]
    assert sql(column(products, "group_value")) == '"group"'
    assert "group_value" in [c.name for c in output_columns(by_name(plan)["dim_products"].spec)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "fk", "parent", "field"),
    [
        ("stg_shop__orders", "customer_id", "stg_shop__customers", "customer_id"),
        ("stg_shop__order_items", "order_id", "stg_shop__orders", "order_id"),
        ("stg_shop__order_items", "product_id", "stg_shop__products", "product_id"),
    ],
)
def test_foreign_keys_are_tested_against_the_parent_staging_model(
    plan: ExecutionPlan, model: str, fk: str, parent: str, field: str
) -> None:
    spec = column(by_name(plan)[model], fk)
    [test] = spec.tests
    assert (test.name, test.to, test.field) == ("relationships", parent, field)
    assert f"`{parent}`" in spec.description


def test_an_intermediate_model_per_child_of_a_mart(plan: ExecutionPlan) -> None:
    intermediates = {a.name: a for a in plan.actions if a.type == "create_intermediate"}
    assert sorted(intermediates) == [
        "int_order_items_aggregated_to_customers",  # the orders' items rolled up from fct_orders
        "int_order_items_aggregated_to_orders",
        "int_order_items_aggregated_to_products",
        "int_orders_aggregated_to_customers",
    ]
    assert intermediates["int_order_items_aggregated_to_customers"].dependencies == ["fct_orders"]
    to_customers = intermediates["int_orders_aggregated_to_customers"]
    assert to_customers.file_path == "models/intermediate/int_orders_aggregated_to_customers.sql"
    assert to_customers.properties_path == "models/intermediate/_intermediate__models.yml"
    assert to_customers.dependencies == ["stg_shop__orders"]
    spec = to_customers.spec
    assert isinstance(spec, AggregateSpec)
    assert (spec.from_model, spec.group_by) == ("stg_shop__orders", ["customer_id"])
    assert [(c.name, c.expression) for c in spec.columns] == [
        ("customer_id", "customer_id"),
        ("number_of_orders", "count(*)"),
        ("first_ordered_at", "min(ordered_at)"),
        ("last_ordered_at", "max(ordered_at)"),
    ]
    assert [t.name for t in spec.columns[0].tests] == [
        "unique",
        "not_null",
    ]  # the foreign key is tested in staging


def test_prices_are_not_summed(plan: ExecutionPlan) -> None:
    spec = by_name(plan)["int_order_items_aggregated_to_orders"].spec
    assert isinstance(spec, AggregateSpec)
    assert [(c.name, c.expression) for c in spec.columns[1:]] == [
        ("number_of_order_items", "count(*)"),
        ("total_order_item_quantity", "sum(quantity)"),
        # a unit price is summed only times its quantity: what the items sell for
        ("total_order_item_extended_price", "sum(quantity * unit_price)"),
    ]
    every_expression = [sql(c) for a in plan.models() for c in output_columns(a.spec)]  # type: ignore[arg-type]
    priced = [e for e in every_expression if "sum(" in e and "price" in e]
    assert not [e for e in priced if "quantity * " not in e and "extended_price" not in e]


def test_parents_without_outgoing_keys_are_dimensions_and_children_are_facts(plan: ExecutionPlan) -> None:
    marts = {a.name: a for a in plan.actions if a.type == "create_mart"}
    roles = {name: a.spec.role for name, a in marts.items()}  # type: ignore[union-attr]
    assert roles == {
        "dim_customers": "dimension",
        "dim_products": "dimension",
        "fct_orders": "fact",
        "fct_order_items": "fact",
    }
    for name, action in marts.items():
        assert action.file_path == f"models/marts/{name}.sql"
        assert action.properties_path == "models/marts/_marts__models.yml"
        assert action.config.materialized == "table"


def test_marts_join_the_aggregates_of_their_children(plan: ExecutionPlan) -> None:
    dim_customers = by_name(plan)["dim_customers"]
    spec = dim_customers.spec
    assert isinstance(spec, MartSpec)
    assert dim_customers.dependencies == [
        "stg_shop__customers",
        "int_orders_aggregated_to_customers",
        "int_order_items_aggregated_to_customers",
    ]
    assert (spec.base_model, spec.base_alias, spec.grain) == (
        "stg_shop__customers",
        "customers",
        ["customer_id"],
    )
    join, rolled = spec.joins
    assert rolled.model == "int_order_items_aggregated_to_customers"  # the orders' items, past fct_orders
    assert (join.model, join.alias, join.join_type) == (
        "int_orders_aggregated_to_customers",
        "orders_aggregated",
        "left",
    )
    assert [(c.left_alias, c.left_column, c.right_column) for c in join.on] == [
        ("customers", "customer_id", "customer_id")
    ]
    assert [(c.name, c.expression) for c in join.columns] == [
        ("number_of_orders", "coalesce(orders_aggregated.number_of_orders, 0)"),
        ("first_ordered_at", "orders_aggregated.first_ordered_at"),  # no zero for a missing date
        ("last_ordered_at", "orders_aggregated.last_ordered_at"),
    ]
    assert by_name(plan)["fct_order_items"].spec.joins == []  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("mart", "fk", "parent_mart"),
    [
        ("fct_orders", "customer_id", "dim_customers"),
        ("fct_order_items", "order_id", "fct_orders"),
        ("fct_order_items", "product_id", "dim_products"),
    ],
)
def test_mart_foreign_keys_name_the_mart_they_point_at_and_are_not_tested_again(
    plan: ExecutionPlan, mart: str, fk: str, parent_mart: str
) -> None:
    spec = column(by_name(plan)[mart], fk)
    assert spec.tests == []
    assert f"`{parent_mart}`" in spec.description


def test_relationships_are_tested_in_staging_only(plan: ExecutionPlan) -> None:
    tested = {
        a.type
        for a in plan.models()
        for c in output_columns(a.spec)
        for t in c.tests
        if t.name == "relationships"
    }  # type: ignore[arg-type]
    assert tested == {"create_staging"}


def test_mart_keys_keep_their_tests(plan: ExecutionPlan) -> None:
    assert [t.name for t in column(by_name(plan)["fct_orders"], "order_id").tests] == ["unique", "not_null"]


def test_planning_is_deterministic(context: ProjectContext, plan: ExecutionPlan) -> None:
    again = plan_with_rules(context)
    assert again == plan
    assert again.model_dump_json() == plan.model_dump_json()


def test_configured_layers_get_no_materialization(
    tmp_path: Path, manifest: Manifest, facts: WarehouseFacts
) -> None:
    project = shop_project(tmp_path, "models:\n  shop:\n    staging:\n      +materialized: table\n")
    plan = plan_with_rules(build_context(project, manifest, facts, Conventions()))
    materialized = {a.type: a.config.materialized for a in plan.actions}
    assert materialized == {
        "create_source": None,
        "create_staging": None,
        "create_intermediate": "view",
        "create_mart": "table",
    }


def test_conventions_rename_models_and_folders(
    tmp_path: Path, manifest: Manifest, facts: WarehouseFacts
) -> None:
    conventions = Conventions(
        staging_model="base_{source}_{table}", marts_dir="core", dimension_model="{table}"
    )
    plan = plan_with_rules(build_context(shop_project(tmp_path), manifest, facts, conventions))
    names = by_name(plan)
    assert "base_shop_orders" in names
    assert names["customers"].file_path == "models/core/customers.sql"


def test_table_whose_staging_model_exists_is_skipped(
    tmp_path: Path, manifest: Manifest, facts: WarehouseFacts
) -> None:
    existing = Node(
        unique_id="model.shop.stg_shop__orders",
        resource_type="model",
        name="stg_shop__orders",
        package_name="shop",
    )
    with_orders = msgspec.structs.replace(manifest, nodes={**manifest.nodes, existing.unique_id: existing})
    context = build_context(shop_project(tmp_path), with_orders, facts, Conventions())
    plan = plan_with_rules(context)
    assert "raw_shop.orders: model stg_shop__orders already exists" in plan.skipped
    names = by_name(plan)
    assert "stg_shop__orders" not in names
    assert "int_order_items_aggregated_to_orders" not in names
    assert [t.name for t in names["shop"].spec.tables] == ["customers", "order_items", "products"]  # type: ignore[union-attr]
    validate_plan(plan, context)


def test_table_without_columns_is_skipped(tmp_path: Path, manifest: Manifest, facts: WarehouseFacts) -> None:
    empty = RawRelation.model_validate({"schema": "raw_shop", "identifier": "audit_log", "columns": []})
    more = facts.model_copy(update={"relations": [*facts.relations, empty]})
    plan = plan_with_rules(build_context(shop_project(tmp_path), manifest, more, Conventions()))
    assert "raw_shop.audit_log: has no columns" in plan.skipped
    assert "stg_shop__audit_log" not in by_name(plan)


def test_no_facts_no_actions(tmp_path: Path, manifest: Manifest) -> None:
    plan = plan_with_rules(build_context(shop_project(tmp_path), manifest, None, Conventions()))
    assert plan.actions == []
    assert plan.skipped == []


def small_facts(*relations: RawRelation) -> WarehouseFacts:
    return WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=list(relations)
    )


def raw(identifier: str, *columns: str, **fields: object) -> RawRelation:
    return RawRelation.model_validate(
        {
            "schema": "raw",
            "identifier": identifier,
            "columns": [RawColumn(name=c, data_type="integer", position=i) for i, c in enumerate(columns, 1)],
            **fields,
        }
    )


EMPTY_MANIFEST = Manifest(metadata=Metadata(project_name="shop"))


def test_cte_aliases_are_never_reserved_words(tmp_path: Path) -> None:
    facts = small_facts(raw("order", "id"), raw("order_line", "id", "order_id", "quantity"))
    plan = plan_with_rules(build_context(shop_project(tmp_path), EMPTY_MANIFEST, facts, Conventions()))
    marts = [a.spec for a in plan.actions if isinstance(a.spec, MartSpec)]
    assert marts
    assert not [m.base_alias for m in marts if needs_quoting(m.base_alias)]


def test_join_aliases_are_unique_within_a_mart(tmp_path: Path) -> None:
    keys = [
        ForeignKey(columns=[c], ref_schema="raw", ref_identifier="addresses", ref_columns=["id"])
        for c in ("billing_address_id", "shipping_address_id")
    ]
    facts = small_facts(
        raw("addresses", "id", "zip"),
        raw("orders", "id", "billing_address_id", "shipping_address_id", foreign_keys=keys),
    )
    plan = plan_with_rules(build_context(shop_project(tmp_path), EMPTY_MANIFEST, facts, Conventions()))
    dim = by_name(plan)["dim_addresses"].spec
    assert isinstance(dim, MartSpec)
    assert len(dim.joins) == 2
    aliases = [dim.base_alias, *(j.alias for j in dim.joins)]
    assert len(set(aliases)) == len(aliases)


def test_the_existence_check_sees_the_names_the_plan_would_use(
    tmp_path: Path, manifest: Manifest, facts: WarehouseFacts
) -> None:
    shouting = facts.relations[1].model_copy(update={"identifier": "ORDERS"})  # snake_case: orders → orders_2
    both = facts.model_copy(update={"relations": [*facts.relations, shouting]})
    existing = Node(
        unique_id="model.shop.stg_shop__orders",
        resource_type="model",
        name="stg_shop__orders",
        package_name="shop",
    )
    with_orders = msgspec.structs.replace(manifest, nodes={**manifest.nodes, existing.unique_id: existing})
    plan = plan_with_rules(build_context(shop_project(tmp_path), with_orders, both, Conventions()))
    assert "raw_shop.orders: model stg_shop__orders already exists" in plan.skipped
    assert "stg_shop__orders_2" in by_name(plan)  # ORDERS is planned under the name it really gets


def test_a_declared_composite_key_is_the_grain_tested_as_a_combination(tmp_path: Path) -> None:
    facts = small_facts(
        raw("orders", "id"),
        raw("order_lines", "order_id", "line_number", "quantity", primary_key=["order_id", "line_number"]),
    )
    context = build_context(shop_project(tmp_path), EMPTY_MANIFEST, facts, Conventions())
    plan = plan_with_rules(context)
    lines = by_name(plan)["stg_raw__order_lines"]
    assert isinstance(lines.spec, StagingSpec)
    assert lines.spec.grain == ["order_id", "line_number"]
    assert [(t.name, t.columns) for t in lines.tests] == [
        ("unique_combination_of_columns", ["order_id", "line_number"])
    ]
    assert [t.name for t in column(lines, "line_number").tests] == ["not_null"]
    assert "unique" not in [t.name for c in lines.spec.columns for t in c.tests]
    validate_plan(plan, context)


def test_a_fact_with_a_composite_grain_keeps_its_combination_test(tmp_path: Path) -> None:
    facts = small_facts(
        raw("orders", "id", "ordered_at"),
        raw("products", "id"),
        raw(
            "order_lines",
            "order_id",
            "line_number",
            "product_id",
            "quantity",
            primary_key=["order_id", "line_number"],
        ),
        raw("refunds", "id", "order_id", "created_at"),
    )
    context = build_context(shop_project(tmp_path), EMPTY_MANIFEST, facts, Conventions())
    plan = plan_with_rules(context)
    fact = by_name(plan)["fct_order_lines"]
    assert fact.spec.grain == ["order_id", "line_number"]  # type: ignore[union-attr]
    assert [t.name for t in fact.tests] == ["unique_combination_of_columns"]
    validate_plan(plan, context)
