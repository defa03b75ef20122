"""The generated semantic layer, proved: `dbt parse` accepts it and MetricFlow's numbers are SQL's over the marts.

One generated project per warehouse (the demo shop at a fifth of its size), shared by the module's tests:
`mf query` by month and by a dimension (one of another semantic model, joined on its entity), checked
against plain SQL over the mart.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from support import duckdb_output, load_demo_shop, postgres_output, write_project

from cartridge_bridge.api import ApplyReport, ProjectOptions, generate
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.demo.load_raw import create_statements
from cartridge_bridge.demo.local_postgres import LocalPostgres
from cartridge_bridge.demo.shop_data import shop_tables
from cartridge_bridge.progress import SilentProgress

MF = Path(sys.executable).parent / "mf"
Table = dict[str, tuple[Decimal, ...]]


@dataclass
class Generated:
    """A generated project, its report, and how to run SQL over its marts."""

    project: Path
    report: ApplyReport
    sql: Callable[[str], list[tuple[object, ...]]]
    schema: str


def _generate(project: Path) -> ApplyReport:
    DbtProject(project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw"], source_name="shop")
    report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    return report


@pytest.fixture(scope="module")
def on_duckdb(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    directory = tmp_path_factory.mktemp("semantic_duckdb")
    database = directory / "warehouse.duckdb"
    tables = shop_tables(scale=0.2)
    with duckdb.connect(str(database)) as connection:
        for statement in create_statements("raw", tables):
            connection.execute(statement.replace(" cascade", ""))  # DuckDB drops without cascading
        for table in tables:
            marks = ", ".join("?" for _ in table.columns)
            names = ", ".join(f'"{c.name}"' for c in table.columns)  # the loader's `_loaded_at`: its default
            connection.executemany(
                f'insert into raw."{table.name}" ({names}) values ({marks})', [list(r) for r in table.rows]
            )
    output = duckdb_output(database, "analytics") | {"keep_open": False}
    project = write_project(directory / "shop", "shop", output)
    report = _generate(project)

    def sql(query: str) -> list[tuple[object, ...]]:
        with duckdb.connect(str(database), read_only=True) as connection:
            return connection.execute(query).fetchall()

    return Generated(project, report, sql, "analytics")


@pytest.fixture(scope="module")
def on_postgres(tmp_path_factory: pytest.TempPathFactory, pg_server: LocalPostgres) -> Iterator[Generated]:
    import psycopg2

    load_demo_shop(pg_server, "raw")
    directory = tmp_path_factory.mktemp("semantic_postgres")
    project = write_project(directory / "shop", "shop", postgres_output(pg_server, "semantic_analytics"))
    report = _generate(project)
    connection = psycopg2.connect(pg_server.dsn)

    def sql(query: str) -> list[tuple[object, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(query)
            return list(cursor.fetchall())

    yield Generated(project, report, sql, "semantic_analytics")
    connection.close()


@pytest.fixture(params=["duckdb", "postgres"])
def generated(request: pytest.FixtureRequest) -> Generated:
    fixture = "on_duckdb" if request.param == "duckdb" else "on_postgres"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def _mf(generated: Generated, metrics: list[str], group_by: list[str]) -> list[dict[str, str]]:
    """`mf query` in the project, as CSV rows."""
    out = generated.project / "target" / f"mf_{'_'.join(metrics)}_{'_'.join(group_by)}.csv"
    result = subprocess.run(
        [
            str(MF),
            "query",
            "--metrics",
            ",".join(metrics),
            "--group-by",
            ",".join(group_by),
            "--csv",
            str(out),
        ],
        cwd=generated.project,
        env=os.environ | {"DBT_PROFILES_DIR": str(generated.project)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0 and out.is_file(), result.stdout + result.stderr
    with out.open() as file:
        return list(csv.DictReader(file))


def _key(value: object) -> str:
    """A group's value as both sides print it: a month as its date (`2024-03-01T00:00:00` or a datetime)."""
    text = "" if value is None else str(value)
    return text[:10] if re.fullmatch(r"\d{4}-\d\d-\d\d[T ].*", text) else text


def _mf_and_sql(generated: Generated, metrics: list[str], group_by: str, query: str) -> tuple[Table, Table]:
    """MetricFlow's rows and the SQL's (the group, then the metrics in order), keyed by group, numbers rounded."""
    rows = _mf(generated, metrics, [group_by])
    got = {_key(r[group_by]): tuple(_number(r[m]) for m in metrics) for r in rows}
    expected = {_key(row[0]): tuple(_number(v) for v in row[1:]) for row in generated.sql(query)}
    return got, expected


def _number(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def test_dbt_parse_wrote_the_semantic_manifest(generated: Generated) -> None:
    manifest = json.loads((generated.project / "target" / "semantic_manifest.json").read_text())
    models = {m["name"] for m in manifest["semantic_models"]}
    metrics = {m["name"] for m in manifest["metrics"]}
    assert {"fct_orders", "fct_payments", "dim_customers"} <= models
    assert {"order_count", "total_order_shipping_cost", "total_payment_amount", "customer_count"} <= metrics
    planned = [a.semantic_model for a in generated.report.plan.actions if a.semantic_model is not None]
    assert metrics == {m.name for s in planned for m in s.metrics}
    assert (
        manifest["project_configuration"]["time_spines"][0]["node_relation"]["alias"]
        == "metricflow_time_spine"
    )


QUERIES = {
    # Orders by the month they were placed: fct_orders's agg_time_dimension is `ordered_at`.
    "by_month": (
        ["order_count", "total_order_shipping_cost"],
        "metric_time__month",
        "select date_trunc('month', ordered_at), count(order_id), sum(shipping_cost) from {s}.fct_orders group by 1",
    ),
    # Payments by their order's status: MetricFlow joins fct_payments to fct_orders on the `order` entity.
    "by_joined_dimension": (
        ["payment_count", "total_payment_amount"],
        "order__status",
        "select o.status, count(p.payment_id), sum(p.amount) from {s}.fct_payments p "
        "left join {s}.fct_orders o on p.order_id = o.order_id group by 1",
    ),
}


@pytest.mark.parametrize("query", QUERIES)
def test_metricflow_numbers_are_sql_over_the_marts(generated: Generated, query: str) -> None:
    metrics, group_by, sql = QUERIES[query]
    got, expected = _mf_and_sql(generated, metrics, group_by, sql.format(s=generated.schema))
    assert len(got) > 1 and got == expected
