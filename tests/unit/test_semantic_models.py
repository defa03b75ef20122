"""Unit tests of the semantic layer: what the rules derive from a schema, what the checks refuse, how it is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import shop_project
from test_rules_marts import EMPTY_MANIFEST, marts, plan_of, table

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context, semantic_models_on
from cartridge_bridge.files.yaml_merge import merge_properties
from cartridge_bridge.gather.facts import RawColumn, RawRelation, WarehouseFacts
from cartridge_bridge.gather.manifest import Manifest, Metadata, Named, SemanticModel
from cartridge_bridge.gather.manifest import SemanticEntity as ManifestEntity
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import (
    ColumnSpec,
    ExecutionPlan,
    MartSpec,
    SemanticDimension,
    SemanticMeasure,
    SemanticMetric,
    SemanticModelSpec,
    TimeSpineSpec,
)
from cartridge_bridge.planning.rules import semantic
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.planning.rules.semantic import settle_names
from cartridge_bridge.render.plan_files import render_plan, semantic_entries

PROJECTS = (
    table("teams", {"id": "integer", "name": "text", "created_at": "timestamp"}),
    table(
        "projects",
        {
            "id": "integer",
            "team_id": "integer",
            "name": "text",
            "is_archived": "boolean",
            "created_at": "timestamp",
            "archived_at": "timestamp",
            "closed_at": "timestamp",
            "updated_at": "timestamp",
            "budget_amount": "numeric(12,2)",
            "unit_price": "numeric(12,2)",
            "external_id": "text",  # an id of text no table holds: no dimension to group by
        },
    ),
)


def planned(
    tmp_path: Path, *relations: object, manifest: Manifest = EMPTY_MANIFEST, setting: bool | None = None
) -> tuple[ExecutionPlan, ProjectContext]:
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=list(relations)
    )
    context = build_context(shop_project(tmp_path), manifest, facts, Conventions(), semantic_models=setting)
    plan = plan_with_rules(context)
    assert plan_problems(plan, context) == []
    return plan, context


def test_a_mart_gets_entities_dimensions_measures_and_a_metric_per_measure(tmp_path: Path) -> None:
    plan, _ = planned(tmp_path, *PROJECTS)
    model = marts(plan)["fct_projects"].semantic_model
    assert model is not None and model.agg_time_dimension == "created_at"
    assert [(e.name, e.type, e.column) for e in model.entities] == [
        ("project", "primary", "project_id"),
        ("team", "foreign", "team_id"),  # the entity of the teams mart: the two join on it
    ]
    dimensions = {d.name: (d.type, d.time_granularity) for d in model.dimensions}
    assert dimensions["created_at"] == ("time", "day") and dimensions["updated_at"] == ("time", "day")
    assert dimensions["name"] == ("categorical", None) and dimensions["is_archived"] == ("categorical", None)
    assert "budget_amount" not in dimensions and "team_id" not in dimensions
    assert "external_id" not in dimensions
    measures = {m.name: (m.agg, m.expr, m.agg_time_dimension) for m in model.measures}
    assert measures == {
        "project_count": ("count", "project_id", None),
        "total_project_budget_amount": ("sum", "budget_amount", None),  # a unit price is never summed
        # A flag with a time of its own counts when it happened; a conditional count, not a row count.
        "project_archived_count": ("sum", "case when is_archived then 1 else 0 end", "archived_at"),
        # The active ones, by the projects' own time: a null flag counts on neither side.
        "project_not_archived_count": ("sum", "case when not is_archived then 1 else 0 end", None),
        # How many teams a month's projects belong to: each team once, whatever its number of projects.
        "project_distinct_team_count": ("count_distinct", "team_id", None),
        # Each side of the flag by the other event's time too (both sides asked at once, closed per month).
        "project_archived_closed_count": (
            "sum",
            "case when is_archived and closed_at is not null then 1 else 0 end",
            "closed_at",
        ),
        "project_not_archived_closed_count": (
            "sum",
            "case when not is_archived and closed_at is not null then 1 else 0 end",
            "closed_at",
        ),
        # Closed without being archived, by the month closed (no split by the archive's own flag).
        "project_closed_not_archived_count": (
            "sum",
            "case when closed_at is not null and archived_at is null then 1 else 0 end",
            "closed_at",
        ),
        "project_closed_count": ("count", "closed_at", "closed_at"),  # another event, dated by itself
    }  # updated_at is bookkeeping: no measure
    assert sorted((m.name, m.measure) for m in model.metrics) == sorted((m, m) for m in measures)
    assert {m.label for m in model.metrics} >= {"Projects", "Archived projects", "Projects closed"}


def test_a_time_spine_comes_with_the_first_semantic_models(tmp_path: Path) -> None:
    plan, _ = planned(tmp_path, *PROJECTS)
    spine = next(a for a in plan.actions if a.type == "create_time_spine")
    assert (
        spine.name == "metricflow_time_spine" and spine.file_path == "models/marts/metricflow_time_spine.sql"
    )
    assert isinstance(spine.spec, TimeSpineSpec) and spine.config.materialized == "table"
    sql = next(f for f in render_plan(plan) if f.path == spine.file_path).text
    assert (
        "{{ dbt.date_spine('day', \"cast('1990-01-01' as date)\", \"cast('2051-01-01' as date)\") }}" in sql
    )
    properties = next(f for f in render_plan(plan) if f.path == spine.properties_path)
    entry = next(m for m in properties.models if m["name"] == spine.name)
    assert entry["time_spine"] == {"standard_granularity_column": "date_day"}
    assert entry["columns"][0]["granularity"] == "day"


def test_a_project_with_a_time_spine_keeps_its_own(tmp_path: Path) -> None:
    from cartridge_bridge.gather.manifest import Node

    spine = Node(
        unique_id="model.shop.days",
        resource_type="model",
        name="days",
        package_name="shop",
        time_spine={"standard_granularity_column": "day"},
    )
    manifest = Manifest(
        metadata=Metadata(project_name="shop"),
        nodes={spine.unique_id: spine},
        semantic_models={"semantic_model.shop.x": SemanticModel(name="fct_projects", measures=[])},
    )
    plan, context = planned(tmp_path, *PROJECTS, manifest=manifest)
    assert context.time_spine == "days" and context.semantic_models  # it has semantic models: on
    assert not any(a.type == "create_time_spine" for a in plan.actions)
    # The project's semantic model of that name stays; the teams mart still gets its own.
    assert marts(plan)["fct_projects"].semantic_model is None
    assert marts(plan)["dim_teams"].semantic_model is not None


def test_the_setting_turns_the_layer_off_and_its_default_follows_the_project(tmp_path: Path) -> None:
    plan, _ = planned(tmp_path, *PROJECTS, setting=False)
    assert all(a.semantic_model is None for a in plan.actions)
    assert not any(a.type == "create_time_spine" for a in plan.actions)
    names: dict[str, set[str]] = {"semantic model": set()}
    assert semantic_models_on(None, names, has_models=False, adapter_type="duckdb")
    assert not semantic_models_on(None, names, has_models=True, adapter_type="duckdb")  # chose to have none
    assert not semantic_models_on(
        None, names, has_models=False, adapter_type="spark"
    )  # MetricFlow can't query
    assert semantic_models_on(None, {"semantic model": {"orders"}}, has_models=True, adapter_type="spark")
    assert semantic_models_on(True, names, has_models=True, adapter_type="spark")


def test_a_mart_without_an_event_time_has_dimensions_only(tmp_path: Path) -> None:
    plan, _ = planned(
        tmp_path,
        table("products", {"id": "integer", "sku": "text", "price": "numeric"}),
        table("reviews", {"id": "integer", "product_id": "integer", "body": "text"}),
    )
    model = marts(plan)["dim_products"].semantic_model
    assert model is not None and model.measures == [] and model.agg_time_dimension is None
    assert [d.name for d in model.dimensions] == ["sku"]  # a price is no dimension, nor a count of reviews
    assert any(a.type == "create_time_spine" for a in plan.actions)  # MetricFlow needs one all the same


def _with(plan: ExecutionPlan, mart: str, **changes: object) -> ExecutionPlan:
    copy = plan.model_copy(deep=True)
    action = next(a for a in copy.actions if a.name == mart)
    assert action.semantic_model is not None
    action.semantic_model = action.semantic_model.model_copy(update=changes)
    return copy


def _problems(plan: ExecutionPlan, context: ProjectContext) -> list[str]:
    return [p.line() for p in plan_problems(plan, context)]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("sum(budget_amount)", "aggregates itself"),
        ("count(*) over ()", "window function"),
        ("case when secret_column then 1 else 0 end", "reads column 'secret_column'"),
        ("(select count(*) from raw.projects)", "must be a scalar expression"),
        ("1; drop table raw.projects", "must not contain ';'"),
        ("{{ run_query('drop schema raw cascade') }}", "must not contain Jinja"),
        ("pg_read_file('/etc/passwd')", "reaches outside"),
    ],
)
def test_a_measure_expression_is_one_row_level_expression_over_the_marts_columns(
    tmp_path: Path, expr: str, expected: str
) -> None:
    plan, context = planned(tmp_path, *PROJECTS)
    model = marts(plan)["fct_projects"].semantic_model
    assert model is not None
    measures = [
        m.model_copy(update={"expr": expr}) if m.name == "project_archived_count" else m
        for m in model.measures
    ]
    problems = _problems(_with(plan, "fct_projects", measures=measures), context)
    assert any(
        "fct_projects: semantic_model.measures[project_archived_count].expr" in p and expected in p
        for p in problems
    ), problems


def test_names_references_and_uniqueness_are_checked(tmp_path: Path) -> None:
    plan, context = planned(tmp_path, *PROJECTS)
    model = marts(plan)["fct_projects"].semantic_model
    assert model is not None
    cases = {
        "semantic_model.name: 'Projects; drop' is not a lower-case snake_case name": {
            "name": "Projects; drop"
        },
        "agg_time_dimension: 'name' is not a time dimension": {"agg_time_dimension": "name"},
        "metrics[x].measure: 'nothing' is not a measure": {
            "metrics": [SemanticMetric(name="x", label="X", measure="nothing")]
        },
        "measures[project_count].name: the semantic model names measure 'project_count' twice": {
            "measures": [*model.measures, model.measures[0]]
        },
        "dimensions[secret].name: 'secret' is not a column of this model": {
            "dimensions": [*model.dimensions, model.dimensions[0].model_copy(update={"name": "secret"})]
        },
        # dbt parse fails on it (dbt-semantic-interfaces): a name must begin with a lower-case letter.
        "dimensions[_fivetran_synced].name: MetricFlow refuses dimension name '_fivetran_synced'": {
            "dimensions": [*model.dimensions, SemanticDimension(name="_fivetran_synced", type="categorical")]
        },
        "measures[_rows].name: MetricFlow refuses measure name '_rows'": {
            "measures": [*model.measures, SemanticMeasure(name="_rows", agg="count", expr="project_id")]
        },
    }
    for expected, changes in cases.items():
        problems = _problems(_with(plan, "fct_projects", **changes), context)
        assert any(expected in p for p in problems), (expected, problems)
    # Across the plan: a measure another mart's semantic model has too.
    teams = marts(plan)["dim_teams"].semantic_model
    assert teams is not None
    twice = _with(
        plan,
        "dim_teams",
        measures=[*teams.measures, SemanticMeasure(name="project_count", agg="count", expr="team_id")],
    )
    assert any("the plan names measure 'project_count' twice" in p for p in _problems(twice, context))
    # MetricFlow refuses two metrics of one label (dbt parse fails): the plan check names both.
    [first, *_] = model.metrics
    same_label = _with(
        plan,
        "dim_teams",
        metrics=[
            *teams.metrics,
            SemanticMetric(name="teams_again", label=first.label, measure=teams.measures[0].name),
        ],
    )
    assert any(
        (f"{first.name!r}" in p and "'teams_again'" in p and f"have one label {first.label!r}" in p)
        for p in _problems(same_label, context)
    ), _problems(same_label, context)
    # Only marts carry one.
    staging = plan.model_copy(deep=True)
    stg = next(a for a in staging.actions if a.type == "create_staging")
    stg.semantic_model = SemanticModelSpec(name="x")
    assert any("only a mart carries a semantic model" in p for p in _problems(staging, context))


def test_descriptions_and_labels_are_written_inert(tmp_path: Path) -> None:
    plan, _ = planned(tmp_path, *PROJECTS)
    model = marts(plan)["fct_projects"].semantic_model
    assert model is not None
    payload = "{{ run_query('drop schema raw cascade') }}"
    hostile = model.model_copy(
        update={
            "description": payload,
            "metrics": [
                m.model_copy(update={"label": payload, "description": payload}) for m in model.metrics
            ],
        }
    )
    entry, metrics = semantic_entries("fct_projects", hostile, "postgres")
    assert entry["description"] == "{{ '" + payload.replace("'", "\\'") + "' }}"
    assert all(
        m["label"] == entry["description"] and m["description"] == entry["description"] for m in metrics
    )
    assert entry["model"] == "ref('fct_projects')"


def test_an_existing_semantic_model_or_metric_is_never_overwritten() -> None:
    existing = (
        "semantic_models:\n  - name: fct_projects\n    model: ref('fct_projects')\n    description: mine\n"
        "metrics:\n  - name: project_count\n    label: My projects\n    type: simple\n"
        "    type_params:\n      measure: project_count\n"
    )
    ours = [{"name": "fct_projects", "model": "ref('fct_projects')", "description": "generated"}]
    metrics = [
        {
            "name": "project_count",
            "label": "Projects",
            "type": "simple",
            "type_params": {"measure": "project_count"},
        },
        {
            "name": "total_budget",
            "label": "Budget",
            "type": "simple",
            "type_params": {"measure": "total_budget"},
        },
    ]
    for policy in ("fail", "skip", "overwrite"):
        merged = merge_properties(existing, "x.yml", [], [], policy, ours, metrics)  # type: ignore[arg-type]
        data = yaml.safe_load(merged.text)
        assert data["semantic_models"] == [
            {"name": "fct_projects", "model": "ref('fct_projects')", "description": "mine"}
        ]
        assert [m["label"] for m in data["metrics"]] == ["My projects", "Budget"]
        assert merged.kept == ["semantic model fct_projects", "metric project_count"]
        assert merged.added == ["metric total_budget"]


def test_the_manifest_says_which_names_the_semantic_layer_has() -> None:
    manifest = Manifest(
        metadata=Metadata(project_name="shop"),
        semantic_models={"semantic_model.p.orders": SemanticModel(name="orders", measures=[Named(name="n")])},
        metrics={"metric.p.m": SemanticModel(name="m")},
    )
    assert manifest.semantic_names() == {
        "semantic model": {"orders"},
        "measure": {"n"},
        "metric": {"m"},
        "primary entity": set(),
    }
    assert manifest.time_spine() is None


def test_a_second_sources_entities_and_measures_never_take_the_projects_names(tmp_path: Path) -> None:
    another = SemanticModel(
        name="fct_jobs",
        measures=[Named(name="project_count")],
        entities=[
            ManifestEntity(name="project", type="primary"),
            ManifestEntity(name="team", type="foreign"),
        ],
    )
    manifest = Manifest(
        metadata=Metadata(project_name="shop"),
        semantic_models={"semantic_model.shop.fct_jobs": another},
        nodes={},
    )
    plan, _ = planned(tmp_path, *PROJECTS, manifest=manifest, setting=True)
    model = marts(plan)["fct_projects"].semantic_model
    assert model is not None
    assert [(e.name, e.type) for e in model.entities] == [("raw_project", "primary"), ("team", "foreign")]
    measures = {m.name for m in model.measures}
    assert "raw_project_count" in measures and "project_count" not in measures
    assert {m.name: m.measure for m in model.metrics}["raw_project_count"] == "raw_project_count"


def test_a_measure_whose_name_passes_63_characters_is_left_out_and_the_plan_stays_valid(
    tmp_path: Path,
) -> None:
    """A wide table's long column (Salesforce's): its measure's name would fail PostgreSQL's identifier limit."""
    long_flag = "is_eligible_for_automatic_renewal_notification_reminder"  # 55 characters
    teams, projects = PROJECTS
    wide = table("projects", {**{c.name: c.data_type for c in projects.columns}, long_flag: "boolean"})
    plan, _ = planned(tmp_path, teams, wide)  # the plan's checks pass (planned asserts it)
    model = marts(plan)["fct_projects"].semantic_model
    assert model is not None
    names = [m.name for m in model.measures]
    assert "project_count" in names and "project_archived_count" in names
    assert not any(long_flag.removeprefix("is_") in n for n in names)  # 70 characters and more: left out
    assert all(len(n) <= 63 for n in names + [m.name for m in model.metrics])


def test_an_identifier_null_on_some_rows_counts_the_rows_that_have_one(tmp_path: Path) -> None:
    # Profiled: `reviewer_id` is null on 3 of 10 rows, `team_id` on none, `sponsor_id` on all of them.
    plan, _ = plan_of(
        tmp_path,
        table("teams", {"id": "integer", "name": "text", "created_at": "timestamp"}, rows=4),
        table(
            "audits",
            {
                "id": "integer",
                "team_id": "integer",
                "reviewer_id": "integer",
                "sponsor_id": "integer",
                "created_at": "timestamp",
            },
            rows=10,
            nulls={"reviewer_id": 3, "sponsor_id": 10},
        ),
    )
    model = marts(plan)["fct_audits"].semantic_model
    assert model is not None
    counted = {m.name: (m.agg, m.expr) for m in model.measures if "_with_" in m.name}
    # Always set (the team) or never (the sponsor): the row count says it already, or nothing does.
    assert counted == {"audit_with_reviewer_count": ("count", "reviewer_id")}
    metric = next(m for m in model.metrics if m.measure == "audit_with_reviewer_count")
    assert metric.label == "Audits with reviewer"


def test_an_unprofiled_identifier_counts_nothing_more(tmp_path: Path) -> None:
    plan, _ = planned(tmp_path, *PROJECTS)
    model = marts(plan)["fct_projects"].semantic_model
    assert model is not None and not [m for m in model.measures if "_with_" in m.name]


def test_a_loaders_column_a_mart_carries_is_no_dimension() -> None:
    """A mart that keeps `_fivetran_synced` (a planner may): MetricFlow refuses the name, and a load time or a
    loader's flag is no business dimension; the mart's own times and texts still are."""
    columns = {
        "charge_id": "integer",
        "status": "text",
        "created_at": "timestamp",
        "_fivetran_synced": "timestamp",
        "_fivetran_deleted": "boolean",
    }
    spec = MartSpec(
        role="fact",
        base_model="stg_pay__charges",
        base_alias="charges",
        grain=["charge_id"],
        columns=[ColumnSpec(name=c, expression=f"charges.{c}", description=c) for c in columns],
    )
    relation = RawRelation(
        schema="raw",
        identifier="charges",
        columns=[RawColumn(name=c, data_type=t, position=i) for i, (c, t) in enumerate(columns.items(), 1)],
    )
    staged = [ColumnSpec(name=c, source_column=c, data_type=t, description=c) for c, t in columns.items()]
    base = semantic.MartBase(entity="charge", relation=relation, columns=staged)
    model = semantic.semantic_model("fct_charges", base, spec, {}, set())
    assert {d.name for d in model.dimensions} == {"status", "created_at"}


def test_two_metrics_of_one_label_are_told_apart_by_their_names() -> None:
    """Models documented in separate LLM requests, or a rules mart with `amount` and `total_amount`, may label two
    metrics alike; MetricFlow would refuse the project at dbt parse."""
    one = SemanticModelSpec(
        name="payment_methods",
        metrics=[SemanticMetric(name="refund_amount", label="Refund amount", measure="refund_amount_sum")],
    )
    two = SemanticModelSpec(
        name="accounts",
        metrics=[
            SemanticMetric(name="refunded_amount", label="Refund amount", measure="refunded_amount_sum")
        ],
    )
    assert settle_names([one, two], {}) == [one, two]
    assert [m.label for m in (*one.metrics, *two.metrics)] == [
        "Refund amount",
        "Refund amount (refunded amount)",
    ]
