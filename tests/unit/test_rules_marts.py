"""Unit tests of the rules planner's marts: which tables become marts, what they measure, what they never carry."""

from __future__ import annotations

from pathlib import Path

from support import shop_project

from cartridge_bridge.config import Conventions
from cartridge_bridge.context.key_owners import KeyOwner
from cartridge_bridge.context.project_context import ProjectContext, build_context
from cartridge_bridge.gather.facts import (
    ColumnProfile,
    ProfileSettings,
    RawColumn,
    RawRelation,
    RelationProfile,
    WarehouseFacts,
)
from cartridge_bridge.gather.manifest import Manifest, Metadata
from cartridge_bridge.planning.checks import plan_problems, validate_plan
from cartridge_bridge.planning.plan import (
    AggregateSpec,
    ExecutionPlan,
    MartSpec,
    PeriodicSnapshotSpec,
    PlanAction,
    output_columns,
)
from cartridge_bridge.planning.rules.planner import plan_with_rules

EMPTY_MANIFEST = Manifest(metadata=Metadata(project_name="shop"))


def table(
    identifier: str,
    columns: dict[str, str],
    rows: int | None = None,
    nulls: dict[str, int] | None = None,
    distinct: dict[str, int] | None = None,
) -> RawRelation:
    """A raw table with typed columns; with `rows`, profiled (every column full unless `nulls` says otherwise)."""
    nulls, distinct = nulls or {}, distinct or {}
    typed = []
    for position, (name, data_type) in enumerate(columns.items(), 1):
        stats = ColumnProfile(null_count=nulls.get(name, 0), distinct_count=distinct.get(name))
        typed.append(
            RawColumn(name=name, data_type=data_type, position=position, profile=stats if rows else None)
        )
    profile = RelationProfile(row_count=rows) if rows else None
    return RawRelation.model_validate(
        {"schema": "raw", "identifier": identifier, "columns": typed, "profile": profile}
    )


def plan_of(tmp_path: Path, *relations: RawRelation) -> tuple[ExecutionPlan, ProjectContext]:
    profiled = any(r.profile is not None for r in relations)
    if profiled:  # a profiled document profiles every relation: the others are full, 10 rows
        relations = tuple(
            r
            if r.profile is not None
            else r.model_copy(
                update={
                    "profile": RelationProfile(row_count=10),
                    "columns": [
                        c.model_copy(update={"profile": ColumnProfile(null_count=0)}) for c in r.columns
                    ],
                }
            )
            for r in relations
        )
    facts = WarehouseFacts(
        cartridge_gather_version=1,
        adapter_type="postgres",
        schemas=["raw"],
        relations=list(relations),
        profile=ProfileSettings(top_values_limit=0) if profiled else None,
    )
    context = build_context(shop_project(tmp_path), EMPTY_MANIFEST, facts, Conventions())
    plan = plan_with_rules(context)
    assert plan_problems(plan, context) == []
    return plan, context


def marts(plan: ExecutionPlan) -> dict[str, PlanAction]:
    """The dimensions and facts (not the periodic snapshots, which are marts too)."""
    return {a.name: a for a in plan.actions if isinstance(a.spec, MartSpec)}


def columns_of(action: PlanAction) -> dict[str, str]:
    assert isinstance(action.spec, (MartSpec, AggregateSpec))
    return {c.name: c.expression or "" for c in output_columns(action.spec)}


WORK = (
    table("projects", {"id": "integer", "name": "text"}),
    table("users", {"id": "integer", "name": "text", "_fivetran_synced": "timestamp"}),
    table("tags", {"id": "integer", "name": "text"}),
    table(
        "tasks",
        {"id": "integer", "project_id": "integer", "created_at": "timestamp", "_fivetran_deleted": "boolean"},
    ),
    table("task_tags", {"task_id": "integer", "tag_id": "integer", "_fivetran_synced": "timestamp"}),
    table("task_followers", {"task_id": "integer", "user_id": "integer"}),
    table(
        "comments",
        {
            "id": "integer",
            "task_id": "integer",
            "user_id": "integer",
            "created_at": "timestamp",
            "body": "text",
        },
    ),
)


# Without the users and their followers: five tables, fewer than the budget of one mart per two tables asks.
SMALL_WORK = (WORK[0], WORK[2], WORK[3], WORK[4], WORK[6])


def test_hubs_and_what_links_to_them_are_marts_and_bridges_are_not(tmp_path: Path) -> None:
    plan, context = plan_of(tmp_path, *SMALL_WORK)  # five tables: under the budget, every hub is a mart
    assert sorted(marts(plan)) == ["dim_projects", "dim_tags", "dim_tasks"]
    validate_plan(plan, context)


def test_over_the_budget_of_one_mart_per_two_tables_the_smallest_lookup_gives_way(tmp_path: Path) -> None:
    """Seven tables, three marts: the tags (a name, referred to by a link table only) go first, the users (a name,
    but two tables refer to them) stay; the projects and tasks are pointed at by marts."""
    plan, context = plan_of(tmp_path, *WORK)
    assert sorted(marts(plan)) == ["dim_projects", "dim_tasks", "dim_users"]
    validate_plan(plan, context)


def test_a_hub_entity_gets_a_dimension_with_counts_of_its_children(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, *WORK)
    users = columns_of(marts(plan)["dim_users"])
    assert users["number_of_comments"] == "coalesce(comments_aggregated.number_of_comments, 0)"
    assert (
        users["number_of_task_followers"] == "coalesce(task_followers_aggregated.number_of_task_followers, 0)"
    )
    # the first and last of the comments' own timestamp, named after what it dates
    assert users["first_comment_created_at"] == "comments_aggregated.first_comment_created_at"
    # a link table ending with what it links counts that (a task's tags), else its rows (a tag's task tags)
    tasks = columns_of(marts(plan)["dim_tasks"])
    assert tasks["number_of_tags"] == "coalesce(task_tags_aggregated.number_of_tags, 0)"
    by_task = next(a for a in plan.actions if a.name == "int_task_tags_aggregated_to_tasks")
    assert columns_of(by_task)["number_of_tags"] == "count(distinct tag_id)"
    (tmp_path / "small").mkdir()
    small, _ = plan_of(tmp_path / "small", *SMALL_WORK)
    assert "number_of_task_tags" in columns_of(marts(small)["dim_tags"])


def test_every_intermediate_is_read_by_a_mart(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, *WORK)
    read = {d for a in marts(plan).values() for d in a.dependencies}
    intermediates = {a.name for a in plan.actions if a.type == "create_intermediate"}
    assert intermediates and intermediates <= read


def test_loader_columns_stay_in_staging(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, *WORK)
    staged = [c.source_column for a in plan.actions if a.type == "create_staging" for c in a.spec.columns]  # type: ignore[union-attr]
    assert "_fivetran_synced" in staged
    later = [
        (a.name, c.name, c.expression)
        for a in plan.models()
        if a.type != "create_staging"
        for c in output_columns(a.spec)  # type: ignore[arg-type]
        if "fivetran" in c.name or "fivetran" in (c.expression or "")
    ]
    assert later == []


def test_relationships_are_tested_once_in_staging(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, *WORK)
    tested = [
        a.type
        for a in plan.models()
        for c in output_columns(a.spec)  # type: ignore[arg-type]
        for t in c.tests
        if t.name == "relationships"
    ]
    assert tested and set(tested) == {"create_staging"}
    for action in marts(plan).values():
        assert isinstance(action.spec, MartSpec)
        key = next(c for c in action.spec.columns if c.name == action.spec.grain[0])
        assert [t.name for t in key.tests] == ["unique", "not_null"]


ORDERS = table("orders", {"id": "integer", "ordered_at": "timestamp", "currency": "text"})
PRODUCTS = table("products", {"id": "integer", "name": "text", "price": "numeric"})
LINES = table(
    "order_lines",
    {
        "id": "integer",
        "order_id": "integer",
        "product_id": "integer",
        "quantity": "integer",
        "price": "numeric",
    },
)


def payments(rows: int | None = None, **profile: dict[str, int]) -> RawRelation:
    return table(
        "payments",
        {
            "id": "integer",
            "order_id": "integer",
            "paid_at": "timestamp",
            "amount": "numeric(12,2)",
            "total_price": "numeric(12,2)",
            "unit_price": "numeric(12,2)",
            "fee_amount": "numeric(12,2)",
            "exp_year": "integer",
            "last_4": "integer",
            "tax_code": "integer",
            "number": "integer",
            "position": "integer",
            "installment_count": "integer",
            "currency": "text",
        },
        rows,
        **profile,
    )


def sums(plan: ExecutionPlan) -> set[str]:
    every = [c for a in plan.models() for c in output_columns(a.spec)]  # type: ignore[arg-type]
    return {c.expression[len("sum(") : -1] for c in every if (c.expression or "").startswith("sum(")}


def test_only_amounts_and_quantities_are_summed(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, ORDERS, PRODUCTS, LINES, payments(rows=10, distinct={"currency": 1}))
    # and a line's quantity times its unit price, summed onto its order (its gross sales)
    assert sums(plan) == {"amount", "total_price", "fee_amount", "quantity", "quantity * price"}
    fct_orders = columns_of(marts(plan)["fct_orders"])
    assert "total_payment_amount" in fct_orders and "total_payment_price" in fct_orders


def test_a_column_empty_in_the_data_is_no_measure(tmp_path: Path) -> None:
    plan, _ = plan_of(
        tmp_path,
        ORDERS,
        PRODUCTS,
        LINES,
        payments(rows=10, nulls={"fee_amount": 10}, distinct={"currency": 1}),
    )
    assert "fee_amount" not in sums(plan)
    assert "amount" in sums(plan)


def test_money_in_several_currencies_is_not_summed_but_counted(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, ORDERS, PRODUCTS, LINES, payments(rows=10, distinct={"currency": 3}))
    snapshots = {a.name: a for a in plan.actions if isinstance(a.spec, PeriodicSnapshotSpec)}
    plan.actions = [a for a in plan.actions if a.name not in snapshots]
    # Quantities add up whatever the currency; the lines' sales too, summed per order (in the order's currency:
    # the lines have none of their own).
    assert sums(plan) == {"quantity", "quantity * price"}
    # The snapshots sum money within each currency only.
    daily, monthly = snapshots["fct_payments_daily"].spec, snapshots["fct_payments_monthly_by_order"].spec
    assert isinstance(daily, PeriodicSnapshotSpec) and daily.grain == ["date_day", "currency"]
    assert isinstance(monthly, PeriodicSnapshotSpec) and monthly.grain == [
        "date_month",
        "order_id",
        "currency",
    ]
    assert "number_of_payments" in columns_of(marts(plan)["fct_orders"])


def test_money_in_one_currency_is_summed(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, ORDERS, PRODUCTS, LINES, payments(rows=10, distinct={"currency": 1}))
    assert "amount" in sums(plan)


def test_events_with_amounts_and_lines_of_two_marts_are_facts(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, ORDERS, PRODUCTS, LINES, payments(rows=10, distinct={"currency": 1}))
    roles = {name: a.spec.role for name, a in marts(plan).items()}  # type: ignore[union-attr]
    assert roles == {
        "fct_orders": "fact",  # dated, with lines
        "dim_products": "dimension",
        "fct_order_lines": "fact",  # a line of an order and a product, with quantities
        "fct_payments": "fact",  # dated, with amounts, pointing at a mart
    }


def test_clashing_measures_are_named_by_their_entity(tmp_path: Path) -> None:
    refunds = table(
        "refunds", {"id": "integer", "order_id": "integer", "created_at": "timestamp", "amount": "numeric"}
    )
    returns = table(
        "returns", {"id": "integer", "order_id": "integer", "created_at": "timestamp", "amount": "numeric"}
    )
    plan, _ = plan_of(tmp_path, ORDERS, PRODUCTS, LINES, refunds, returns)
    names = list(columns_of(marts(plan)["fct_orders"]))
    assert {
        "total_refund_amount",
        "total_return_amount",
        "first_refund_created_at",
        "first_return_created_at",
    } <= set(names)
    assert len(names) == len(set(names))
    assert not [n for n in names if n[-2:] in ("_2", "_3")]


def test_new_facts_join_the_existing_models_owning_their_keys(tmp_path: Path) -> None:
    reviews = table(
        "reviews", {"id": "integer", "customer_id": "integer", "created_at": "timestamp", "rating": "integer"}
    )
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=[reviews]
    )
    context = build_context(shop_project(tmp_path), EMPTY_MANIFEST, facts, Conventions())
    owner = KeyOwner(
        key="customer_id",
        staging="stg_customers",
        mart="dim_customers",
        columns={"dim_customers": ["customer_id", "name", "email", "lifetime_value"]},
    )
    context = context.model_copy(
        update={
            "existing_keys": {"customer_id": owner},
            "existing_models": ["dim_customers", "stg_customers"],
            "strategy": "brownfield",
        }
    )
    plan = plan_with_rules(context)
    found = marts(plan)
    fact = found["fct_reviews"]
    assert isinstance(fact.spec, MartSpec)
    [join] = fact.spec.joins
    assert join.model == "dim_customers"
    assert [(c.name, c.expression) for c in join.columns] == [
        ("customer_name", "existing_dim_customers.name"),
        ("customer_email", "existing_dim_customers.email"),
    ]
    # the existing mart's grain gets the new measures through new models only
    extension = found["dim_customers_with_reviews"]
    assert isinstance(extension.spec, MartSpec)
    assert extension.spec.base_model == "dim_customers" and extension.spec.grain == ["customer_id"]
    assert "number_of_reviews" in columns_of(extension)
    assert "int_reviews_aggregated_to_customers" in extension.dependencies
    assert "dim_customers" not in [a.name for a in plan.actions]
    validate_plan(plan, context)


def test_in_a_small_schema_a_dated_child_of_a_mart_is_a_fact(tmp_path: Path) -> None:
    users = table("users", {"id": "integer", "email": "text"})
    sessions = table("sessions", {"id": "integer", "user_id": "integer", "started_at": "timestamp"})
    plan, _ = plan_of(tmp_path, users, sessions)
    assert {name: a.spec.role for name, a in marts(plan).items()} == {  # type: ignore[union-attr]
        "dim_users": "dimension",
        "fct_sessions": "fact",
    }


def test_in_a_larger_schema_dated_children_without_amounts_only_feed_their_marts(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, *WORK)  # comments are dated, but users and tasks have two children each
    assert "fct_comments" not in marts(plan)
    assert "number_of_comments" in columns_of(marts(plan)["dim_tasks"])


def customers_of(tmp_path: Path, *relations: RawRelation) -> dict[str, str]:
    """The columns of `dim_customers`, once the plan passes its checks and every model's outputs are distinct."""
    plan, context = plan_of(tmp_path, *relations)
    assert plan_problems(plan, context) == []
    for action in plan.actions:
        if isinstance(action.spec, (MartSpec, AggregateSpec)):
            names = [c.name for c in output_columns(action.spec)]
            assert len(names) == len(set(names)), (action.name, names)
    return columns_of(marts(plan)["dim_customers"])


def test_an_amount_and_a_total_amount_get_a_measure_each(tmp_path: Path) -> None:
    orders = {"id": "integer", "customer_id": "integer", "amount": "numeric", "total_amount": "numeric"}
    customers = customers_of(
        tmp_path, table("customers", {"id": "integer", "name": "text"}), table("orders", orders)
    )
    assert customers["total_order_amount"] == "coalesce(orders_aggregated.total_order_amount, 0)"
    assert customers["total_order_total_amount"] == "coalesce(orders_aggregated.total_order_total_amount, 0)"


def test_a_measure_never_takes_a_column_the_mart_has(tmp_path: Path) -> None:
    customers = customers_of(
        tmp_path,
        table("customers", {"id": "integer", "number_of_orders": "integer"}),
        table("orders", {"id": "integer", "customer_id": "integer"}),
    )
    assert customers["number_of_orders"] == "customers.number_of_orders"
    assert customers["order_count"] == "coalesce(orders_aggregated.number_of_orders, 0)"


def test_measures_of_two_children_of_one_entity_stay_distinct(tmp_path: Path) -> None:
    orders = {"id": "integer", "customer_id": "integer", "amount": "numeric", "created_at": "timestamp"}
    customers = customers_of(
        tmp_path,
        table("RAW_Orders", orders),
        table("raw_orders", orders),
        table("customers", {"id": "integer"}),
    )
    assert len(customers) == 9  # the key, and a count, a total, a first and a last time of each


def test_a_stock_level_describes_a_thing_and_makes_no_event(tmp_path: Path) -> None:
    """A variant with a creation time and its inventory is no event: it feeds its product (counted there, its stock
    never summed: a level is no amount), where a sale with a quantity is still a fact."""
    variants = table(
        "product_variants",
        {
            "id": "integer",
            "product_id": "integer",
            "created_at": "timestamp",
            "inventory_quantity": "integer",
            "price": "numeric",
        },
    )
    plan, _ = plan_of(tmp_path, ORDERS, PRODUCTS, LINES, variants)
    roles = {name: a.spec.role for name, a in marts(plan).items()}  # type: ignore[union-attr]
    assert "fct_product_variants" not in roles
    assert roles["fct_order_lines"] == "fact" and roles["dim_products"] == "dimension"
    products = columns_of(marts(plan)["dim_products"])
    assert "number_of_product_variants" in products
    assert "total_product_variant_inventory_quantity" not in products


def test_a_second_source_never_collides_with_the_models_of_the_first(tmp_path: Path) -> None:
    accounts = table("account", {"id": "integer", "name": "text"})
    invoices = table(
        "invoice", {"id": "integer", "account_id": "integer", "created_at": "timestamp", "amount": "numeric"}
    )
    facts = WarehouseFacts(
        cartridge_gather_version=1, adapter_type="postgres", schemas=["raw"], relations=[accounts, invoices]
    )
    context = build_context(
        shop_project(tmp_path), EMPTY_MANIFEST, facts, Conventions(staging_model="stg_{table}")
    )
    first = {a.name for a in plan_with_rules(context).models()}
    assert {"stg_account", "dim_account", "fct_invoice"} <= first
    # The same names already in the project (another connector's): every new one is qualified by its source.
    second = plan_with_rules(context.model_copy(update={"existing_models": sorted(first)}))
    names = {a.name for a in second.models()}
    assert not names & first
    assert {"stg_raw_account", "dim_raw_account", "fct_raw_invoice"} <= names
    validate_plan(second, context.model_copy(update={"existing_models": sorted(first)}))


def test_a_line_gets_its_quantity_times_its_unit_price(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, ORDERS, PRODUCTS, LINES)
    line = columns_of(marts(plan)["fct_order_lines"])
    assert line["extended_price"] == "order_lines.quantity * order_lines.price"
    # A product's price is no line's: a table with no quantity is worth nothing more.
    assert not [c for c in columns_of(marts(plan)["dim_products"]) if c.startswith("extended_")]


def test_the_lines_sales_are_summed_onto_their_parent_before_it_joins_them(tmp_path: Path) -> None:
    plan, _ = plan_of(tmp_path, ORDERS, PRODUCTS, LINES)
    aggregate = next(a for a in plan.actions if a.name == "int_order_lines_aggregated_to_orders")
    assert columns_of(aggregate)["total_order_line_extended_price"] == "sum(quantity * price)"
    orders = columns_of(marts(plan)["fct_orders"])
    assert orders["total_order_line_extended_price"] == (
        "coalesce(order_lines_aggregated.total_order_line_extended_price, 0)"
    )


def test_two_quantities_or_a_price_that_is_no_unit_price_make_no_product(tmp_path: Path) -> None:
    lines = table(
        "order_lines",
        {
            "id": "integer",
            "order_id": "integer",
            "product_id": "integer",
            "quantity": "integer",
            "qty": "integer",  # which one the price multiplies is not for a rule to guess
            "unit_cost": "numeric",
        },
    )
    plan, _ = plan_of(tmp_path, ORDERS, PRODUCTS, lines)
    assert not [c for c in columns_of(marts(plan)["fct_order_lines"]) if c.startswith("extended_")]
    taxed = table(
        "order_lines",
        {
            "id": "integer",
            "order_id": "integer",
            "product_id": "integer",
            "quantity": "integer",
            "pre_tax_price": "numeric",
            "unit_amount": "numeric",
        },
    )
    plan, _ = plan_of(tmp_path, ORDERS, PRODUCTS, taxed)
    line = columns_of(marts(plan)["fct_order_lines"])
    assert line["extended_amount"] == "order_lines.quantity * order_lines.unit_amount"
    assert "extended_pre_tax_price" not in line
    # A whole-number `price` is a price level's id (1, -1) or cents: no money to multiply.
    leveled = table(
        "order_lines",
        {
            "id": "integer",
            "order_id": "integer",
            "product_id": "integer",
            "quantity": "integer",
            "price": "integer",
        },
    )
    plan, _ = plan_of(tmp_path, ORDERS, PRODUCTS, leveled)
    assert "extended_price" not in columns_of(marts(plan)["fct_order_lines"])


def test_a_document_with_an_amount_and_the_part_paid_says_what_is_left_to_pay(tmp_path: Path) -> None:
    accounts = table("accounts", {"id": "integer", "name": "text"})
    bills = table(
        "bills",
        {
            "id": "integer",
            "account_id": "integer",
            "issued_at": "timestamp",
            "amount": "numeric(12,2)",
            "amount_paid": "numeric(12,2)",
            "tax_amount": "numeric(12,2)",
        },
    )
    plan, _ = plan_of(tmp_path, accounts, bills)
    assert columns_of(marts(plan)["fct_bills"])["unpaid_amount"] == "bills.amount - bills.amount_paid"
    # Two whole amounts: which one was paid is not for a rule to guess.
    doubled = table(
        "bills",
        {
            "id": "integer",
            "account_id": "integer",
            "issued_at": "timestamp",
            "amount": "numeric(12,2)",
            "total": "numeric(12,2)",
            "amount_paid": "numeric(12,2)",
        },
    )
    plan, _ = plan_of(tmp_path, accounts, doubled)
    assert "unpaid_amount" not in columns_of(marts(plan)["fct_bills"])


def test_a_whole_amount_adds_its_adjustments_and_takes_away_its_refunds(tmp_path: Path) -> None:
    orders = table(
        "orders",
        {"id": "integer", "created_at": "timestamp", "total_price": "numeric", "subtotal": "numeric"},
    )
    adjustments = table(
        "order_adjustments",
        {"id": "integer", "order_id": "integer", "amount": "numeric", "tax_amount": "numeric"},
    )
    refunds = table(
        "refund_lines",
        {
            "id": "integer",
            "order_id": "integer",
            "subtotal": "numeric",
            "total_tax": "numeric",
            "quantity": "integer",
        },
    )
    notes = table("order_notes", {"id": "integer", "order_id": "integer", "amount": "numeric"})
    plan, _ = plan_of(tmp_path, orders, adjustments, refunds, notes)
    adjusted = next(c for c in marts(plan)["dim_orders"].spec.columns if c.name == "adjusted_total_price")  # type: ignore[union-attr]
    # each child pre-aggregated to the order before the join; a quantity refunded is no money, a note no adjustment
    assert adjusted.expression == (
        "orders.total_price"
        " + coalesce(order_adjustments_aggregated.total_order_adjustment_amount, 0)"
        " + coalesce(order_adjustments_aggregated.total_order_adjustment_tax_amount, 0)"
        " - coalesce(refund_lines_aggregated.total_refund_line_subtotal, 0)"
        " - coalesce(refund_lines_aggregated.total_refund_line_tax, 0)"
    )
    assert "plus its order adjustments' `amount` and `tax_amount`" in adjusted.description
    assert "minus its refund lines' `subtotal` and `total_tax`" in adjusted.description


def test_no_adjusted_total_without_a_whole_amount_or_a_child_that_adjusts_it(tmp_path: Path) -> None:
    orders = table("orders", {"id": "integer", "created_at": "timestamp", "total_price": "numeric"})
    notes = table("order_notes", {"id": "integer", "order_id": "integer", "amount": "numeric"})
    plan, _ = plan_of(tmp_path, orders, notes)
    assert "adjusted_total_price" not in columns_of(marts(plan)["dim_orders"])
    unpriced = table("orders", {"id": "integer", "created_at": "timestamp", "code": "text"})
    refunds = table("refunds", {"id": "integer", "order_id": "integer", "amount": "numeric"})
    plan, _ = plan_of(tmp_path, unpriced, refunds)
    assert not [c for c in columns_of(marts(plan)["dim_orders"]) if c.startswith("adjusted_")]
