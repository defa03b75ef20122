"""A shop whose refunds point at payments, and payments at orders: an intermediate that joins each refund to
its payment (for the method) and that payment's order (for the customer) before it sums, with the figures
computed by hand. Shared by the PostgreSQL/DuckDB test and the Spark lane's."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from plan_payloads import Plan

CUSTOMERS = [(1, "Ann"), (2, "Bo")]
ORDERS = [(10, 1), (11, 1), (12, 2)]  # id, customer_id
PAYMENTS = [
    (100, 10, "card", "30.00"),
    (101, 10, "gift", "5.00"),
    (102, 11, "card", "20.00"),
    (103, 12, "card", "40.00"),
]
REFUNDS = [
    (1000, 100, "10.00"),
    (1001, 100, "5.00"),
    (1002, 102, "20.00"),
    (1003, 103, "15.00"),
    (1004, 101, "5.00"),
]
MODEL = "int_refunds_by_customer_and_method"
# By hand: Ann's card refunds are 10 + 5 (payment 100) + 20 (payment 102); her gift card's 5; Bo's card's 15.
BY_HAND = {
    (1, "card"): (3, Decimal("35.00")),
    (1, "gift"): (1, Decimal("5.00")),
    (2, "card"): (1, Decimal("15.00")),
}


def raw_statements(schema: str, text: str, table_suffix: str = "") -> list[str]:
    """The raw tables and rows; `text` is the warehouse's text type, `table_suffix` e.g. ` using parquet`."""
    return [
        f"create table {schema}.customers (id integer, name {text}){table_suffix}",
        f"create table {schema}.orders (id integer, customer_id integer){table_suffix}",
        f"create table {schema}.payments (id integer, order_id integer, payment_method {text},"
        f" amount decimal(10,2)){table_suffix}",
        f"create table {schema}.refunds (id integer, payment_id integer, amount decimal(10,2)){table_suffix}",
        f"insert into {schema}.customers values " + ", ".join(f"({i}, '{n}')" for i, n in CUSTOMERS),
        f"insert into {schema}.orders values " + ", ".join(f"({i}, {c})" for i, c in ORDERS),
        f"insert into {schema}.payments values "
        + ", ".join(f"({i}, {o}, '{m}', {a})" for i, o, m, a in PAYMENTS),
        f"insert into {schema}.refunds values " + ", ".join(f"({i}, {p}, {a})" for i, p, a in REFUNDS),
    ]


def with_refunds_by_customer_and_method(plan: Plan) -> None:
    """Add the intermediate: refunds joined to their payment and its order (both on their keys), then grouped."""
    staged = {a["spec"]["table"]: a["name"] for a in plan["actions"] if a["type"] == "create_staging"}
    key = "payment_id" if "payment_id" in _columns(plan, staged["payments"]) else "id"
    order_key = "order_id" if "order_id" in _columns(plan, staged["orders"]) else "id"
    plan["actions"].append(
        {
            "step_id": len(plan["actions"]) + 1,
            "type": "create_intermediate",
            "name": MODEL,
            "file_path": f"models/intermediate/{MODEL}.sql",
            "properties_path": "models/intermediate/_intermediate__models.yml",
            "description": "Refunds per customer and payment method.",
            "dependencies": [staged["refunds"], staged["payments"], staged["orders"]],
            "spec": {
                "kind": "aggregate",
                "from_model": staged["refunds"],
                "from_alias": "refunds",
                "joins": [
                    {
                        "model": staged["payments"],
                        "alias": "payments",
                        "join_type": "inner",
                        "on": [{"left_alias": "refunds", "left_column": "payment_id", "right_column": key}],
                        "columns": [
                            {
                                "name": "payment_method",
                                "expression": "payments.payment_method",
                                "description": "How.",
                            },
                        ],
                    },
                    {
                        "model": staged["orders"],
                        "alias": "orders",
                        "on": [
                            {"left_alias": "payments", "left_column": "order_id", "right_column": order_key}
                        ],
                        "columns": [
                            {"name": "customer_id", "expression": "orders.customer_id", "description": "Who."}
                        ],
                    },
                ],
                "group_by": ["customer_id", "payment_method"],
                "columns": [
                    {"name": "customer_id", "expression": "customer_id", "description": "The customer."},
                    {"name": "payment_method", "expression": "payment_method", "description": "The method."},
                    {"name": "number_of_refunds", "expression": "count(*)", "description": "How many."},
                    {"name": "refunded_amount", "expression": "sum(amount)", "description": "How much."},
                ],
            },
            "tests": [
                {"name": "unique_combination_of_columns", "columns": ["customer_id", "payment_method"]}
            ],
        }
    )


def _columns(plan: Plan, model: str) -> set[str]:
    action = next(a for a in plan["actions"] if a["name"] == model)
    return {c["name"] for c in action["spec"]["columns"]}


def figures(
    query: Callable[[str], list[tuple[Any, ...]]], schema: str
) -> dict[tuple[int, str], tuple[int, Decimal]]:
    """The built model's rows, keyed as BY_HAND is."""
    rows = query(
        f"select customer_id, payment_method, number_of_refunds, refunded_amount from {schema}.{MODEL}"
    )
    return {(int(c), str(m)): (int(n), Decimal(str(a)).quantize(Decimal("0.01"))) for c, m, n, a in rows}
