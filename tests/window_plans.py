"""Window columns and conditional aggregates put into a rules plan of a small payments schema (issue 18), with the
figures they must come to, computed by hand from the raw rows, for the tests that build them on each warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from plan_payloads import Plan

# (id, customer_id, paid_at, amount, status): customer 1 pays, fails, pays; 2 pays and is refunded; 3 only fails.
PAYMENTS = [
    (1, 1, "2025-01-01", "10.00", "succeeded"),
    (2, 1, "2025-01-02", "5.00", "failed"),
    (3, 1, "2025-01-03", "7.50", "succeeded"),
    (4, 2, "2025-01-01", "20.00", "succeeded"),
    (5, 2, "2025-01-05", "3.00", "refunded"),
    (6, 3, "2025-01-02", "4.00", "failed"),
]
CUSTOMERS = [(1, "Ada"), (2, "Bo"), (3, "Cy")]
AGGREGATE = "int_payments_aggregated_to_customers"
FACT = "fct_payments"
_ORDER = "partition by payments.customer_id order by payments.paid_at, payments.payment_id"


def _column(name: str, **how: Any) -> dict[str, Any]:
    return {"name": name, "description": f"{name.replace('_', ' ')}.", **how}


def _action(plan: Plan, name: str) -> dict[str, Any]:
    return next(a for a in plan["actions"] if a["name"] == name)


def with_windows_and_conditions(plan: Plan) -> None:
    """The payments aggregate gains conditional aggregates and a rank; the payments fact gains window columns."""
    succeeded = "status = 'succeeded'"
    _action(plan, AGGREGATE)["spec"]["columns"] += [
        _column("succeeded_amount", aggregate={"function": "sum", "column": "amount", "where": succeeded}),
        _column(
            "failed_payments", aggregate={"function": "count", "column": None, "where": "status = 'failed'"}
        ),
        _column(
            "succeeded_days",
            aggregate={"function": "count_distinct", "column": "paid_at", "where": succeeded},
        ),
        _column(
            "largest_succeeded_amount", aggregate={"function": "max", "column": "amount", "where": succeeded}
        ),
        _column("amount_rank", expression="rank() over (order by sum(amount) desc)"),
        _column("all_payments", expression="sum(count(*)) over ()"),
    ]
    _action(plan, FACT)["spec"]["columns"] += [
        _column(
            "running_amount",
            expression=f"sum(payments.amount) over ({_ORDER} rows between unbounded preceding and current row)",
        ),
        _column("previous_amount", expression=f"lag(payments.amount) over ({_ORDER})"),
        _column("payment_number", expression=f"row_number() over ({_ORDER})"),
        _column("first_amount", expression=f"first_value(payments.amount) over ({_ORDER})"),
        _column(
            "last_amount",
            expression=f"last_value(payments.amount) over ({_ORDER} rows between unbounded preceding and "
            "unbounded following)",
        ),
        _column("amount_dense_rank", expression="dense_rank() over (order by payments.amount desc)"),
        _column(
            "moving_average",
            expression=f"avg(payments.amount) over ({_ORDER} rows between 1 preceding and current row)",
        ),
        _column("next_amount", expression=f"lead(payments.amount) over ({_ORDER})"),
    ]


def expected_fact() -> dict[int, tuple[Any, ...]]:
    """Per payment: running total, previous, number, first, last, dense rank by amount, 2-row average, next."""
    by_customer: dict[int, list[tuple[int, Decimal]]] = {}
    for payment, customer, _, amount, _ in sorted(PAYMENTS, key=lambda p: (p[1], p[2], p[0])):
        by_customer.setdefault(customer, []).append((payment, Decimal(amount)))
    amounts = sorted({Decimal(p[3]) for p in PAYMENTS}, reverse=True)
    expected = {}
    for rows in by_customer.values():
        for index, (payment, amount) in enumerate(rows):
            window = [a for _, a in rows[max(0, index - 1) : index + 1]]
            expected[payment] = (
                sum((a for _, a in rows[: index + 1]), Decimal(0)),
                rows[index - 1][1] if index else None,
                index + 1,
                rows[0][1],
                rows[-1][1],
                amounts.index(amount) + 1,
                sum(window, Decimal(0)) / len(window),
                rows[index + 1][1] if index + 1 < len(rows) else None,
            )
    return expected


def expected_aggregate() -> dict[int, tuple[Any, ...]]:
    """Per customer: succeeded sum, failed count, succeeded days, largest succeeded, rank by total, all payments."""
    totals = {c: sum(Decimal(p[3]) for p in PAYMENTS if p[1] == c) for c, _ in CUSTOMERS}
    ranked = sorted(totals.values(), reverse=True)
    expected = {}
    for customer, _ in CUSTOMERS:
        good = [p for p in PAYMENTS if p[1] == customer and p[4] == "succeeded"]
        expected[customer] = (
            sum(Decimal(p[3]) for p in good) if good else None,
            sum(p[1] == customer and p[4] == "failed" for p in PAYMENTS),
            len({p[2] for p in good}),
            max(Decimal(p[3]) for p in good) if good else None,
            ranked.index(totals[customer]) + 1,
            len(PAYMENTS),
        )
    return expected


FACT_QUERY = (
    "select payment_id, running_amount, previous_amount, payment_number, first_amount, last_amount, "
    "amount_dense_rank, moving_average, next_amount from {schema}.fct_payments"
)
AGGREGATE_QUERY = (
    "select customer_id, succeeded_amount, failed_payments, succeeded_days, largest_succeeded_amount, "
    "amount_rank, all_payments from {schema}.int_payments_aggregated_to_customers"
)


def normalized(rows: list[tuple[Any, ...]]) -> dict[int, tuple[Any, ...]]:
    """Rows keyed by their first column, numbers as Decimals rounded to 6 places (drivers differ in types)."""

    def number(value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        return Decimal(str(value)).quantize(Decimal("0.000001"))

    return {int(row[0]): tuple(number(v) for v in row[1:]) for row in rows}


def assert_figures(query: Callable[[str], list[tuple[Any, ...]]], schema: str) -> None:
    """The built fact's and aggregate's figures are the hand-computed ones."""
    assert normalized(query(FACT_QUERY.format(schema=schema))) == normalized(
        [(k, *v) for k, v in expected_fact().items()]
    )
    assert normalized(query(AGGREGATE_QUERY.format(schema=schema))) == normalized(
        [(k, *v) for k, v in expected_aggregate().items()]
    )
