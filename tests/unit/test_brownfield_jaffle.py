"""The classic jaffle_shop (staging over seeds, marts at the root) seen and planned for a new `raw_reviews`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.gather.facts import GraphNode, ProjectGraph, RawColumn, RawRelation, WarehouseFacts
from cartridge_bridge.gather.manifest import read_manifest
from cartridge_bridge.planning.plan import SourceSpec, StagingSpec
from cartridge_bridge.planning.rules.planner import plan_with_rules

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
    ),
    relation("stg_customers", ("customer_id", "INTEGER"), ("first_name", "VARCHAR")),
]


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
