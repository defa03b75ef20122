"""Unit tests of the rules planner's measures: only sums that mean something, and no entity counted twice."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from unit.test_rules_marts import columns_of, marts, plan_of, table

from cartridge_bridge.gather.facts import RawRelation, ValueCount
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ColumnSpec,
    ConditionalAggregate,
    ExecutionPlan,
    output_columns,
)
from cartridge_bridge.planning.rules import measures
from cartridge_bridge.planning.rules.sum_conditions import sum_condition

CUSTOMERS = table("customers", {"id": "integer", "name": "text"})


def with_values(relation: RawRelation, column: str, values: dict[str, int]) -> RawRelation:
    """The relation with a column's top values known, as a profile that read values gives them."""
    rows = sum(values.values())
    columns = []
    for raw in relation.columns:
        stats = raw.profile
        if raw.name == column and stats is not None:
            tops = [ValueCount(value=v, count=n) for v, n in values.items()]
            stats = stats.model_copy(update={"top_values": tops, "distinct_count": len(values)})
        columns.append(raw.model_copy(update={"profile": stats}))
    profile = relation.profile.model_copy(update={"row_count": rows}) if relation.profile else None
    return relation.model_copy(update={"columns": columns, "profile": profile})


def sums(plan: ExecutionPlan) -> dict[str, str]:
    """Every intermediate's sums (their SQL, conditional aggregates' included), by output column name."""
    return {
        c.name: c.computed() or ""
        for a in plan.actions
        if isinstance(a.spec, AggregateSpec)
        for c in output_columns(a.spec)
        if (c.computed() or "").startswith("sum(")
    }


def intermediate_descriptions(plan: ExecutionPlan) -> str:
    return " ".join(a.description for a in plan.actions if isinstance(a.spec, AggregateSpec))


def test_unit_prices_rates_thresholds_and_balances_are_never_summed(tmp_path: Path) -> None:
    prices = table(
        "prices",
        {
            "id": "integer",
            "customer_id": "integer",
            "created_at": "timestamp",
            "amount": "numeric",
            "unit_amount": "numeric",
            "billing_threshold_amount_gte": "numeric",
            "tax_rate": "numeric",
            "credit_balance": "numeric",
            "discount_percent_amount": "numeric",
        },
    )
    plan, _ = plan_of(tmp_path, CUSTOMERS, prices)
    assert list(sums(plan).values()) == ["sum(amount)"]


@given(
    st.sampled_from(["amount", "price_amount", "fee", "total", "cost"]),
    st.sampled_from(["unit", "rate", "percent", "threshold", "balance", "limit", "gte", "per"]),
    st.booleans(),
)
def test_a_word_saying_not_additive_stops_any_amount_from_being_summed(
    amount: str, word: str, before: bool
) -> None:
    name = f"{word}_{amount}" if before else f"{amount}_{word}"
    assert not measures.is_additive(ColumnSpec(name=name, data_type="numeric", description=""))
    assert measures.is_additive(ColumnSpec(name=amount, data_type="numeric", description=""))


LEDGER = table(
    "journal_lines",
    {
        "id": "integer",
        "customer_id": "integer",
        "created_at": "timestamp",
        "amount": "numeric",
        "posting_type": "text",
    },
    rows=10,
)


def test_a_ledger_amount_is_not_summed_without_its_debit_credit_values(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, CUSTOMERS, LEDGER)
    assert sums(plan) == {}
    assert "`amount` is not summed" in intermediate_descriptions(plan)
    assert "posting_type" in intermediate_descriptions(plan)


def test_a_ledger_amount_is_summed_with_its_sign_when_the_data_shows_debit_and_credit(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, CUSTOMERS, with_values(LEDGER, "posting_type", {"Debit": 6, "Credit": 4}))
    assert list(sums(plan).values()) == [
        "sum(case when posting_type = 'Debit' then amount when posting_type = 'Credit' then -amount end)"
    ]


CHARGES = table(
    "charges",
    {
        "id": "integer",
        "customer_id": "integer",
        "created_at": "timestamp",
        "amount": "numeric",
        "status": "text",
    },
    rows=10,
)


def test_an_amount_with_a_status_is_not_summed_when_the_states_are_unknown(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, CUSTOMERS, CHARGES)
    assert sums(plan) == {}
    assert "`status`" in intermediate_descriptions(plan)


def test_an_amount_with_a_status_is_summed_over_the_successful_states_only(tmp_path: Path) -> None:
    charges = with_values(CHARGES, "status", {"succeeded": 7, "failed": 2, "pending": 1})
    plan, _ = plan_of(tmp_path, CUSTOMERS, charges)
    assert list(sums(plan).values()) == ["sum(case when (status in ('succeeded')) then amount end)"]
    # A conditional aggregate of the plan, not a `case` written into an expression.
    summed = next(
        c
        for a in plan.actions
        if isinstance(a.spec, AggregateSpec)
        for c in a.spec.columns
        if c.aggregate and c.aggregate.function == "sum"  # the counts by status come first
    )
    assert summed.expression is None
    assert summed.aggregate == ConditionalAggregate(
        function="sum", column="amount", where="status in ('succeeded')"
    )


def test_an_orders_lifecycle_sums_its_shipped_and_completed_orders(tmp_path: Path) -> None:
    orders = with_values(
        CHARGES, "status", {"placed": 3, "shipped": 4, "completed": 9, "returned": 1, "cancelled": 2}
    )
    plan, _ = plan_of(tmp_path, CUSTOMERS, orders)
    assert list(sums(plan).values()) == [
        "sum(case when (status in ('shipped', 'completed')) then amount end)"
    ]


def test_a_status_with_no_successful_state_in_the_data_keeps_the_amount_unsummed(tmp_path: Path) -> None:
    charges = with_values(CHARGES, "status", {"failed": 2, "pending": 8})
    plan, _ = plan_of(tmp_path, CUSTOMERS, charges)
    assert sums(plan) == {}


def test_a_history_is_not_counted_beside_the_current_state_table_it_tracks(tmp_path: Path) -> None:
    subscriptions = table(
        "subscriptions", {"id": "integer", "customer_id": "integer", "created_at": "timestamp"}
    )
    history = table(
        "subscriptions_history",
        {
            "id": "integer",
            "customer_id": "integer",
            "created_at": "timestamp",
            "_fivetran_start": "timestamp",
            "_fivetran_end": "timestamp",
            "_fivetran_active": "boolean",
        },
    )
    plan, _ = plan_of(tmp_path, CUSTOMERS, subscriptions, history)
    customer = next(a for name, a in marts(plan).items() if "customer" in name)
    counted = [c.name for c in output_columns(customer.spec) if c.name.startswith("number_of_")]  # type: ignore[arg-type]
    assert counted == ["number_of_subscriptions"]


@given(
    st.dictionaries(
        st.sampled_from(["succeeded", "paid", "failed", "pending", "o'neil", "{{ x }}"]), st.integers(1, 9)
    )
)
def test_a_status_sums_only_over_successful_values_and_never_pastes_another(values: dict[str, int]) -> None:
    relation = with_values(CHARGES, "status", values) if values else CHARGES
    columns = [
        ColumnSpec(name=c.name, data_type=c.data_type, description="", source_column=c.name)
        for c in relation.columns
    ]
    expression = sum_condition(relation, columns).expression("amount")
    good = sorted(v for v in values if v in ("succeeded", "paid"))
    assert (expression is None) == (not good)
    if expression is not None:
        assert all(f"'{v}'" in expression for v in good)
        assert "'o'neil'" not in expression and "{{" not in expression and "failed" not in expression


def test_a_childs_flag_splits_its_count_at_the_parent(tmp_path: Path) -> None:
    """Active and archived projects per team: counts a query with no `case` cannot make from the total."""
    teams = table("teams", {"id": "integer", "name": "text"}, rows=3, distinct={"id": 3})
    projects = table(
        "projects",
        {
            "id": "integer",
            "team_id": "integer",
            "archived": "boolean",
            "has_attachments": "boolean",
            "is_template": "boolean",  # null on every row: nothing to split by
            "_fivetran_deleted": "boolean",  # the loader's marker: bookkeeping
        },
        rows=10,
        nulls={"is_template": 10},
        distinct={"id": 10, "archived": 1, "has_attachments": 2, "_fivetran_deleted": 2},
    )
    plan, _ = plan_of(tmp_path, teams, projects)
    team = columns_of(marts(plan)["dim_teams"] if "dim_teams" in marts(plan) else marts(plan)["dim_team"])
    counts = {n: e for n, e in team.items() if n.startswith("number_of_projects")}
    assert set(counts) == {
        "number_of_projects",
        "number_of_projects_archived",
        "number_of_projects_not_archived",
        "number_of_projects_with_attachments",
        "number_of_projects_without_attachments",
    }, counts
    assert all(e.startswith("coalesce(") for e in counts.values())  # a team with no project has 0
    intermediate = next(a for a in plan.actions if isinstance(a.spec, AggregateSpec))
    assert {c.name: c.aggregate for c in output_columns(intermediate.spec)}[
        "number_of_projects_not_archived"
    ] == ConditionalAggregate(function="count", column=None, where="is_archived = false")


def test_state_flags_come_before_settings_and_a_count_name_past_63_characters_is_left_out(
    tmp_path: Path,
) -> None:
    """A rate plan charge's `exclude_item_billing_from_revenue_accounting` is a setting, not a state to count by."""
    plans = table("plans", {"id": "integer", "name": "text"}, rows=3, distinct={"id": 3})
    charges = table(
        "charges",
        {
            "id": "integer",
            "plan_id": "integer",
            "exclude_item_billing_from_revenue_accounting": "boolean",  # first, long: a setting
            "allow_price_change_on_renewal_flag": "boolean",  # five words: a setting
            "apply_discount_to_one_time_charges": "boolean",
            "is_deleted": "boolean",
            "paid": "boolean",
        },
        rows=10,
        distinct={"id": 10},
    )
    plan, _ = plan_of(tmp_path, plans, charges)
    parent = columns_of(next(a for n, a in marts(plan).items() if "plan" in n))
    split = sorted(n for n in parent if n.startswith("number_of_charges_"))
    # The two states fill two of the three places; the third, the first setting, has a count name too long.
    assert split == [
        "number_of_charges_deleted",
        "number_of_charges_not_deleted",
        "number_of_charges_not_paid",
        "number_of_charges_paid",
    ], split
    assert all(len(n) <= 63 for n in parent)
