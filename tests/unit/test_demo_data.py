"""Tests of the sample shop data behind `cartridge demo`, without a database."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from types import TracebackType
from typing import IO

import pytest

from cartridge_bridge.demo import shop_data as demo_data
from cartridge_bridge.demo.load_raw import LOADED_AT, create_statements, load_shop, resync_shop
from cartridge_bridge.demo.shop_data import ShopColumn, ShopTable, shop_tables

START = datetime(2024, 1, 1)
END = datetime(2025, 12, 31, 23, 59, 59)

Record = dict[str, object]


@pytest.fixture(scope="module")
def tables() -> dict[str, ShopTable]:
    return {table.name: table for table in shop_tables()}


@pytest.fixture(scope="module")
def records(tables: dict[str, ShopTable]) -> dict[str, list[Record]]:
    return {
        name: [dict(zip([c.name for c in t.columns], row, strict=True)) for row in t.rows]
        for name, t in tables.items()
    }


def test_same_seed_gives_identical_tables() -> None:
    assert shop_tables(seed=7, scale=0.3) == shop_tables(seed=7, scale=0.3)


def test_another_seed_gives_other_rows() -> None:
    first, second = shop_tables(seed=7, scale=0.3), shop_tables(seed=8, scale=0.3)
    assert [t.name for t in first] == [t.name for t in second]
    assert all(a.rows != b.rows for a, b in zip(first, second, strict=True))


def test_rows_do_not_depend_on_the_hash_seed() -> None:
    script = (
        "import hashlib, importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('demo_data', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['demo_data'] = module\n"
        "spec.loader.exec_module(module)\n"
        "tables = module.shop_tables(seed=3, scale=0.2)\n"
        "print(hashlib.sha256(repr(tables).encode()).hexdigest())\n"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", script, demo_data.__file__],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(done.stdout.strip())
    expected = hashlib.sha256(repr(shop_tables(seed=3, scale=0.2)).encode()).hexdigest()
    assert digests == {expected}


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        (
            1.0,
            {
                "customers": (1000, 1000),
                "products": (60, 60),
                "orders": (3000, 3000),
                "order_items": (6000, 8000),
                "payments": (2900, 3400),
            },
        ),
        (
            0.1,
            {
                "customers": (100, 100),
                "products": (6, 6),
                "orders": (300, 300),
                "order_items": (500, 800),
                "payments": (270, 350),
            },
        ),
    ],
)
def test_row_counts_follow_the_scale(scale: float, expected: dict[str, tuple[int, int]]) -> None:
    counts = {table.name: len(table.rows) for table in shop_tables(scale=scale)}
    assert counts.keys() == expected.keys()
    for name, (low, high) in expected.items():
        assert low <= counts[name] <= high, name


def test_a_tiny_scale_keeps_one_row_per_table() -> None:
    assert all(len(table.rows) >= 1 for table in shop_tables(scale=0.0001))


@pytest.mark.parametrize("scale", [0, -1.0, float("nan")])
def test_a_scale_that_is_not_positive_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="scale"):
        shop_tables(scale=scale)


def test_tables_have_the_raw_style_column_names(tables: dict[str, ShopTable]) -> None:
    columns = {name: [c.name for c in t.columns] for name, t in tables.items()}
    assert columns == {
        "customers": ["id", "first_name", "last_name", "email", "Country", "createdAt"],
        "products": ["id", "sku", "productName", "category", "unitPrice", "is_active"],
        "orders": ["id", "customer_id", "status", "ordered_at", "shipping_cost"],
        "order_items": ["id", "order_id", "product_id", "quantity", "unit_price"],
        "payments": ["id", "order_id", "payment_method", "amount", "paid_at"],
    }
    assert all(t.primary_key == ("id",) and t.comment for t in tables.values())


def test_primary_keys_are_unique(tables: dict[str, ShopTable]) -> None:
    for table in tables.values():
        positions = [[c.name for c in table.columns].index(k) for k in table.primary_key]
        keys = [tuple(row[p] for p in positions) for row in table.rows]
        assert len(set(keys)) == len(keys), table.name


def _fits(column: ShopColumn, value: object) -> bool:
    if value is None:
        return column.nullable
    if column.sql_type == "integer":
        return type(value) is int
    if column.sql_type.startswith("numeric"):
        return isinstance(value, Decimal) and value.as_tuple().exponent == -2
    python_types = {"text": str, "timestamp": datetime, "boolean": bool}
    return type(value) is python_types[column.sql_type]


def test_values_fit_their_column_type_and_nullability(
    tables: dict[str, ShopTable],
) -> None:
    for table in tables.values():
        for row in table.rows:
            assert len(row) == len(table.columns)
            for column, value in zip(table.columns, row, strict=True):
                assert _fits(column, value), (table.name, column.name, value)


def test_text_values_are_never_empty(tables: dict[str, ShopTable]) -> None:
    for table in tables.values():
        assert "" not in {value for row in table.rows for value in row}, table.name


def test_every_foreign_key_value_has_a_parent(
    records: dict[str, list[Record]],
) -> None:
    ids = {name: {row["id"] for row in rows} for name, rows in records.items()}
    assert {row["customer_id"] for row in records["orders"]} <= ids["customers"]
    assert {row["order_id"] for row in records["order_items"]} <= ids["orders"]
    assert {row["product_id"] for row in records["order_items"]} <= ids["products"]
    assert {row["order_id"] for row in records["payments"]} <= ids["orders"]


def test_every_order_has_items_at_the_product_price(
    records: dict[str, list[Record]],
) -> None:
    prices = {row["id"]: row["unitPrice"] for row in records["products"]}
    items_per_order = Counter(row["order_id"] for row in records["order_items"])
    assert all(items_per_order[row["id"]] >= 1 for row in records["orders"])
    for item in records["order_items"]:
        assert isinstance(item["quantity"], int) and item["quantity"] >= 1
        assert item["unit_price"] == prices[item["product_id"]]


def test_payments_add_up_to_the_order_total(records: dict[str, list[Record]]) -> None:
    totals: dict[object, Decimal] = defaultdict(Decimal)
    for item in records["order_items"]:
        assert isinstance(item["unit_price"], Decimal)
        assert isinstance(item["quantity"], int)
        totals[item["order_id"]] += item["unit_price"] * item["quantity"]
    paid: dict[object, list[Decimal]] = defaultdict(list)
    for payment in records["payments"]:
        assert isinstance(payment["amount"], Decimal) and payment["amount"] > 0
        paid[payment["order_id"]].append(payment["amount"])
    for order in records["orders"]:
        amounts = paid[order["id"]]
        assert len(amounts) <= 2
        shipping = order["shipping_cost"]
        assert isinstance(shipping, Decimal)
        if order["status"] != "cancelled" or amounts:
            assert sum(amounts) == totals[order["id"]] + shipping
    split = sum(len(amounts) == 2 for amounts in paid.values())
    unpaid_cancelled = sum(o["status"] == "cancelled" and not paid[o["id"]] for o in records["orders"])
    assert split > 0 and unpaid_cancelled > 0


def test_timestamps_follow_the_order_of_events(
    records: dict[str, list[Record]],
) -> None:
    signed_up = {row["id"]: row["createdAt"] for row in records["customers"]}
    ordered = {row["id"]: row["ordered_at"] for row in records["orders"]}
    for moment in [*signed_up.values(), *ordered.values()]:
        assert isinstance(moment, datetime) and START <= moment <= END
    for order in records["orders"]:
        created, at = signed_up[order["customer_id"]], order["ordered_at"]
        assert isinstance(created, datetime) and isinstance(at, datetime)
        assert created < at
    for payment in records["payments"]:
        paid_at, at = payment["paid_at"], ordered[payment["order_id"]]
        assert isinstance(at, datetime)
        assert paid_at is None or (isinstance(paid_at, datetime) and at <= paid_at <= END)


def test_values_stay_in_their_domains(records: dict[str, list[Record]]) -> None:
    customers, payments = records["customers"], records["payments"]
    emails = [row["email"] for row in customers]
    assert len(set(emails)) == len(emails)
    assert all(isinstance(e, str) and e == e.lower() and "@" in e for e in emails)
    countries = [row["Country"] for row in customers]
    assert all(c is None or (isinstance(c, str) and len(c) == 2 and c.isupper()) for c in countries)
    assert 0 < countries.count(None) < len(countries) / 10
    assert 0 < sum(row["paid_at"] is None for row in payments) < len(payments) / 10
    skus = [row["sku"] for row in records["products"]]
    assert len(set(skus)) == len(skus)
    assert {row["status"] for row in records["orders"]} == {
        "placed",
        "shipped",
        "completed",
        "returned",
        "cancelled",
    }
    assert {row["payment_method"] for row in payments} == {
        "credit_card",
        "paypal",
        "gift_card",
        "bank_transfer",
    }
    prices = [row["unitPrice"] for row in records["products"]]
    assert all(isinstance(p, Decimal) and 1 <= p <= 500 for p in prices)


def test_ddl_quotes_identifiers_and_declares_keys_and_comments(
    tables: dict[str, ShopTable],
) -> None:
    statements = create_statements("raw", list(tables.values()))
    ddl = ";\n".join(statements)
    assert statements[0] == 'create schema if not exists "raw"'
    assert 'drop table if exists "raw"."customers" cascade' in statements
    for identifier in ('"Country"', '"createdAt"', '"productName"', '"unitPrice"'):
        assert identifier in ddl
    assert ddl.count('primary key ("id")') == len(tables)
    assert 'comment on table "raw"."orders" is \'Orders placed' in ddl
    assert 'comment on column "raw"."products"."unitPrice" is \'Current list price in EUR\'' in statements
    assert "references" not in ddl.lower() and "foreign key" not in ddl.lower()


def test_ddl_escapes_quotes_in_names_and_comments() -> None:
    table = ShopTable(
        name='odd"name',
        columns=(ShopColumn("a b", "integer", nullable=False, comment="it's"),),
        primary_key=("a b",),
        comment="the shop's",
        rows=(),
    )
    statements = create_statements('my"schema', [table])
    assert statements == [
        'create schema if not exists "my""schema"',
        'drop table if exists "my""schema"."odd""name" cascade',
        'create table "my""schema"."odd""name" (\n    "a b" integer not null,\n'
        '    "_loaded_at" timestamp with time zone not null default now(),\n    primary key ("a b")\n)',
        'comment on table "my""schema"."odd""name" is \'the shop\'\'s\'',
        'comment on column "my""schema"."odd""name"."a b" is \'it\'\'s\'',
    ]


def test_every_table_gets_the_loaders_timestamp_after_its_own_columns(tables: dict[str, ShopTable]) -> None:
    creates = [s for s in create_statements("raw", list(tables.values())) if s.startswith("create table")]
    assert len(creates) == len(tables)
    for create, table in zip(creates, tables.values(), strict=True):
        lines = create.splitlines()
        # Filled by the load itself (its transaction's time), so the rows the shop makes never carry it.
        assert (
            lines[len(table.columns) + 1]
            == '    "_loaded_at" timestamp with time zone not null default now(),'
        )
        assert all("_loaded_at" not in line for line in lines[: len(table.columns) + 1])
    assert all(LOADED_AT not in [c.name for c in t.columns] for t in tables.values())


def test_ddl_refuses_a_table_with_a_column_named_like_the_loaders() -> None:
    table = ShopTable(
        "t", (ShopColumn("id", "integer"), ShopColumn("_loaded_at", "timestamp")), ("id",), None, ()
    )
    with pytest.raises(ValueError, match=r"t\._loaded_at is the loader's own column"):
        create_statements("raw", [table])


def test_ddl_refuses_a_primary_key_that_names_no_column() -> None:
    table = ShopTable("t", (ShopColumn("a", "integer"),), ("b",), None, ())
    with pytest.raises(ValueError, match="primary key"):
        create_statements("raw", [table])


class FakeCursor:
    """Records what load_shop sends, the way a psycopg2 cursor would receive it."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.rowcount = -1

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.log.append("close cursor")

    def execute(self, query: str) -> None:
        self.log.append(query)

    def copy_expert(self, sql: str, file: IO[str]) -> None:
        data = file.read()
        self.log.extend([sql, data])
        self.rowcount = len(list(csv.reader(io.StringIO(data))))


class FakeConnection:
    """A connection whose context manager stands for one transaction."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.log)

    def __enter__(self) -> FakeConnection:
        self.log.append("begin")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.log.append("rollback" if exc_type else "commit")


SMALL = ShopTable(
    name="Things",
    columns=(
        ShopColumn("id", "integer", nullable=False),
        ShopColumn("Label", "text"),
        ShopColumn("price", "numeric(10,2)"),
        ShopColumn("seen_at", "timestamp"),
        ShopColumn("ok", "boolean"),
    ),
    primary_key=("id",),
    comment=None,
    rows=(
        (1, 'say "hi", then\nleave', Decimal("1.50"), datetime(2024, 5, 6, 7, 8, 9), True),
        (2, None, None, None, False),
    ),
)


def test_load_shop_copies_csv_with_unquoted_nulls_in_one_transaction() -> None:
    conn = FakeConnection()
    counts = load_shop(conn, "raw", [SMALL])
    assert counts == {"Things": 2}
    assert conn.log[0] == "begin" and conn.log[-1] == "commit"
    copy_sql, data = conn.log[-4], conn.log[-3]
    assert copy_sql == (
        'COPY "raw"."Things" ("id", "Label", "price", "seen_at", "ok") '
        "FROM STDIN WITH (FORMAT csv, NULL '')"
    )
    assert data == ('1,"say ""hi"", then\nleave",1.50,2024-05-06 07:08:09,true\n2,,,,false\n')
    assert conn.log[1:-4] == create_statements("raw", [SMALL])


def test_load_shop_refuses_empty_strings_that_would_become_null() -> None:
    conn = FakeConnection()
    table = dataclasses.replace(SMALL, rows=((1, "", None, None, None),))
    with pytest.raises(ValueError, match=r"Things\.Label"):
        load_shop(conn, "raw", [table])
    assert conn.log[-1] == "rollback"


def test_the_shop_csv_parses_back_to_its_rows(tables: dict[str, ShopTable]) -> None:
    conn = FakeConnection()
    counts = load_shop(conn, "raw", list(tables.values()))
    assert counts == {name: len(table.rows) for name, table in tables.items()}
    payloads = [data for sql, data in pairwise(conn.log) if sql.startswith("COPY")]
    for table, payload in zip(tables.values(), payloads, strict=True):
        parsed = list(csv.reader(io.StringIO(payload)))
        assert len(parsed) == len(table.rows)
        for fields, row in zip(parsed, table.rows, strict=True):
            assert [field == "" for field in fields] == [value is None for value in row]


def test_a_resync_stamps_every_table_with_the_syncs_time_in_one_transaction(
    tables: dict[str, ShopTable],
) -> None:
    conn = FakeConnection()
    resync_shop(conn, 'my"raw', list(tables.values()))
    assert conn.log == [
        "begin",
        *(f'update "my""raw"."{name}" set "_loaded_at" = now()' for name in tables),
        "close cursor",
        "commit",
    ]
