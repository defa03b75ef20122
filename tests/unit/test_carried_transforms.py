"""The project's staging transforms carry over: jaffle_shop converts payments from cents, new refunds are too."""

from __future__ import annotations

import pytest
from test_brownfield_jaffle import context, relation  # noqa: F401 (the module's context fixture, reused)

from cartridge_bridge.context.existing_models import ExistingColumn, ExistingModelFacts
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.planning.carried_transforms import project_transforms, rewritten, transform_findings
from cartridge_bridge.planning.plan import AggregateSpec, ColumnSpec, StagingSpec
from cartridge_bridge.planning.rules.measures import is_money_name
from cartridge_bridge.planning.rules.planner import plan_with_rules
from cartridge_bridge.sql.sql_types import is_whole_number
from cartridge_bridge.verify.magnitudes import MagnitudePair, Median, magnitude_pairs, mismatch

REFUNDS = relation(
    "raw_refunds", ("id", "INTEGER"), ("order_id", "INTEGER"), ("amount", "INTEGER"), ("reason", "VARCHAR")
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("amount / 100", '"Refund Amount" / 100'),
        ("100 * amount", '100 * "Refund Amount"'),
        ("round(amount / 100.0, 2)", 'ROUND("Refund Amount" / 100.0, 2)'),
        ("cast(amount as double) / 100", 'CAST("Refund Amount" AS DOUBLE) / 100'),
        ("amount::int", 'CAST("Refund Amount" AS INT)'),
        ("case when amount > 0 then amount end", None),  # not a shape that is copied
        ("amount / quantity", None),  # two columns
        ("coalesce(amount, 0)", None),
        ("amount", None),  # a rename is no transform
    ],
)
def test_only_the_safe_shapes_are_rewritten_onto_the_new_column(
    expression: str, expected: str | None
) -> None:
    assert rewritten(expression, "Refund Amount", "duckdb") == expected


def _with_refunds(jaffle: ProjectContext) -> ProjectContext:
    (raw,) = jaffle.raw_schemas
    return jaffle.model_copy(
        update={"raw_schemas": [raw.model_copy(update={"relations": [*raw.relations, REFUNDS]})]}
    )


def test_the_rules_planner_converts_refunds_as_the_project_converts_payments(context: ProjectContext) -> None:  # noqa: F811
    plan = plan_with_rules(_with_refunds(context))
    staging = next(a for a in plan.actions if a.name == "stg_refunds")
    assert isinstance(staging.spec, StagingSpec)
    columns = {c.name: c for c in staging.spec.columns}
    assert (columns["amount"].expression, columns["amount"].source_column) == ("amount / 100", None)
    # the key and the text column stay as they are: no transform of the project matches them
    assert columns["id"].source_column == "id" and columns["reason"].source_column == "reason"
    assert transform_findings(plan, context.existing) == []


def test_a_plan_that_passes_cents_through_is_flagged(context: ProjectContext) -> None:  # noqa: F811
    plan = plan_with_rules(_with_refunds(context))
    staging = next(a for a in plan.actions if a.name == "stg_refunds")
    assert isinstance(staging.spec, StagingSpec)
    amount = next(c for c in staging.spec.columns if c.name == "amount")
    amount.expression, amount.source_column, amount.data_type = (
        None,
        "amount",
        None,
    )  # as an LLM might write it
    assert transform_findings(plan, context.existing) == [
        "unit check: `stg_refunds.amount` is not converted like the project's `amount / 100` in stg_payments: "
        "check its unit"
    ]


def _staging(name: str, *columns: tuple[str, str | None]) -> ExistingModelFacts:
    return ExistingModelFacts(
        name=name,
        layer="staging",
        columns_from="sql",
        columns=[ExistingColumn(name=n, expression=e) for n, e in columns],
    )


def test_a_project_without_one_convention_is_flagged_not_copied(context: ProjectContext) -> None:  # noqa: F811
    # Another staging model passes `amount` through: the project has no one rule for it.
    existing = dict(context.existing) | {"stg_invoices": _staging("stg_invoices", ("amount", None))}
    found = project_transforms(existing, "duckdb")["amount"]
    assert found.problem == "stg_invoices passes `amount` through unchanged"
    assert found.apply_to("amount", "duckdb") is None
    plan = plan_with_rules(_with_refunds(context.model_copy(update={"existing": existing})))
    staging = next(a for a in plan.actions if a.name == "stg_refunds")
    assert isinstance(staging.spec, StagingSpec)
    assert next(c for c in staging.spec.columns if c.name == "amount").source_column == "amount"
    [finding] = transform_findings(plan, existing)
    assert finding.startswith("unit check: `stg_refunds.amount` is not converted like the project's")
    assert "cartridge did not copy it (stg_invoices passes `amount` through unchanged)" in finding
    # A `case` mapping is not copied either: flagged.
    mapped = {"stg_x": _staging("stg_x", ("amount", "case when amount > 0 then amount / 100 end"))}
    assert "not one of the shapes copied" in (project_transforms(mapped, "duckdb")["amount"].problem or "")
    # Keys are never converted, whatever the project does to them.
    keyed = {"stg_y": _staging("stg_y", ("order_id", "cast(order_id as int)"))}
    assert project_transforms(keyed, "duckdb") == {}


PAIR = MagnitudePair("orders_with_refunds", "total_refund_amount", "orders", ("amount", "coupon_amount"))


@pytest.mark.parametrize(
    ("new", "existing", "fails"),
    [
        (Median(5, 1200.0), {"amount": Median(8, 16.5)}, "is 73x `orders.amount` (median 16.5)"),
        (Median(5, 0.12), {"amount": Median(8, 16.5)}, "is 1/138 `orders.amount`"),  # units against cents
        (Median(5, 16500.0), {"amount": Median(8, 16.5)}, "is 1000x"),  # mills
        (Median(5, 12.0), {"amount": Median(8, 16.5)}, None),  # same unit
        (Median(5, 400.0), {"amount": Median(8, 16.5)}, None),  # 24x: not a unit's factor
        (Median(4, 1200.0), {"amount": Median(8, 16.5)}, None),  # too few refunds to say
        (Median(5, 1200.0), {"amount": Median(3, 16.5)}, None),  # too few orders to say
        (Median(5, 1200.0), {"amount": Median(8, None)}, None),  # no amounts other than zero
        # One ordinary amount of the mart in the refunds' range clears it, whatever the others.
        (Median(5, 1200.0), {"amount": Median(8, 16.5), "coupon_amount": Median(6, 900.0)}, None),
    ],
)
def test_the_magnitude_check_fails_only_a_units_factor_on_enough_rows(
    new: Median, existing: dict[str, Median], fails: str | None
) -> None:
    found = mismatch(PAIR, new, existing)
    if fails is None:
        assert found is None
    else:
        assert found is not None and fails in found
        assert found.startswith("magnitude check: `orders_with_refunds.total_refund_amount`")


@pytest.mark.parametrize(
    ("name", "money"),
    [
        ("total_refund_amount", True),
        ("amount", True),
        ("gift_card_amount", True),
        ("number_of_refunds", False),
        ("first_refunded_at", False),
        ("refund_count", False),
        ("total_quantity", False),
        ("refund_rate", False),
        ("order_id", False),
    ],
)
def test_money_is_told_by_its_name(name: str, money: bool) -> None:
    assert is_money_name(name) is money


def test_a_decimal_amount_is_already_in_units(context: ProjectContext) -> None:  # noqa: F811
    (raw,) = context.raw_schemas
    decimal = relation("raw_refunds", ("id", "INTEGER"), ("order_id", "INTEGER"), ("amount", "DECIMAL(12,2)"))
    units = context.model_copy(
        update={"raw_schemas": [raw.model_copy(update={"relations": [*raw.relations, decimal]})]}
    )
    plan = plan_with_rules(units)
    staging = next(a for a in plan.actions if a.name == "stg_refunds")
    assert isinstance(staging.spec, StagingSpec)
    amount = next(c for c in staging.spec.columns if c.name == "amount")
    assert (amount.source_column, amount.expression) == ("amount", None)  # `/ 100` converts whole cents only
    assert transform_findings(plan, context.existing) == []  # and nothing to flag


def test_a_project_dividing_decimals_gets_decimal_refunds_divided(context: ProjectContext) -> None:  # noqa: F811
    # The project's loader writes cents as decimals (`amount numeric`) and its staging divides them: a new
    # decimal `amount` is like it, converted the same way; the project's whole-cents column keeps decimals apart.
    (raw,) = context.raw_schemas
    decimal = relation("raw_refunds", ("id", "INTEGER"), ("order_id", "INTEGER"), ("amount", "DECIMAL(12,2)"))
    payments = context.existing["stg_payments"]
    decimals = payments.model_copy(
        update={
            "columns": [
                c.model_copy(update={"raw_type": "DECIMAL(12,2)"}) if c.name == "amount" else c
                for c in payments.columns
            ]
        }
    )
    units = context.model_copy(
        update={
            "raw_schemas": [raw.model_copy(update={"relations": [*raw.relations, decimal]})],
            "existing": {**context.existing, "stg_payments": decimals},
        }
    )
    assert project_transforms(units.existing, "duckdb")["amount"].raw_type == "DECIMAL(12,2)"
    plan = plan_with_rules(units)
    staging = next(a for a in plan.actions if a.name == "stg_refunds")
    assert isinstance(staging.spec, StagingSpec)
    amount = next(c for c in staging.spec.columns if c.name == "amount")
    assert (amount.source_column, amount.expression) == (None, "amount / 100")
    assert transform_findings(plan, units.existing) == []
    # Kept out of every dump: the prompts that show existing models are byte for byte what they were.
    assert "raw_type" not in decimals.model_dump_json()


@pytest.mark.parametrize(
    ("data_type", "whole"),
    [
        ("INTEGER", True),
        ("bigint", True),
        ("NUMBER(38,0)", True),
        ("numeric(12)", True),
        ("DECIMAL(12,2)", False),
        ("DOUBLE", False),
        ("numeric", False),
        ("int[]", False),
    ],
)
def test_whole_numbers_are_told_by_their_type(data_type: str, whole: bool) -> None:
    assert is_whole_number(data_type) is whole


def test_the_magnitude_check_compares_the_new_money_at_the_marts_grain(context: ProjectContext) -> None:  # noqa: F811
    plan = plan_with_rules(context)  # new reviews, aggregated to the existing orders
    aggregate = next(a for a in plan.actions if a.name == "int_reviews_aggregated_to_orders")
    assert isinstance(aggregate.spec, AggregateSpec)
    aggregate.spec.columns += [
        ColumnSpec(name="total_refund_amount", expression="sum(rating)", description="Refunded."),
        ColumnSpec(name="amount_label", expression="max(status)", data_type="VARCHAR", description="Text."),
    ]
    pairs = magnitude_pairs(plan, context)
    # the count of reviews, their times and a text column named like money are no amounts
    assert [(p.model, p.column, p.mart) for p in pairs] == [
        ("int_reviews_aggregated_to_orders", "total_refund_amount", "orders")
    ]
    assert pairs[0].mart_columns == (
        "credit_card_amount",
        "coupon_amount",
        "bank_transfer_amount",
        "gift_card_amount",
        "amount",
    )
