"""The key-check macros on real warehouses (PostgreSQL and DuckDB): `contained_values` and its use by generate."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from support import duckdb_output, postgres_output, run_sql, write_project

from cartridge_bridge.api import ProjectOptions, generate
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.errors import UsageError
from cartridge_bridge.planning.plan import ColumnSpec, ExecutionPlan, StagingSpec
from cartridge_bridge.progress import SilentProgress

_counter = itertools.count()

# A shop whose orders point at customers under two roles and at each other; one billing customer (9) is
# missing, 1 of 2 shipping customers is missing, and the "Parent Order" column is quoted and mixed case.
RAW = (
    "create table {s}.customer (id integer, email varchar(50))",
    'create table {s}."order" (id integer, billing_customer_id integer, shipping_customer_id integer, '
    '"Parent Order" integer, parent_id integer, amount numeric(10,2))',
    "insert into {s}.customer values (1, 'a@x.test'), (2, 'b@x.test'), (3, 'c@x.test')",
    'insert into {s}."order" values (10, 1, 1, null, null, 5.00), (11, 1, 7, 10, 10, 2.50), '
    "(12, 2, null, 10, 11, 1.00), (13, 3, null, 11, 11, 4.00), (14, null, null, 13, 13, 3.00)",
    # A tag list whose repeated row is a copy (the same tag twice on order 10, synced twice).
    "create table {s}.order_tag (order_id integer, tag varchar(20), _fivetran_synced timestamp)",
    "insert into {s}.order_tag values (10, 'gift', '2025-01-01'), (10, 'gift', '2025-01-02'), "
    "(10, 'rush', '2025-01-01'), (11, 'gift', '2025-01-01')",
    # Text columns named after a table keyed by integers: one holds a value no cast can convert, the other
    # only the keys' digits (and a null).
    "create table {s}.tax_rate (id integer, name varchar(20))",
    "insert into {s}.tax_rate values (1, 'New York'), (2, 'California')",
    "create table {s}.invoice_line (id integer, tax_rate_id varchar(20), amount numeric(10,2))",
    "insert into {s}.invoice_line values (1, '1', 2.00), (2, 'tax_rate_NY', 3.00), (3, '2', 4.00)",
    "create table {s}.credit_note (id integer, tax_rate_id varchar(20), amount numeric(10,2))",
    "insert into {s}.credit_note values (1, '1', 1.00), (2, '2', 1.50), (3, null, 2.00)",
    # Refunds of orders the raw data lacks (98, 99): `order_id` → `order` by name, refuted by the data.
    "create table {s}.refund (id integer, order_id integer, amount numeric(10,2))",
    "insert into {s}.refund values (1, 10, 1.00), (2, 98, 2.00), (3, 99, 0.50)",
)
EDGES = [
    ("order", "billing_customer_id", "customer", "id"),
    ("order", "shipping_customer_id", "customer", "id"),
    ("order", "Parent Order", "order", "id"),
    ("customer", "id", "customer", "id"),
]
# (distinct non-null values, how many of them the referenced key holds), per edge.
EXPECTED = [(3, 3), (2, 1), (3, 3), (3, 3)]


@pytest.fixture(scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres), "duckdb"])
def warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A project over a raw schema holding RAW, on each adapter: (project directory, raw schema)."""
    tmp_path = tmp_path_factory.mktemp(f"keys_{request.param}")
    schema = f"raw_keys_{next(_counter)}"
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        run_sql(server, f"create schema {schema}", *(s.format(s=schema) for s in RAW))
        output = postgres_output(server, f"analytics_keys_{next(_counter)}")
    else:
        database = tmp_path / "warehouse.duckdb"
        with duckdb.connect(str(database)) as connection:
            connection.execute(f"create schema {schema}")
            for statement in RAW:
                connection.execute(statement.format(s=schema))
        output = {**duckdb_output(database, "analytics"), "keep_open": False}
    project = write_project(tmp_path / "shop", "shop", output)
    DbtProject(project).deps()
    return project, schema


def _contained(project: Path, edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    dbt = DbtProject(project, profiles_dir=project)
    result: list[dict[str, Any]] = json.loads(
        dbt.run_operation("cartridge.contained_values", {"edges": edges})
    )
    return result


def test_contained_values_counts_every_edge_in_one_document(warehouse: tuple[Path, str]) -> None:
    project, schema = warehouse
    edges = [
        {"schema": schema, "identifier": c, "column": k, "ref_identifier": p, "ref_column": r}
        for c, k, p, r in EDGES
    ]
    printed = _contained(project, edges)
    assert [(r["identifier"], r["column"], r["ref_schema"]) for r in printed] == [
        (c, k, schema) for c, k, _, _ in EDGES
    ]
    assert [(r["distinct_count"], r["contained_count"]) for r in printed] == EXPECTED
    assert _contained(project, []) == []


def test_contained_values_compares_columns_of_two_types_as_text(warehouse: tuple[Path, str]) -> None:
    project, schema = warehouse
    edges = [
        {"schema": schema, "identifier": table, "column": "tax_rate_id", "ref_identifier": "tax_rate",
         "ref_column": "id", "as_text": True}
        for table in ("invoice_line", "credit_note")
    ]  # fmt: skip
    printed = _contained(project, edges)
    assert [(r["distinct_count"], r["contained_count"]) for r in printed] == [(3, 2), (2, 2)]


BAD_EDGE = {"schema": "raw", "identifier": "o", "column": "c", "ref_identifier": "p", "ref_column": "id"}


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ("order", "argument 'edges' must be a list"),
        ([{"schema": "raw", "identifier": "order"}], "needs a string 'column'"),
        (["order"], "each edge needs schema"),
        ([{**BAD_EDGE, "as_text": "yes"}], "'as_text' must be true or false"),
    ],
)
def test_contained_values_refuses_malformed_edges(
    warehouse: tuple[Path, str], edges: object, message: str
) -> None:
    project, _ = warehouse
    with pytest.raises(UsageError, match=message):
        DbtProject(project, profiles_dir=project).run_operation(
            "cartridge.contained_values", {"edges": edges}
        )


def test_generate_takes_the_role_edges_the_data_holds(warehouse: tuple[Path, str]) -> None:
    project, schema = warehouse
    report = generate(
        ProjectOptions(project_dir=project, profiles_dir=project, schemas=[schema], source_name="shop"),
        SilentProgress(),
    )
    assert report.build is not None and report.build.success, report.build
    staging = next(
        a.spec for a in report.plan.models() if isinstance(a.spec, StagingSpec) and a.spec.table == "order"
    )
    assert isinstance(staging, StagingSpec)
    tested = {c.source_column: [t.to for t in c.tests if t.name == "relationships"] for c in staging.columns}
    assert tested["billing_customer_id"] == ["stg_shop__customer"]  # 3 of 3 values are customers
    assert tested["shipping_customer_id"] == []  # 1 of 2: not this key
    assert tested["parent_id"] == ["stg_shop__order"]  # a self reference, tested in staging
    tags = next(
        a.spec
        for a in report.plan.models()
        if isinstance(a.spec, StagingSpec) and a.spec.table == "order_tag"
    )
    assert isinstance(tags, StagingSpec)
    assert tags.grain == ["order_id", "tag"] and tags.deduplicate is not None  # one copy kept, key tested

    # Text columns named after an integer-keyed table: narrowed only when every value converts.
    unconvertible = _staged_column(report.plan, "invoice_line", "tax_rate_id")  # 'tax_rate_NY'
    assert unconvertible.cast_to is None
    assert [t.name for t in unconvertible.tests if t.name == "relationships"] == []
    converting = _staged_column(report.plan, "credit_note", "tax_rate_id")  # '1', '2' and a null
    assert (converting.cast_to or "").lower() == "integer"
    assert [t.to for t in converting.tests if t.name == "relationships"] == ["stg_shop__tax_rate"]

    # A name-made key the data refutes: joined and tested, at warn from the start, so no repair relaxes it.
    [refuted] = [
        t for t in _staged_column(report.plan, "refund", "order_id").tests if t.name == "relationships"
    ]
    assert (refuted.to, refuted.severity) == ("stg_shop__order", "warn")
    assert (refuted.note or "").startswith(
        "2 of 3 distinct values of order_id are not keys of stg_shop__order"
    )
    assert not [r for r in report.relaxed_tests if "refund" in r], report.relaxed_tests
    warned = [n for n in report.build.nodes if n.name.startswith("relationships_stg_shop__refund_order_id")]
    assert [n.status for n in warned] == ["warn"]


def _staged_column(plan: ExecutionPlan, table: str, raw_column: str) -> ColumnSpec:
    spec = next(a.spec for a in plan.models() if isinstance(a.spec, StagingSpec) and a.spec.table == table)
    assert isinstance(spec, StagingSpec)
    return next(c for c in spec.columns if c.source_column == raw_column)
