"""The history kind: checked field by field and rendered on the shop's rules plan, and planned by the rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from history_plan import shop_history_actions
from support import shop_project

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.gather.facts import RawColumn, RawRelation, WarehouseFacts
from cartridge_bridge.gather.manifest import Manifest, Metadata
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import HistorySpec, MartSpec, StagingSpec
from cartridge_bridge.planning.plan_file import parse_plan
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import render_plan, render_sql

Document = dict[str, Any]


@pytest.fixture(scope="module")
def document(context: ProjectContext) -> Document:
    planned: Document = json.loads(plan_with_rules(context).model_dump_json())
    planned["actions"] += shop_history_actions()
    return planned


def _problems(document: Document, context: ProjectContext, edit: Callable[[Document], None]) -> list[str]:
    copy = json.loads(json.dumps(document))
    edit(copy)
    return [f"{p.action} {p.field}: {p.problem}" for p in plan_problems(parse_plan(copy), context)]


def _history(document: Document) -> Document:
    spec: Document = next(a for a in document["actions"] if a["name"] == "int_customers_history")["spec"]
    return spec


def _overlap(document: Document) -> Document:
    action = next(a for a in document["actions"] if a["name"] == "int_customers_history")
    test: Document = action["tests"][1]
    return test


def test_a_history_and_its_current_state_pass_the_checks(document: Document, context: ProjectContext) -> None:
    assert _problems(document, context, lambda _: None) == []


def test_the_history_renders_its_windows_and_the_overlap_test(document: Document) -> None:
    plan = parse_plan(document)
    action = next(a for a in plan.actions if a.name == "int_customers_history")
    assert isinstance(action.spec, HistorySpec)
    sql = render_sql(action)
    assert "row_number() over (partition by customer_id, ordered_at order by order_id desc)" in sql
    assert "lead(valid_from) over (partition by customer_id order by valid_from)" in sql
    assert "where customer_id is not null and ordered_at is not null" in sql
    assert "lower(status) as status" in sql and "cartridge_next_valid_from is null as is_current" in sql
    # with no loader end column, a version ends where the next starts
    assert "else cartridge_next_valid_from end as valid_to" in sql
    yaml_file = next(f for f in render_plan(plan) if f.path.endswith("_intermediate__models.yml"))
    entry = next(m for m in yaml_file.models if m["name"] == "int_customers_history")
    assert entry["data_tests"][1] == {
        "cartridge.versions_do_not_overlap": {
            "arguments": {"entity_key": ["customer_id"], "valid_from": "valid_from", "valid_to": "valid_to"}
        }
    }
    assert [c["name"] for c in entry["columns"]] == [
        "customer_id",
        "status",
        "valid_from",
        "valid_to",
        "is_current",
    ]


CASES: dict[str, tuple[Callable[[Document], None], str]] = {
    "unknown model": (lambda d: _history(d).update(from_model="stg_shop__nothing"), "spec.from_model"),
    "key not a column": (lambda d: _history(d).update(entity_key=["client_id"]), "spec.entity_key"),
    "no key": (lambda d: _history(d).update(entity_key=[]), "spec.entity_key"),
    "key not carried": (lambda d: _history(d).update(entity_key=["order_id"]), "spec.entity_key"),
    "start not a column": (lambda d: _history(d).update(valid_from="started"), "spec.valid_from"),
    "end not a column": (lambda d: _history(d).update(valid_to="ended"), "spec.valid_to"),
    "end is the start": (lambda d: _history(d).update(valid_to="ordered_at"), "spec.valid_to"),
    "no tie-breaker": (lambda d: _history(d).update(tie_breaker=[]), "spec.tie_breaker"),
    "tie-breaker not a column": (
        lambda d: _history(d).update(tie_breaker=[{"column": "nope"}]),
        "spec.tie_breaker",
    ),
    "carried column the history adds": (
        lambda d: _history(d)["columns"].append(
            {"name": "is_current", "expression": "true", "description": ""}
        ),
        "spec.columns[is_current].name",
    ),
    "carried column reads nothing there": (
        lambda d: _history(d)["columns"].append({"name": "x", "expression": "email", "description": ""}),
        "spec.columns[x].expression",
    ),
    "overlap test without its end": (lambda d: _overlap(d).update(valid_to=None), "tests[1]"),
    "overlap test on no key": (lambda d: _overlap(d).update(columns=[]), "tests[1].columns"),
    "overlap test on a missing column": (
        lambda d: _overlap(d).update(valid_from="start"),
        "tests[1].valid_from",
    ),
    "validity on another test": (
        lambda d: next(a for a in d["actions"] if a["name"] == "int_customers_history")["tests"][0].update(
            valid_from="valid_from"
        ),
        "tests[0]",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_mistake_in_a_history_is_a_problem_naming_its_field(
    document: Document, context: ProjectContext, case: str
) -> None:
    edit, field = CASES[case]
    problems = _problems(document, context, edit)
    assert any(line.startswith(f"int_customers_history {field}:") for line in problems), problems


def test_a_history_under_another_action_type_is_refused(document: Document, context: ProjectContext) -> None:
    def edit(copy: Document) -> None:
        next(a for a in copy["actions"] if a["name"] == "int_customers_history")["type"] = "create_mart"

    assert "int_customers_history spec.kind: create_mart carries a 'history' spec" in _problems(
        document, context, edit
    )


def _loader_history(tmp_path: Path, *extra: RawColumn) -> ProjectContext:
    """Customers, their orders, and a loader's history of customers (validity columns, no declared key)."""
    names = ["id", "name", "_fivetran_active", "_fivetran_start", "_fivetran_end", "_fivetran_synced"]
    types = ["integer", "text", "boolean", "timestamp", "timestamp", "timestamp"]
    history = [
        RawColumn(name=n, data_type=t, position=i)
        for i, (n, t) in enumerate(zip(names, types, strict=True), 1)
    ]
    relations = [
        RawRelation.model_validate({"schema": "raw", "identifier": identifier, "columns": columns})
        for identifier, columns in (
            ("customers", [RawColumn(name="id", data_type="integer", position=1)]),
            ("customer_history", [*history, *extra]),
        )
    ]
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=relations
    )
    return build_context(
        shop_project(tmp_path), Manifest(metadata=Metadata(project_name="shop")), facts, Conventions()
    )


def test_the_rules_make_a_loader_history_a_type_2_model_read_through_its_current_state(
    tmp_path: Path,
) -> None:
    context = _loader_history(tmp_path)
    plan = plan_with_rules(context)
    assert plan_problems(plan, context) == []
    actions = {a.name: a for a in plan.actions}
    staging = actions["stg_raw__customer_history"].spec
    assert isinstance(staging, StagingSpec) and staging.deduplicate is None  # every version kept
    history = actions["int_customer_history_versions"]
    assert history.type == "create_intermediate" and isinstance(history.spec, HistorySpec)
    assert history.spec.entity_key == ["customer_history_id"]
    assert (history.spec.valid_from, history.spec.valid_to) == ("_fivetran_start", "_fivetran_end")
    assert [(o.column, o.descending) for o in history.spec.tie_breaker] == [
        ("_fivetran_active", True),
        ("_fivetran_synced", True),
    ]
    assert [t.name for t in history.tests] == ["unique_combination_of_columns", "versions_do_not_overlap"]
    current = actions["int_customer_history_current"]
    assert current.type == "create_intermediate" and isinstance(current.spec, MartSpec)
    assert (
        current.spec.base_model == "int_customer_history_versions"
        and current.spec.filter == "customer_history.is_current"
    )
    # the staged columns but the loader's, as the marts read them
    assert [c.name for c in current.spec.columns] == ["customer_history_id", "name"]
    assert [c.name for c in history.spec.columns] == ["customer_history_id", "name"]
    # The type-2 dimension the marts layer offers: every version with its validity, keyed on key and start.
    dimension = actions["dim_customer_history"]  # beside `customers`: one type-2 mart, no `_versions` suffix
    assert dimension.type == "create_mart" and isinstance(dimension.spec, MartSpec)
    assert dimension.spec.base_model == "int_customer_history_versions"
    assert dimension.spec.grain == ["customer_history_id", "valid_from"]
    assert [c.name for c in dimension.spec.columns] == [
        "customer_history_id",
        "name",
        "valid_from",
        "valid_to",
        "is_current",
    ]


def test_a_loader_history_with_a_soft_delete_marker_stays_de_duplicated(tmp_path: Path) -> None:
    context = _loader_history(tmp_path, RawColumn(name="_fivetran_deleted", data_type="boolean", position=9))
    plan = plan_with_rules(context)
    staging = next(a.spec for a in plan.actions if a.name == "stg_raw__customer_history")
    assert isinstance(staging, StagingSpec) and staging.deduplicate is not None
    assert not any(isinstance(a.spec, HistorySpec) for a in plan.actions)


def _histories_only(tmp_path: Path) -> ProjectContext:
    """A schema whose every entity is a loader's version history (no `conversation` table): conversations, their
    parts, companies (with an id of their own beside the key) and articles nothing points at."""
    loader = ["_fivetran_active", "_fivetran_start", "_fivetran_end", "_fivetran_synced"]
    loader_types = ["boolean", "timestamp", "timestamp", "timestamp"]

    def history(identifier: str, own: list[tuple[str, str]]) -> RawRelation:
        named = [("id", "text"), *own, *zip(loader, loader_types, strict=True)]
        columns = [RawColumn(name=n, data_type=t, position=i) for i, (n, t) in enumerate(named, 1)]
        return RawRelation.model_validate({"schema": "raw", "identifier": identifier, "columns": columns})

    relations = [
        history("conversation_history", [("created_at", "timestamp"), ("state", "text")]),
        history("conversation_part_history", [("conversation_id", "text"), ("part_type", "text")]),
        history("company_history", [("company_id", "text"), ("name", "text")]),
        history("article_history", [("title", "text")]),
    ]
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=relations
    )
    return build_context(
        shop_project(tmp_path), Manifest(metadata=Metadata(project_name="shop")), facts, Conventions()
    )


def test_a_schema_of_histories_joins_and_names_each_by_its_entity(tmp_path: Path) -> None:
    context = _histories_only(tmp_path)
    # `conversation_id` names the entity `conversation_history` keeps the versions of: the key joins it.
    edges = {(fk.child, fk.column, fk.parent) for fk in context.raw_schemas[0].keys.foreign_keys}
    assert ("conversation_part_history", "conversation_id", "conversation_history") in edges
    plan = plan_with_rules(context)
    assert plan_problems(plan, context) == []
    actions = {a.name: a for a in plan.actions}
    # Each entity's current state is a dimension named after it, its parts counted from their current state.
    conversation = actions["dim_conversation"].spec
    assert isinstance(conversation, MartSpec) and conversation.base_model == "int_conversation_current"
    counted = [c.name for j in conversation.joins for c in j.columns]
    assert "number_of_conversation_parts" in counted, counted
    assert {"dim_company", "dim_article"} <= set(actions)
    # ... and the type-2 versions beside it (a small schema: no budget leaves them out).
    versions = actions["dim_conversation_history"].spec
    assert isinstance(versions, MartSpec) and versions.base_model == "int_conversation_versions"
    # A part of a conversation is counted by its conversation, not a mart of its own.
    assert "dim_conversation_part" not in actions


def test_a_raw_entity_id_beside_the_key_is_staged_as_the_external_id(tmp_path: Path) -> None:
    staging = next(
        a.spec
        for a in plan_with_rules(_histories_only(tmp_path)).actions
        if isinstance(a.spec, StagingSpec) and a.spec.table == "company_history"
    )
    # `id` is the company's key; the raw `company_id` is another id of the company, never `company_id_2`.
    assert [(c.source_column, c.name) for c in staging.columns[:1]] == [("id", "company_id")]
    assert ("company_id", "company_external_id") in [(c.source_column, c.name) for c in staging.columns]
