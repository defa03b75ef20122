"""Unit tests of the rules planner's one-to-one extensions, lifecycle durations, grandchild roll-ups, the
semantic counts of a flag's sides per state and per event time, and count metrics filled with 0: on a made-up
help-desk schema (no connector's names)."""

from __future__ import annotations

from pathlib import Path

import yaml
from support import shop_project

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.project_context import build_context
from cartridge_bridge.gather.facts import (
    ColumnProfile,
    ProfileSettings,
    RawColumn,
    RawRelation,
    RelationProfile,
    ValueCount,
    WarehouseFacts,
)
from cartridge_bridge.gather.manifest import Manifest, Metadata
from cartridge_bridge.planning.checks import plan_problems
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    ExecutionPlan,
    MartSpec,
    PlanAction,
    SemanticMeasure,
    SemanticMetric,
    output_columns,
)
from cartridge_bridge.planning.rules.extensions import duration_name, hours_between, lifecycle_ends
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.render.plan_files import semantic_entries

ROWS = 10


def table(
    identifier: str, columns: dict[str, str], states: dict[str, list[str]] | None = None
) -> RawRelation:
    """A profiled raw table: 10 rows, every column full, an `id` or `<x>_id` key column unique, and each column
    of `states` holding those values (read whole by the profile)."""
    states = states or {}
    typed = []
    for position, (name, data_type) in enumerate(columns.items(), 1):
        values = states.get(name)
        stats = ColumnProfile(
            null_count=0,
            distinct_count=len(values) if values else (ROWS if name == next(iter(columns)) else 3),
            top_values=[ValueCount(value=v, count=ROWS // len(values)) for v in values] if values else None,
        )
        typed.append(RawColumn(name=name, data_type=data_type, position=position, profile=stats))
    return RawRelation.model_validate(
        {
            "schema": "raw",
            "identifier": identifier,
            "columns": typed,
            "profile": RelationProfile(row_count=ROWS),
        }
    )


DESK = (
    table("teams", {"id": "integer", "name": "text", "created_at": "timestamp"}),
    table(
        "tickets",
        {
            "id": "integer",
            "team_id": "integer",
            "created_at": "timestamp",
            "updated_at": "timestamp",
            "closed_at": "timestamp",
            "state": "text",
            "is_urgent": "boolean",
        },
        states={"state": ["open", "closed"]},
    ),
    # keyed on the ticket's own key: one row per ticket at most
    table("ticket_resolutions", {"ticket_id": "integer", "resolved_at": "timestamp", "note": "text"}),
    table("authors", {"id": "integer", "name": "text"}),
    table(
        "replies",
        {"id": "integer", "ticket_id": "integer", "author_id": "integer", "created_at": "timestamp"},
    ),
    table(
        "reactions",
        {"id": "integer", "reply_id": "integer", "created_at": "timestamp", "kind": "text"},
        states={"kind": ["like", "dislike"]},
    ),
    table("reply_edits", {"id": "integer", "reply_id": "integer", "edited_at": "timestamp"}),
)


def plan_of(tmp_path: Path, *relations: RawRelation) -> ExecutionPlan:
    facts = WarehouseFacts(
        cartridge_gather_version=1,
        adapter_type="postgres",
        schemas=["raw"],
        relations=list(relations),
        profile=ProfileSettings(top_values_limit=10),
    )
    context = build_context(
        shop_project(tmp_path), Manifest(metadata=Metadata(project_name="shop")), facts, Conventions()
    )
    plan = plan_with_rules(context)
    assert plan_problems(plan, context) == []
    return plan


def action(plan: ExecutionPlan, name: str) -> PlanAction:
    return next(a for a in plan.actions if a.name == name)


def columns_of(found: PlanAction) -> dict[str, str]:
    assert isinstance(found.spec, (MartSpec, AggregateSpec))
    return {c.name: c.computed() or "" for c in output_columns(found.spec)}


def test_a_table_keyed_on_another_tables_key_joins_its_mart_one_to_one(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, *DESK)
    tickets = action(plan, "dim_tickets")
    assert isinstance(tickets.spec, MartSpec)
    columns = columns_of(tickets)
    assert columns["resolved_at"] == "ticket_resolutions.resolved_at"
    assert columns["note"] == "ticket_resolutions.note"
    join = next(j for j in tickets.spec.joins if j.model == "stg_raw__ticket_resolutions")
    assert (join.join_type, join.on[0].left_column, join.on[0].right_column) == (
        "left",
        "ticket_id",
        "ticket_id",
    )
    # no mart of its own and no count of 0 or 1 per ticket
    assert not any(a.name.endswith("ticket_resolutions") and a.type == "create_mart" for a in plan.actions)
    assert not any(
        "number_of_ticket_resolutions" in columns_of(m) for m in plan.actions if m.type == "create_mart"
    )


def test_a_table_keyed_on_its_own_name_is_no_extension(tmp_path: Path) -> None:
    # `teams` is keyed on `id`, not on another table's key: nothing joins it one-to-one
    plan = plan_of(tmp_path, *DESK)
    tickets = action(plan, "dim_tickets")
    assert isinstance(tickets.spec, MartSpec)
    assert {j.model for j in tickets.spec.joins if j.model.startswith("stg_")} == {
        "stg_raw__ticket_resolutions"
    }


def test_hours_from_the_event_time_to_each_later_lifecycle_time_of_the_row(tmp_path: Path) -> None:
    columns = columns_of(action(plan_of(tmp_path, *DESK), "dim_tickets"))
    assert columns["hours_from_created_to_closed"] == (
        "extract(epoch from (tickets.closed_at - tickets.created_at)) / 3600.0"
    )
    # the extension's time counts as the row's own
    assert columns["hours_from_created_to_resolved"] == (
        "extract(epoch from (ticket_resolutions.resolved_at - tickets.created_at)) / 3600.0"
    )
    assert "hours_from_created_to_updated" not in columns  # bookkeeping, not a lifecycle


def test_lifecycle_ends_are_past_participles_with_a_time() -> None:
    start = ColumnSpec(name="opened_on", data_type="timestamp", description="")
    others = [
        ColumnSpec(name="shipped_at", data_type="timestamp", description=""),
        ColumnSpec(name="modified_at", data_type="timestamp", description=""),  # bookkeeping
        ColumnSpec(name="due_at", data_type="timestamp", description=""),  # no event that happened
        ColumnSpec(name="closed_at", data_type="date", description=""),  # a date alone
        ColumnSpec(name="processed", data_type="timestamp", description=""),  # no time suffix
        ColumnSpec(name="first_opened_on", data_type="timestamp", description=""),  # the start again
    ]
    assert [c.name for c in lifecycle_ends(start, others)] == ["shipped_at"]
    assert duration_name("opened_on", "shipped_at") == "hours_from_opened_to_shipped"
    assert hours_between("a", "b", "snowflake") == "datediff(second, a, b) / 3600.0"
    assert hours_between("a", "b", "bigquery") == "timestamp_diff(b, a, second) / 3600.0"
    assert hours_between("a", "b", "clickhouse") is None


def test_a_grandchilds_counts_roll_up_past_its_parents_mart(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, *DESK)
    rollup = action(plan, "int_replies_children_aggregated_to_tickets")
    assert isinstance(rollup.spec, AggregateSpec)
    assert rollup.spec.from_model == "dim_replies" and rollup.spec.group_by == ["ticket_id"]
    rolled = columns_of(rollup)
    assert rolled["number_of_reactions"] == "sum(number_of_reactions)"
    assert rolled["first_reaction_created_at"] == "min(first_reaction_created_at)"
    assert rolled["last_reaction_created_at"] == "max(last_reaction_created_at)"
    assert rolled["number_of_replies_with_reactions"] == "count(first_reaction_created_at)"
    # the reply counts its reactions per kind; the ticket only in all (a split stays at the child's grain)
    assert "number_of_reactions_like" in columns_of(action(plan, "dim_replies"))
    assert not [name for name in rolled if "like" in name]
    tickets = columns_of(action(plan, "dim_tickets"))
    alias = "int_replies_children_aggregated_to_tickets"
    assert tickets["number_of_reactions"] == f"coalesce({alias}.number_of_reactions, 0)"
    assert (
        tickets["number_of_replies_with_reactions"]
        == f"coalesce({alias}.number_of_replies_with_reactions, 0)"
    )
    # the mart reads the rollup, the rollup reads the child's mart: built in that order
    assert alias in action(plan, "dim_tickets").dependencies
    steps = {a.name: a.step_id for a in plan.actions}
    assert steps["dim_replies"] < steps[alias] < steps["dim_tickets"]


def test_a_grandchild_that_points_at_the_grandparent_is_not_rolled_up_again(tmp_path: Path) -> None:
    # a reaction that names its ticket too is counted at the ticket directly, never twice
    reactions = table(
        "reactions",
        {"id": "integer", "reply_id": "integer", "ticket_id": "integer", "created_at": "timestamp"},
    )
    plan = plan_of(tmp_path, *DESK[:-2], reactions, DESK[-1])
    rollup = columns_of(action(plan, "int_reply_edits_aggregated_to_tickets"))
    assert "number_of_reply_edits" in rollup and "number_of_reactions" not in rollup


def test_a_flags_sides_are_counted_per_state_and_by_each_event_time(tmp_path: Path) -> None:
    tickets = action(plan_of(tmp_path, *DESK), "dim_tickets")
    assert tickets.semantic_model is not None
    measures = {m.name: m for m in tickets.semantic_model.measures}
    open_urgent = measures["ticket_urgent_open_count"]
    assert open_urgent.expr == "case when is_urgent and state = 'open' then 1 else 0 end"
    assert open_urgent.agg_time_dimension is None  # dated by the mart's own event time
    closed = measures["ticket_not_urgent_closed_count"]
    assert closed.expr == "case when not is_urgent and closed_at is not null then 1 else 0 end"
    assert closed.agg_time_dimension == "closed_at"
    resolved = measures["ticket_urgent_resolved_count"]  # the extension's time is the row's own
    assert resolved.agg_time_dimension == "resolved_at"
    assert "ticket_urgent_updated_count" not in measures  # bookkeeping
    # the roll-up's count of replies with reactions, summed over tickets
    having = measures["ticket_replies_with_reactions_count"]
    assert (having.agg, having.expr) == ("sum", "number_of_replies_with_reactions")


def test_count_and_sum_metrics_are_filled_with_zero_and_extremes_are_not(tmp_path: Path) -> None:
    tickets = action(plan_of(tmp_path, *DESK), "dim_tickets")
    assert tickets.semantic_model is not None
    _, metrics = semantic_entries(tickets.name, tickets.semantic_model, "postgres")
    params = {m["name"]: m["type_params"]["measure"] for m in metrics}
    assert params["ticket_count"] == {"name": "ticket_count", "fill_nulls_with": 0}
    assert params["ticket_urgent_open_count"] == {"name": "ticket_urgent_open_count", "fill_nulls_with": 0}
    assert params["ticket_closed_count"] == {"name": "ticket_closed_count", "fill_nulls_with": 0}
    # a sum over a period with no row is 0 too (no sales that month), whatever the column
    assert params["ticket_replies_with_reactions_count"] == {
        "name": "ticket_replies_with_reactions_count",
        "fill_nulls_with": 0,
    }
    # a maximum of no row is unknown, not 0
    latest = SemanticMeasure(name="latest_reply_count", agg="max", expr="replies_with_reactions_count")
    widened = tickets.semantic_model.model_copy(
        update={
            "measures": [*tickets.semantic_model.measures, latest],
            "metrics": [
                *tickets.semantic_model.metrics,
                SemanticMetric(name="latest_reply_count", label="Latest reply count", measure=latest.name),
            ],
        }
    )
    _, widened_metrics = semantic_entries(tickets.name, widened, "postgres")
    assert {m["name"]: m["type_params"]["measure"] for m in widened_metrics}["latest_reply_count"] == (
        "latest_reply_count"
    )
    assert yaml.safe_dump(metrics)  # plain data, writable as the project's YAML


def test_a_negative_duration_is_marked_beside_it_for_a_sum_to_count(tmp_path: Path) -> None:
    columns = columns_of(action(plan_of(tmp_path, *DESK), "dim_tickets"))
    assert columns["resolved_before_created"] == (
        "case when ticket_resolutions.resolved_at < tickets.created_at then 1 "
        "when ticket_resolutions.resolved_at >= tickets.created_at then 0 end"
    )
    assert "closed_before_created" in columns
    assert "updated_before_created" not in columns  # no duration, no mark


# A request ends by its close; an approval is one way of ending it (its own table, keyed on the request's key).
REQUESTS = (
    table(
        "requests",
        {"id": "integer", "created_at": "timestamp", "closed_at": "timestamp", "is_internal": "boolean"},
    ),
    table("request_approvals", {"request_id": "integer", "approved_at": "timestamp"}),
    table("comments", {"id": "integer", "request_id": "integer", "created_at": "timestamp"}),
)


def test_rows_ended_without_another_outcome_are_counted_by_their_end(tmp_path: Path) -> None:
    requests = action(plan_of(tmp_path, *REQUESTS), "dim_requests")
    assert requests.semantic_model is not None
    measures = {m.name: m for m in requests.semantic_model.measures}
    unapproved = measures["request_closed_not_approved_count"]
    assert unapproved.expr == "case when closed_at is not null and approved_at is null then 1 else 0 end"
    assert unapproved.agg == "sum" and unapproved.agg_time_dimension == "closed_at"
    internal = measures["request_internal_closed_not_approved_count"]
    assert internal.expr == (
        "case when is_internal and closed_at is not null and approved_at is null then 1 else 0 end"
    )
    assert "case when not is_internal and" in measures["request_not_internal_closed_not_approved_count"].expr
    # the other way round means nothing: an approval is no ending
    assert not [name for name in measures if "approved_not_closed" in name]
    _, metrics = semantic_entries(requests.name, requests.semantic_model, "postgres")
    metric = next(m for m in metrics if m["name"] == "request_closed_not_approved_count")
    assert metric["type_params"]["measure"]["fill_nulls_with"] == 0


def test_an_outcome_set_on_more_rows_than_the_ending_is_no_case_of_it(tmp_path: Path) -> None:
    # every row escalated, half of them closed: escalation is no way of closing
    requests = table(
        "requests",
        {"id": "integer", "created_at": "timestamp", "closed_at": "timestamp", "escalated_at": "timestamp"},
    )
    half_closed = ColumnProfile(null_count=ROWS // 2, distinct_count=ROWS // 2)
    requests = requests.model_copy(
        update={
            "columns": [
                c.model_copy(update={"profile": half_closed}) if c.name == "closed_at" else c
                for c in requests.columns
            ]
        }
    )
    model = action(plan_of(tmp_path, requests, REQUESTS[-1]), "dim_requests").semantic_model
    assert model is not None
    assert "request_closed_count" in {m.name for m in model.measures}
    assert not [m.name for m in model.measures if "_not_escalated" in m.name]
