"""The LLM planner's semantic layer: the rules derive each mart's semantic model, the model names its metrics.

A project of teams and projects (a status, a flag, an amount, a second event time): the projects mart has four
candidate measures. Scripted answers rename, drop and add metrics, answer bad ones and are re-asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from llm_answers import RulesMirror, Scripted, docs_and_tests_of, request_data
from llm_fakes import QueueChat
from support import shop_project
from test_plan_injection import PAYLOADS, assert_inert
from test_rules_marts import EMPTY_MANIFEST, table

from cartridge_bridge.api import make_plan
from cartridge_bridge.config import Conventions
from cartridge_bridge.context.key_owners import KeyOwner
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.errors import LLMAnswerError
from cartridge_bridge.gather.facts import WarehouseFacts
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.llm.chat import ChatRequest, LLMSettings
from cartridge_bridge.planning.llm.metrics import derived_models, time_dimensions
from cartridge_bridge.planning.llm.planner import LLMPlanner
from cartridge_bridge.planning.placement import place
from cartridge_bridge.planning.plan import (
    ColumnSpec,
    ExecutionPlan,
    JoinCondition,
    MartJoin,
    MartSpec,
    SemanticModelSpec,
)
from cartridge_bridge.planning.rules.planner import RulesPlanner, plan_with_rules
from cartridge_bridge.render.plan_files import render_plan

TEAMS = table("teams", {"id": "integer", "name": "text", "created_at": "timestamp"})
PROJECTS = table(
    "projects",
    {
        "id": "integer",
        "team_id": "integer",
        "name": "text",
        "status": "text",
        "is_archived": "boolean",
        "created_at": "timestamp",
        "archived_at": "timestamp",
        "closed_at": "timestamp",
        "budget_amount": "numeric(12,2)",
    },
)
CANDIDATES = [
    "project_count",
    "total_project_budget_amount",
    "project_archived_count",
    "project_not_archived_count",
    "project_distinct_team_count",
    "project_closed_count",
]
ACTIVE = "case when status = 'active' then 1 else 0 end"


def context_of(tmp_path: Path, semantic_models: bool | None = None) -> ProjectContext:
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=[TEAMS, PROJECTS]
    )
    return build_context(
        shop_project(tmp_path), EMPTY_MANIFEST, facts, Conventions(), semantic_models=semantic_models
    )


def plan_of(context: ProjectContext, chat: QueueChat, **settings: Any) -> ExecutionPlan:
    return make_plan(context, LLMPlanner(chat, LLMSettings(model="fake/model", **settings)))


def semantic_model(plan: ExecutionPlan, mart: str) -> SemanticModelSpec:
    model = next(a.semantic_model for a in plan.actions if a.name == mart)
    assert model is not None
    return model


def metrics_answer(context: ProjectContext, change: Callable[[list[dict[str, Any]]], None]) -> str:
    """The mirror's entry for fct_projects (its docs and tests as the rules have them) after `change` edits
    its metrics."""
    draft = RulesMirror(context).drafts["fct_projects"]
    entry = json.loads(docs_and_tests_of(draft).model_dump_json())
    change(entry["metrics"])
    return json.dumps(entry)


def metric(measure: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"measure": measure, "name": name, "label": name.replace("_", " ").capitalize(), **fields}


def rename_drop_add(metrics: list[dict[str, Any]]) -> None:
    """`project_count` named `projects`, the budget dropped, active projects counted by status."""
    metrics[0].update(name="projects", label="Projects", description="Projects created.")
    metrics[1].update(keep=False)
    metrics.append(metric("project_active_count", "active_projects", agg="sum", expr=ACTIVE))


def docs_requests(chat: QueueChat) -> list[ChatRequest]:
    return [r for r in chat.requests if r.phase == "docs_tests"]


def reask_text(chat: QueueChat) -> str:
    return "\n".join(m["content"] for r in docs_requests(chat) for m in r.messages[2:] if m["role"] == "user")


def test_a_model_that_names_metrics_as_the_rules_do_makes_the_rules_semantic_layer(tmp_path: Path) -> None:
    context = context_of(tmp_path)
    assert context.semantic_models  # a project with no models yet, on PostgreSQL
    chat = QueueChat(responder=RulesMirror(context))
    plan = plan_of(context, chat)
    # The rules' semantic layer but the measures the requests do not offer (a flag's sides crossed).
    rules = place(RulesPlanner(crossed_measures=False).draft(context), context, "rules")
    assert plan_problems(plan, context) == []
    assert [a.semantic_model for a in plan.actions] == [a.semantic_model for a in rules.actions]
    assert any(a.type == "create_time_spine" for a in plan.actions)
    # The request lists each mart's candidate measures (what a metric would aggregate, and when).
    [request] = docs_requests(chat)
    entries = {e["model"]["name"]: e for e in request_data(request)["models_to_describe"]}
    listed = entries["fct_projects"]["measures"]
    assert [m["name"] for m in listed] == CANDIDATES
    assert listed[2] == {
        "name": "project_archived_count",
        "agg": "sum",
        "expr": "case when is_archived then 1 else 0 end",
        "time": "archived_at",
    }
    assert "created_at" in entries["fct_projects"]["time_dimensions"]
    assert "measures" not in entries["stg_raw__projects"]


def test_without_semantic_models_no_measure_is_listed_and_none_is_written(tmp_path: Path) -> None:
    context = context_of(tmp_path, semantic_models=False)
    chat = QueueChat(responder=RulesMirror(context))
    plan = plan_of(context, chat)
    assert all(a.semantic_model is None for a in plan.actions)
    assert not any(a.type == "create_time_spine" for a in plan.actions)
    [request] = docs_requests(chat)
    assert all("measures" not in e for e in request_data(request)["models_to_describe"])
    # A metric answered all the same is a problem, re-asked.
    scripted = Scripted(
        RulesMirror(context),
        {("docs_tests", "fct_projects"): [metrics_answer(context, lambda m: m.append(metric("x", "y")))]},
    )
    chat = QueueChat(responder=scripted)
    plan_of(context, chat)
    assert "only a model listed with `measures` has metrics" in reask_text(chat)


def test_the_model_renames_drops_and_adds_a_conditional_count(tmp_path: Path) -> None:
    context = context_of(tmp_path)
    answer = metrics_answer(context, rename_drop_add)
    chat = QueueChat(responder=Scripted(RulesMirror(context), {("docs_tests", "fct_projects"): [answer]}))
    plan = plan_of(context, chat)
    assert plan_problems(plan, context) == []
    assert len(docs_requests(chat)) == 1  # accepted as answered
    model = semantic_model(plan, "fct_projects")
    assert [(m.name, m.measure, m.label) for m in model.metrics] == [
        ("projects", "project_count", "Projects"),
        ("project_archived_count", "project_archived_count", "Archived projects"),
        ("project_not_archived_count", "project_not_archived_count", "Projects not archived"),
        ("project_distinct_team_count", "project_distinct_team_count", "Distinct teams of projects"),
        ("project_closed_count", "project_closed_count", "Projects closed"),
        ("active_projects", "project_active_count", "Active projects"),
    ]
    measures = {m.name: (m.agg, m.expr) for m in model.measures}
    assert "total_project_budget_amount" not in measures
    assert measures["project_active_count"] == ("sum", ACTIVE)
    # Written as dbt reads it: the metric over its measure.
    files = render_plan(plan)
    written = {m["name"]: m for f in files for m in f.metrics}
    # a count: a period with none is 0, not null
    assert written["active_projects"]["type_params"] == {
        "measure": {"name": "project_active_count", "fill_nulls_with": 0}
    }
    assert "total_project_budget_amount" not in written


def test_a_bad_metric_answer_is_reasked_with_its_problems(tmp_path: Path) -> None:
    context = context_of(tmp_path)

    def bad(metrics: list[dict[str, Any]]) -> None:
        metrics[0].update(name="Projects!")  # not a name
        metrics.pop()  # project_closed_count left unanswered
        metrics.append(metric("budget_spent", "budget_spent", agg="sum", expr="sum(budget_amount)"))
        metrics.append(metric("teams_named", "teams_named", agg="count", expr="teams.name"))
        metrics.append(metric("team_count", "team_count", agg="count", expr="project_id"))

    scripts = {
        ("docs_tests", "fct_projects"): [
            metrics_answer(context, bad),
            metrics_answer(context, rename_drop_add),
        ]
    }
    chat = QueueChat(responder=Scripted(RulesMirror(context), scripts))
    plan = plan_of(context, chat)
    reasks = reask_text(chat)
    assert "metrics[Projects!]" in reasks or "'Projects!'" in reasks
    assert "candidate measure 'project_closed_count' has no entry" in reasks
    assert "aggregates itself" in reasks  # the existing semantic checks judge `expr`
    assert "teams.name" in reasks  # a column the mart does not have
    # the teams mart's measure: measure names are one namespace, and the clash names both owners
    assert "measure 'team_count' of fct_projects is already a measure or metric of dim_teams" in reasks
    assert semantic_model(plan, "fct_projects").metrics[0].name == "projects"


def test_metrics_that_stay_wrong_keep_the_rules_names(tmp_path: Path) -> None:
    context = context_of(tmp_path)

    def half_bad(metrics: list[dict[str, Any]]) -> None:
        metrics[0].update(name="projects")
        metrics[1].update(name="Total budget")  # not a name
        metrics.append(metric("budget_spent", "budget_spent", agg="sum", expr="sum(budget_amount)"))

    responder = Scripted(RulesMirror(context), {}).always_answer(
        "docs_tests", "fct_projects", metrics_answer(context, half_bad)
    )
    with pytest.raises(LLMAnswerError, match="fct_projects"):
        plan_of(context, QueueChat(responder=responder))
    plan = plan_of(context, QueueChat(responder=responder), fallback="rules")
    assert plan_problems(plan, context) == []
    model = semantic_model(plan, "fct_projects")
    rules = semantic_model(
        place(RulesPlanner(crossed_measures=False).draft(context), context, "rules"), "fct_projects"
    )
    # The good entry kept; the others the rules' metrics; the bad added measure left out.
    assert [m.name for m in model.metrics] == ["projects", *[m.name for m in rules.metrics][1:]]
    assert [m.name for m in model.measures] == CANDIDATES
    assert any("metrics of fct_projects stayed invalid" in note for note in plan.skipped)


def test_two_marts_answering_the_same_metric_name_keep_one(tmp_path: Path) -> None:
    context = context_of(tmp_path)
    mirror = RulesMirror(context)
    teams = json.loads(docs_and_tests_of(mirror.drafts["dim_teams"]).model_dump_json())
    teams["metrics"][0]["name"] = "count_of_things"
    projects = metrics_answer(context, lambda m: m[0].update(name="count_of_things"))
    scripts = {("docs_tests", "dim_teams"): [json.dumps(teams)], ("docs_tests", "fct_projects"): [projects]}
    plan = plan_of(context, QueueChat(responder=Scripted(mirror, scripts)))
    assert plan_problems(plan, context) == []
    names = [m.name for a in plan.actions if a.semantic_model for m in a.semantic_model.metrics]
    assert names.count("count_of_things") == 1 and len(names) == len(set(names))
    assert any("were taken by another mart" in note for note in plan.skipped)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_metric_names_are_refused_and_in_labels_and_descriptions_inert(
    tmp_path: Path, payload: str
) -> None:
    context = context_of(tmp_path)

    def hostile(metrics: list[dict[str, Any]]) -> None:
        metrics[0].update(name=payload)
        metrics[1].update(label=payload[:100], description=payload)
        metrics[2].update(name="archived", description=payload)

    responder = Scripted(RulesMirror(context), {}).always_answer(
        "docs_tests", "fct_projects", metrics_answer(context, hostile)
    )
    chat = QueueChat(responder=responder)
    plan = plan_of(context, chat, fallback="rules")
    assert plan_problems(plan, context) == []
    model = semantic_model(plan, "fct_projects")
    assert payload not in [m.name for m in model.metrics]  # refused: the rules' name stands
    assert model.metrics[0].name == "project_count"
    assert "archived" in [m.name for m in model.metrics]  # the good entries kept
    assert_inert(render_plan(plan), payload)


def test_a_mart_the_rules_plan_instead_gives_way_to_an_answered_metric_name(tmp_path: Path) -> None:
    context = context_of(tmp_path)
    # dim_teams stays unreadable: the rules plan it, with their `team_count`, which fct_projects's answer took.
    responder = Scripted(
        RulesMirror(context),
        {("docs_tests", "fct_projects"): [metrics_answer(context, lambda m: m[0].update(name="team_count"))]},
    ).always_answer("mart", "dim_teams", "not json")
    plan = plan_of(context, QueueChat(responder=responder), fallback="rules")
    assert plan_problems(plan, context) == []
    assert semantic_model(plan, "fct_projects").metrics[0].name == "team_count"
    teams = semantic_model(plan, "dim_teams")
    assert "team_count" in [m.name for m in teams.measures]
    assert "team_count" not in [m.name for m in teams.metrics]
    assert any("metrics team_count left out" in note for note in plan.skipped)


def test_keys_an_existing_model_owns_are_foreign_entities_and_an_extension_gets_no_model(
    tmp_path: Path,
) -> None:
    reviews = table(
        "reviews", {"id": "integer", "customer_id": "integer", "created_at": "timestamp", "rating": "integer"}
    )
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=[reviews]
    )
    context = build_context(
        shop_project(tmp_path), EMPTY_MANIFEST, facts, Conventions(), semantic_models=True
    )
    owner = KeyOwner(key="customer_id", staging="stg_customers", mart="dim_customers", columns={})
    context = context.model_copy(
        update={
            "existing_keys": {"customer_id": owner},
            "existing_models": ["dim_customers", "stg_customers"],
            "strategy": "brownfield",
        }
    )
    plan = plan_of(context, QueueChat(responder=RulesMirror(context)))
    assert [a.semantic_model for a in plan.actions] == [
        a.semantic_model for a in plan_with_rules(context).actions
    ]
    entities = {e.name: (e.type, e.column) for e in semantic_model(plan, "fct_reviews").entities}
    assert entities == {"review": ("primary", "review_id"), "customer": ("foreign", "customer_id")}
    assert next(a for a in plan.actions if a.name == "dim_customers_with_reviews").semantic_model is None


def test_a_time_joined_into_a_mart_is_a_time_dimension_of_its_semantic_model(tmp_path: Path) -> None:
    context = context_of(tmp_path)
    draft = RulesPlanner().draft(context)
    specified = {m.name: m for m in draft.models}
    fact = specified["fct_projects"]
    assert isinstance(fact.spec, MartSpec)
    # The team's creation joined in untyped (as an answer naming an input's column gives it): typed by its input.
    teams = MartJoin(
        model="stg_raw__teams", alias="teams", join_type="left",
        on=[JoinCondition(left_alias="projects", left_column="team_id", right_column="team_id")],
        columns=[
            ColumnSpec(name="team_created_at", expression="teams.created_at", description=""),
            ColumnSpec(name="team_name", expression="teams.name", description=""),
        ],
    )  # fmt: skip
    specified["fct_projects"] = fact.model_copy(
        update={"spec": fact.spec.model_copy(update={"joins": [*fact.spec.joins, teams]})}
    )
    derived = derived_models(specified, draft.sources, context)
    times = time_dimensions(derived["fct_projects"])
    assert "team_created_at" in times and "created_at" in times
    assert "team_name" not in times
