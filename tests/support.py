"""Helpers the tests share: SQL against the session's PostgreSQL, DuckDB warehouses and small dbt projects on disk."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path

from cartridge_bridge.demo.local_postgres import LocalPostgres
from cartridge_bridge.gather.facts import (
    ColumnProfile,
    ContainedValues,
    ProfileSettings,
    RawColumn,
    RawRelation,
    RelationProfile,
    WarehouseFacts,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_sql(server: LocalPostgres, *statements: str) -> None:
    """Execute statements in one committed transaction."""
    import psycopg2

    connection = psycopg2.connect(server.dsn)
    try:
        with connection, connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


def load_demo_shop(server: LocalPostgres, schema: str, scale: float = 0.2) -> None:
    """The demo's raw shop, at `scale` of its size, in `schema` of the session's PostgreSQL."""
    import psycopg2

    from cartridge_bridge.demo.load_raw import load_shop
    from cartridge_bridge.demo.shop_data import shop_tables

    connection = psycopg2.connect(server.dsn)
    try:
        load_shop(connection, schema, shop_tables(scale=scale))
    finally:
        connection.close()


def write_project(
    directory: Path,
    name: str,
    profile_output: dict[str, object],
    models: dict[str, str] | None = None,
    extra_project_yaml: str = "",
) -> Path:
    """A small dbt project with its own profiles.yml and the cartridge package installed from this checkout."""
    import yaml  # PyYAML comes with dbt

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dbt_project.yml").write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            version: "1.0.0"
            config-version: 2
            profile: {name}
            model-paths: ["models"]
            """
        )
        + extra_project_yaml,
        encoding="utf-8",
    )
    profile = {name: {"target": "dev", "outputs": {"dev": profile_output}}}
    (directory / "profiles.yml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    (directory / "packages.yml").write_text(
        yaml.safe_dump({"packages": [{"local": str(REPO_ROOT)}]}), encoding="utf-8"
    )
    for relative, text in (models or {}).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return directory


def postgres_output(server: LocalPostgres, schema: str) -> dict[str, object]:
    """A dbt-postgres profile output for the session's server."""
    return {
        "type": "postgres",
        "host": str(server.socket_dir),
        "port": server.port,
        "user": "postgres",
        "password": "",
        "dbname": "postgres",
        "schema": schema,
        "threads": 4,
    }


def duckdb_output(database: Path, schema: str = "main") -> dict[str, object]:
    """A dbt-duckdb profile output for a database file."""
    return {"type": "duckdb", "path": str(database), "schema": schema, "threads": 1}


def snapshot_tree(directory: Path) -> dict[str, bytes]:
    """Every file under a project (except dbt's and cartridge's own working folders), byte for byte."""
    skipped = {"target", "logs", "dbt_packages", ".cartridge"}
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not (set(path.relative_to(directory).parts) & skipped)
    }


UNIT_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "unit"


def shop_project(directory: Path, extra: str = "") -> Path:
    """A bare dbt project named `shop` (only its dbt_project.yml), as the unit fixtures expect."""
    (directory / "dbt_project.yml").write_text(f"name: shop\nconfig-version: 2\n{extra}", encoding="utf-8")
    return directory


def profiled_facts(*relations: RawRelation) -> WarehouseFacts:
    """A profiled gather document of schema `raw` on PostgreSQL holding these relations."""
    return WarehouseFacts(
        cartridge_gather_version=1,
        adapter_type="postgres",
        schemas=["raw"],
        profile=ProfileSettings(top_values_limit=0),
        relations=list(relations),
    )


def spark_settings(home: Path) -> dict[str, str]:
    """Spark settings for a local session whose warehouse, metastore and Derby log all live under `home`.

    Only the first session of a process applies them (the JVM starts once): every Spark test shares `home`.
    """
    return {
        "spark.sql.warehouse.dir": str(home / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={home}",
        "spark.driver.memory": "1g",
        "spark.sql.shuffle.partitions": "1",  # 200 by default: seconds of empty tasks on tiny tables
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }


def spark_output(home: Path, schema: str) -> dict[str, object]:
    """A dbt-spark profile output for a local Spark session (the `session` method: Spark inside dbt's process)."""
    return {
        "type": "spark",
        "method": "session",
        "host": "NA",
        "schema": schema,
        "threads": 1,
        "server_side_parameters": spark_settings(home),
    }


def data_tests_in_run_results(project: Path) -> tuple[int, int]:
    """The data tests in the project's last run_results.json that ran: on a column, and on a whole model.

    Read from dbt's own artifacts (the kind from the manifest's `column_name`), not from cartridge's report.
    """
    target = project / "target"
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    nodes = json.loads((target / "manifest.json").read_text(encoding="utf-8"))["nodes"]
    ran = [r["unique_id"] for r in results if r["unique_id"].startswith("test.") and r["status"] != "skipped"]
    on_columns = sum(1 for unique_id in ran if nodes[unique_id].get("column_name"))
    return on_columns, len(ran) - on_columns


def relation_of_types(
    identifier: str,
    columns: dict[str, str],
    contained: dict[tuple[str, str, str], tuple[int, int]] | None = None,
    profiled: bool = True,
    **fields: object,
) -> RawRelation:
    """A relation `raw.<identifier>` of {column: type}, profiled on 10 rows unless `profiled` is False (no nulls,
    distinct counts unknown); `contained` maps (column, parent, key) to (distinct, contained): its foreign keys'
    counts as `cartridge.contained_values` gives them."""
    return RawRelation.model_validate(
        {
            "schema": "raw",
            "identifier": identifier,
            "columns": [
                RawColumn(
                    name=name,
                    data_type=data_type,
                    position=i,
                    profile=ColumnProfile(null_count=0, distinct_count=None) if profiled else None,
                )
                for i, (name, data_type) in enumerate(columns.items(), 1)
            ],
            "profile": RelationProfile(
                row_count=10,
                contained_values=[
                    ContainedValues(
                        column=c, ref_identifier=p, ref_column=k, distinct_count=d, contained_count=n
                    )
                    for (c, p, k), (d, n) in (contained or {}).items()
                ],
            )
            if profiled
            else None,
            **fields,
        }
    )


Sql = Callable[[str], list[tuple[object, ...]]]


def duckdb_database(path: Path, raw_sql: Iterable[str]) -> Path:
    """A DuckDB file at `path` holding what `raw_sql` creates, closed again so that dbt can open it."""
    import duckdb

    with duckdb.connect(str(path)) as connection:
        for statement in raw_sql:
            connection.execute(statement)
    return path


def duckdb_execute(database: Path) -> Callable[..., None]:
    """Statements run on a DuckDB file, in one connection closed after them (dbt opens the file next)."""

    def execute(*statements: str) -> None:
        duckdb_database(database, statements)

    return execute


def duckdb_query(database: Path, read_only: bool = True) -> Sql:
    """A query on a DuckDB file. Read-write where dbt-duckdb keeps its own connection open in this process
    (`keep_open`): DuckDB refuses a second connection to one file configured otherwise."""
    import duckdb

    def sql(query: str) -> list[tuple[object, ...]]:
        with duckdb.connect(str(database), read_only=read_only) as connection:
            return connection.execute(query).fetchall()

    return sql


def postgres_query(dsn: str) -> Sql:
    """A query on a PostgreSQL database, in a connection of its own."""
    import psycopg2

    def sql(query: str) -> list[tuple[object, ...]]:
        with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
            cursor.execute(query)
            rows = list(cursor.fetchall())
        connection.close()  # psycopg2's `with` ends the transaction, not the connection
        return rows

    return sql


def duckdb_project(
    home: Path, name: str, raw_sql: Iterable[str], models: dict[str, str] | None = None
) -> tuple[Path, Path]:
    """A dbt project `name` under `home` on a DuckDB file holding `raw_sql`, building into `analytics`, with the
    cartridge package installed: the project and the database."""
    from cartridge_bridge.dbt.runner import DbtProject

    database = duckdb_database(home / "warehouse.duckdb", raw_sql)
    output = duckdb_output(database, "analytics") | {"keep_open": False}
    project = write_project(home / name, name, output, models=models)
    DbtProject(project).deps()
    return project, database


def duckdb_warehouse(tmp_path: Path, raw_sql: tuple[str, ...]) -> tuple[dict[str, object], Sql]:
    """A DuckDB file holding `raw_sql`, as a dbt output building into `analytics`, and a read-only query."""
    database = duckdb_database(tmp_path / "warehouse.duckdb", raw_sql)
    return duckdb_output(database, "analytics") | {"keep_open": False}, duckdb_query(database)


def postgres_warehouse(
    server: LocalPostgres, database: str, raw_sql: tuple[str, ...]
) -> tuple[dict[str, object], Sql]:
    """A database of its own on the session's server holding `raw_sql` (fixed schema names), and a query."""
    import psycopg2

    admin = psycopg2.connect(server.dsn)
    admin.autocommit = True  # create database runs outside a transaction
    with admin.cursor() as cursor:
        cursor.execute(f"drop database if exists {database}")
        cursor.execute(f"create database {database}")
    admin.close()
    dsn = server.dsn.replace("/postgres?", f"/{database}?")
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        for statement in raw_sql:
            cursor.execute(statement)
    return postgres_output(server, "analytics") | {"dbname": database}, postgres_query(dsn)


# The classic jaffle_shop's `orders` mart written as one plain select (no Jinja loop), so `--modify-existing` can
# wrap it; it ends in a comment without a final newline, which the wrapping must not let swallow its `)`.
PLAIN_ORDERS_SQL = """{{ config(materialized='table') }}

with orders as (

    select * from {{ ref('stg_orders') }}

),

payments as (

    select * from {{ ref('stg_payments') }}

),

order_payments as (

    select
        order_id,
        sum(case when payment_method = 'credit_card' then amount else 0 end) as credit_card_amount,
        sum(case when payment_method = 'coupon' then amount else 0 end) as coupon_amount,
        sum(case when payment_method = 'bank_transfer' then amount else 0 end) as bank_transfer_amount,
        sum(case when payment_method = 'gift_card' then amount else 0 end) as gift_card_amount,
        sum(amount) as total_amount
    from payments
    group by order_id

),

final as (

    select
        orders.order_id,
        orders.customer_id,
        orders.order_date,
        orders.status,
        order_payments.credit_card_amount,
        order_payments.coupon_amount,
        order_payments.bank_transfer_amount,
        order_payments.gift_card_amount,
        order_payments.total_amount as amount
    from orders
    left join order_payments
        on orders.order_id = order_payments.order_id

)

select * from final
-- one row per order"""


def plain_orders_project(home: Path, output: dict[str, object]) -> Path:
    """A copy of the classic jaffle_shop fixture project building on `output`, with the cartridge package
    installed and its `orders` mart as PLAIN_ORDERS_SQL (written byte for byte)."""
    import shutil

    import yaml  # PyYAML comes with dbt

    from cartridge_bridge.dbt.runner import DbtProject

    project = home / "jaffle_classic"
    fixture = REPO_ROOT / "tests" / "fixtures" / "projects" / "jaffle_classic"
    shutil.copytree(fixture, project, ignore=shutil.ignore_patterns("manifest.json", "expected_*.json"))
    profile = {"fixtures": {"target": "dev", "outputs": {"dev": output}}}
    (project / "profiles.yml").write_text(yaml.safe_dump(profile))
    (project / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(REPO_ROOT)}]}))
    (project / "models" / "orders.sql").write_bytes(PLAIN_ORDERS_SQL.encode("utf-8"))
    DbtProject(project).deps()
    return project
