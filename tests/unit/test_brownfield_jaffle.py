"""The classic jaffle_shop (staging over seeds, marts at the root) seen and planned for a new `raw_reviews`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.gather.facts import (
    GraphColumn,
    GraphNode,
    ProjectGraph,
    RawColumn,
    RawRelation,
    WarehouseFacts,
)
from cartridge_bridge.gather.manifest import read_manifest
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.llm.prompt_data import existing_model, project_facts
from cartridge_bridge.planning.plan import MartSpec, SourceSpec, StagingSpec, undescribed_columns
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import doc_reference, render_plan

JAFFLE = Path(__file__).resolve().parent.parent / "fixtures" / "projects" / "jaffle_classic"
SCHEMA = "main"  # where `dbt seed` loaded the raw tables, and where the models are built too


def relation(identifier: str, *columns: tuple[str, str]) -> RawRelation:
    return RawRelation(
        schema=SCHEMA,
        identifier=identifier,
        columns=[RawColumn(name=n, data_type=t, position=i) for i, (n, t) in enumerate(columns, 1)],
    )


RELATIONS = [
    relation("customers", ("customer_id", "INTEGER"), ("first_name", "VARCHAR")),
    relation("raw_customers", ("id", "INTEGER"), ("first_name", "VARCHAR"), ("last_name", "VARCHAR")),
    relation("raw_orders", ("id", "INTEGER"), ("user_id", "INTEGER"), ("order_date", "DATE")),
    relation(
        "raw_reviews",
        ("id", "INTEGER"),
        ("order_id", "INTEGER"),
        ("customer_id", "INTEGER"),
        ("rating", "INTEGER"),
        ("created", "TIMESTAMP"),
        ("status", "VARCHAR"),  # named like the orders' status, which a doc block describes
    ),
    relation("stg_customers", ("customer_id", "INTEGER"), ("first_name", "VARCHAR")),
]


# The orders mart's relation as DuckDB holds it (its SQL loops in Jinja, so only the warehouse can say).
ORDERS_COLUMNS = [
    ("order_id", "INTEGER"),
    ("customer_id", "INTEGER"),
    ("order_date", "DATE"),
    ("status", "VARCHAR"),
]
ORDERS_COLUMNS += [(f"{m}_amount", "DOUBLE") for m in ("credit_card", "coupon", "bank_transfer", "gift_card")]
WAREHOUSE_COLUMNS = {
    "orders": [
        GraphColumn(name=n, data_type=t, position=i)
        for i, (n, t) in enumerate([*ORDERS_COLUMNS, ("amount", "DOUBLE")], 1)
    ]
}


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> ProjectContext:
    project = tmp_path_factory.mktemp("jaffle")
    shutil.copy(JAFFLE / "dbt_project.yml", project / "dbt_project.yml")
    manifest = read_manifest(JAFFLE / "manifest.json")
    built = [
        GraphNode(
            unique_id=n.unique_id,
            resource_type=n.resource_type,  # type: ignore[arg-type]
            name=n.name,
            schema=SCHEMA,
            identifier=n.alias or n.name,
            exists=True,
            type="table",
            columns=WAREHOUSE_COLUMNS.get(n.name, []),
        )
        for n in manifest.nodes.values()
        if n.resource_type in ("model", "seed")
    ]
    facts = WarehouseFacts(
        cartridge_gather_version=1,
        adapter_type="duckdb",
        schemas=[SCHEMA],
        relations=RELATIONS,
        graph=ProjectGraph(project_name="jaffle_classic", nodes=built),
    )
    return build_context(project, manifest, facts, Conventions(), source_name="jaffle_shop")


def test_seeds_are_covered_and_built_models_are_not_raw_tables(context: ProjectContext) -> None:
    (raw,) = context.raw_schemas
    assert [r.identifier for r in raw.relations] == ["raw_customers", "raw_orders", "raw_reviews"]
    assert raw.covered == raw.seeds == ["raw_customers", "raw_orders"]
    assert raw.staged_by == {"raw_customers": ["stg_customers"], "raw_orders": ["stg_orders"]}


def test_keys_of_the_existing_models_are_known(context: ProjectContext) -> None:
    owners = {key: (o.staging, o.mart) for key, o in context.existing_keys.items()}
    assert owners["customer_id"] == ("stg_customers", "customers")
    assert owners["order_id"] == ("stg_orders", "orders")


def test_the_relevant_models_are_found_by_the_names_the_project_would_give(context: ProjectContext) -> None:
    assert context.relevant is not None
    assert context.relevant.key_names == ["customer_id", "order_id", "review_id"]  # not raw_review_id
    assert {"stg_orders", "orders", "stg_customers", "customers"} <= {
        e.name for e in context.relevant.entries
    }


def test_a_new_raw_table_is_planned_in_the_projects_own_way(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    assert plan.skipped[:2] == [
        "main.raw_customers: already a seed of the project, read by stg_customers",
        "main.raw_orders: already a seed of the project, read by stg_orders",
    ]
    staging = next(a for a in plan.actions if a.name == "stg_reviews")
    assert (staging.file_path, staging.properties_path) == (
        "models/staging/stg_reviews.sql",
        "models/staging/schema.yml",
    )
    assert isinstance(staging.spec, StagingSpec)
    assert (staging.spec.table, staging.spec.entity, staging.spec.grain) == (
        "reviews",
        "review",
        ["review_id"],
    )
    assert "`main.raw_reviews`" in staging.description
    source = next(a for a in plan.actions if isinstance(a.spec, SourceSpec))
    (table,) = source.spec.tables
    assert (table.name, table.identifier, table.quote_identifier) == ("reviews", "raw_reviews", False)
    assert source.file_path == "models/staging/_jaffle_shop__sources.yml"
    marts = {m.name: m for m in plan.actions if m.type == "create_mart"}
    assert marts["reviews"].file_path == "models/reviews.sql"  # the project's marts sit at the root
    assert {(m.file_path.count("/"), m.properties_path) for m in marts.values()} == {(1, "models/schema.yml")}
    # order_id and customer_id are the existing models' keys: tested against them, not new tables
    tests = {c.name: [t.to for t in c.tests] for c in staging.spec.columns}
    assert tests["order_id"] == ["stg_orders"] and tests["customer_id"] == ["stg_customers"]


def test_a_table_keeps_its_prefix_when_the_short_name_is_taken(context: ProjectContext) -> None:
    (raw,) = context.raw_schemas
    taken = relation("reviews", ("review_id", "INTEGER"), ("body", "VARCHAR"))
    crowded = raw.model_copy(update={"relations": [*raw.relations, taken]})
    plan = plan_with_rules(context.model_copy(update={"raw_schemas": [crowded]}))
    names = [a.name for a in plan.actions if a.type == "create_staging"]
    assert names == ["stg_raw_reviews", "stg_reviews"]


def test_existing_models_are_known_by_their_sql_not_their_yaml(context: ProjectContext) -> None:
    payments = context.existing["stg_payments"]
    # The YAML documents two of its columns; the SQL makes four, and converts cents to dollars.
    assert (payments.columns_from, payments.layer) == ("sql", "staging")
    assert [(c.name, c.expression) for c in payments.columns] == [
        ("payment_id", None),
        ("order_id", None),
        ("payment_method", None),
        ("amount", "amount / 100"),
    ]
    assert (payments.grain, payments.grain_from, payments.reads) == (
        ["payment_id"],
        "unique + not_null tests",
        ["raw_payments"],
    )
    customers = context.existing["customers"]
    names = [c.name for c in customers.columns]
    assert "customer_lifetime_value" in names and "lifetime_value" not in names
    assert customers.stale_columns == ["lifetime_value"]
    assert customers.column("customer_id").description == "This is a unique identifier for a customer"  # type: ignore[union-attr]
    assert context.stale_docs == [
        "stale documentation: `customers.lifetime_value` (models/customers.sql) is documented, but the SQL has "
        "no such column"
    ]
    # A Jinja loop shapes the orders mart: the warehouse names and types its columns.
    orders = context.existing["orders"]
    assert (orders.columns_from, orders.stale_columns, orders.grain) == ("warehouse", [], ["order_id"])
    status = orders.column("status")
    assert status is not None and (status.data_type, status.doc) == ("VARCHAR", "orders_status")


def test_the_prompts_read_the_same_facts(context: ProjectContext) -> None:
    facts = project_facts(context, [], {}, share_samples=False)
    shown = {m.name: m for m in facts.existing_models}
    amount = next(c for c in shown["stg_payments"].columns if c.name == "amount")
    assert amount.expression == "amount / 100"
    assert shown["customers"].grain == ["customer_id"]
    assert all(c.name != "lifetime_value" for m in shown.values() for c in m.columns)
    read = existing_model("stg_payments", context)
    assert read.grain == ["payment_id"] and read.columns is not None
    assert [(c.name, c.expression) for c in read.columns][-1] == ("amount", "amount / 100")
    orders = existing_model("orders", context).columns or []
    # Every documented column's description rides along, on one line: a new column's description may come only
    # through lineage, and a request that showed only the key's could not follow it.
    described = {c.name: c.description for c in orders if c.description}
    assert described["order_id"] == "This is a unique identifier for an order"
    assert described["customer_id"] == "Foreign key to the customers table"
    assert all("\n" not in d for d in described.values())
    assert set(described) <= {c.name for c in orders}  # only the relation's columns, never a YAML-only one


def test_descriptions_travel_only_through_lineage(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    staging = next(a for a in plan.actions if a.name == "stg_reviews")
    assert isinstance(staging.spec, StagingSpec)
    described = {c.name: c.description for c in staging.spec.columns}
    # The key it references is described in the orders mart: the review's order_id says so, as a reference.
    assert described["order_id"] == (
        "The order this review belongs to: This is a unique identifier for an order."
    )
    # The orders' status doc block is no upstream of a review's status: neither borrowed nor flattened.
    assert described["status"] == "Status of the review."  # its own plain meaning
    # The raw column says the same, and points at no staging model (sources come before staging).
    source = next(a for a in plan.actions if isinstance(a.spec, SourceSpec))
    assert isinstance(source.spec, SourceSpec)
    raw = {c.name: c.description for t in source.spec.tables for c in t.columns}
    assert raw["order_id"] == described["order_id"]
    every = [c.description for a in plan.actions for c in getattr(a.spec, "columns", [])]
    assert not any("Orders can be one of the following statuses" in d for d in every)


def test_a_doc_block_inherited_through_lineage_stays_a_reference(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    assert context.doc_blocks == ["orders_status"]
    mart = next(a for a in plan.actions if a.name == "reviews")
    assert isinstance(mart.spec, MartSpec)
    joined = {c.name: c for j in mart.spec.joins for c in j.columns}
    # The orders mart's status is that doc block: the review's joined order status references it.
    assert (joined["order_status"].description, joined["order_status"].description_doc) == (
        "",
        "orders_status",
    )
    order_id = next(c for c in mart.spec.columns if c.name == "order_id")
    assert order_id.description == (
        "The order this review belongs to: This is a unique identifier for an order."
    )
    files = render_plan(plan)
    entries = [c for f in files for m in f.models if m["name"] == "reviews" for c in m["columns"]]
    assert {"name": "order_status", "description": "{{ doc('orders_status') }}"}.items() <= next(
        c for c in entries if c["name"] == "order_status"
    ).items()
    written = json.dumps([f.models + f.sources for f in files])
    assert "Orders can be one of the following statuses" not in written  # never flattened into a line
    assert "order_status" not in undescribed_columns(plan)


@pytest.mark.parametrize("name", ["orders_stauts", "x') }}{{ run_query('drop table t') }}{{ ('"])
def test_a_doc_reference_names_a_doc_block_of_the_project(context: ProjectContext, name: str) -> None:
    plan = plan_with_rules(context)
    mart = next(a for a in plan.actions if a.name == "reviews")
    assert isinstance(mart.spec, MartSpec)
    next(c for j in mart.spec.joins for c in j.columns if c.name == "order_status").description_doc = name
    problems = [p for p in plan_problems(plan, context) if p.field.endswith("description_doc")]
    assert [(p.action, p.field) for p in problems] == [
        ("reviews", "spec.columns[order_status].description_doc")
    ]
    assert "is not a doc block of the project" in problems[0].problem
    with pytest.raises(ValueError, match="not a doc block name"):
        doc_reference("x') }}")


def test_a_spec_cannot_read_a_column_only_the_yaml_names(context: ProjectContext) -> None:
    plan = plan_with_rules(context)
    assert plan_problems(plan, context) == []
    extension = next(a for a in plan.actions if a.name == "customers_with_reviews")
    assert isinstance(extension.spec, MartSpec) and extension.spec.base_model == "customers"
    extension.spec.columns[0].expression = f"{extension.spec.base_alias}.lifetime_value"
    (problem,) = plan_problems(plan, context)
    assert (problem.action, problem.field) == (
        "customers_with_reviews",
        "spec.columns[customer_id].expression",
    )
    assert "lifetime_value" in problem.problem
