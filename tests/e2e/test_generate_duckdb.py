"""`generate` end to end on DuckDB: the portable gather path, the rules planner and dbt build."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import yaml
from support import duckdb_output, write_project

from cartridge_bridge.api import ApplyReport, ProjectOptions, generate
from cartridge_bridge.gather.dbt_runner import DbtProject
from cartridge_bridge.progress import SilentProgress


def _generate(tmp_path: Path, database: Path, name: str, build: bool = True) -> tuple[Path, ApplyReport]:
    """A new project `name` over the DuckDB file, generated from schema raw_<name>; its build (if any) must pass."""
    project = write_project(tmp_path / name, name, duckdb_output(database, "analytics"))
    DbtProject(project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=[f"raw_{name}"], build=build)
    report = generate(options, SilentProgress())
    assert report.build is None if not build else report.build is not None and report.build.success
    return project, report


def test_generate_on_duckdb_builds_every_layer(tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_crm")
        connection.execute(
            'create table raw_crm.accounts (id integer, "accountName" varchar, created_at timestamp)'
        )
        connection.execute("create table raw_crm.contacts (id integer, account_id integer, email varchar)")
        connection.execute(
            "create table raw_crm.deals (id integer, contact_id integer, amount decimal(12,2))"
        )
        connection.execute(
            "insert into raw_crm.accounts values (1, 'Acme', '2025-01-01'), (2, 'Globex', null)"
        )
        connection.execute(
            "insert into raw_crm.contacts values (1, 1, 'a@acme.test'), (2, 2, 'b@globex.test')"
        )
        connection.execute("insert into raw_crm.deals values (1, 1, 100.00), (2, 1, 50.50), (3, 2, 7.00)")
    project, report = _generate(tmp_path, database, "crm")
    names = [a.name for a in report.plan.models()]
    assert names == [
        "stg_crm__accounts",
        "stg_crm__contacts",
        "stg_crm__deals",
        "int_contacts_aggregated_to_accounts",
        "int_deals_aggregated_to_contacts",
        "dim_contacts",  # deals have no time of their own: measures of contacts, not a fact
        "int_deals_aggregated_to_accounts",  # the contacts' deals rolled up to their account
        "dim_accounts",
        "metricflow_time_spine",  # a new project gets the semantic layer, and MetricFlow's time spine
    ]
    assert report.build.count("model", "success") == 9
    assert report.build.failed == []
    staging = (project / "models/staging/crm/stg_crm__accounts.sql").read_text()
    assert '"accountName" as account_name' in staging  # renamed, not cast to the type it has
    with duckdb.connect(str(database)) as connection:  # dbt-duckdb keeps its own connection open
        rows = connection.execute(
            "select contact_id, number_of_deals, total_deal_amount from analytics.dim_contacts order by 1"
        ).fetchall()
        rolled = connection.execute(
            "select account_id, number_of_deals, total_deal_amount from analytics.dim_accounts order by 1"
        ).fetchall()
    assert [(r[0], r[1], float(r[2])) for r in rows] == [(1, 2, 150.5), (2, 1, 7.0)]
    assert [(r[0], r[1], float(r[2])) for r in rolled] == [(1, 2, 150.5), (2, 1, 7.0)]  # one contact each
    # The proof's parse writes no manifest.json when a build follows: the build's own is there, and complete.
    manifest = json.loads((project / "target/manifest.json").read_text(encoding="utf-8"))
    assert set(names) <= {node["name"] for node in manifest["nodes"].values()}


def test_a_proof_without_a_build_leaves_the_parsed_manifest(tmp_path: Path) -> None:
    """With the build off, the parse is the proof's last word: its manifest.json is written, new models in it."""
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_crm")
        connection.execute("create table raw_crm.accounts (id integer, name varchar)")
        connection.execute("insert into raw_crm.accounts values (1, 'Acme')")
    project, _ = _generate(tmp_path, database, "crm", build=False)
    manifest = json.loads((project / "target/manifest.json").read_text(encoding="utf-8"))
    assert "stg_crm__accounts" in {node["name"] for node in manifest["nodes"].values()}


EXISTING_MODELS = {
    "models/staging/stg_customers.sql": "select id as customer_id, name from raw_crm.customers\n",
    "models/marts/dim_customers.sql": "select customer_id, name from {{ ref('stg_customers') }}\n",
    "models/marts/unbuilt_orders.sql": "select 1 as order_id\n",
    "models/schema.yml": (
        "models:\n"
        "  - name: stg_customers\n    columns:\n      - name: customer_id\n        data_tests: [unique, not_null]\n"
        "  - name: dim_customers\n    columns:\n      - name: customer_id\n        data_tests: [unique, not_null]\n"
        "  - name: unbuilt_orders\n    columns:\n      - name: order_id\n        data_tests: [unique, not_null]\n"
    ),
}


def test_new_tables_are_joined_and_tested_against_existing_built_models(tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_crm")
        connection.execute("create table raw_crm.customers (id integer, name varchar)")
        connection.execute("insert into raw_crm.customers values (1, 'Ann'), (2, 'Bo')")
        connection.execute("create schema raw_billing")
        connection.execute(
            "create table raw_billing.invoices (id integer, customer_id integer, order_id integer)"
        )
        connection.execute("insert into raw_billing.invoices values (10, 1, 5), (11, 2, 6)")
    output = duckdb_output(database, "analytics") | {"keep_open": False}
    project = write_project(tmp_path / "crm", "crm", output, models=EXISTING_MODELS)
    dbt = DbtProject(project, project)
    dbt.deps()
    built = dbt.build(select=["stg_customers", "dim_customers"])  # unbuilt_orders stays unbuilt
    assert built.success, built.errors
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_billing"])
    report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    assert sorted(a.name for a in report.plan.models()) == [
        "dim_customers_with_invoices",  # new measures at the existing mart's grain, in a new model
        "fct_invoices",
        "int_invoices_aggregated_to_customers",
        "stg_billing__invoices",
    ]
    staging = (project / "models/staging/billing/_billing__models.yml").read_text()
    assert "to: ref('stg_customers')" in staging  # the foreign key is tested once, in staging
    assert "unbuilt_orders" not in staging  # never test against a model the warehouse does not hold
    marts = (project / "models/marts/_marts__models.yml").read_text()
    assert "relationships" not in marts
    fact_sql = (project / "models/marts/fct_invoices.sql").read_text()
    assert "ref('dim_customers')" in fact_sql  # the new fact joins the existing model owning its key
    assert (project / "models/marts/dim_customers.sql").read_text() == EXISTING_MODELS[
        "models/marts/dim_customers.sql"
    ]
    with duckdb.connect(str(database)) as connection:
        joined = connection.execute(
            "select invoice_id, customer_name from analytics.fct_invoices order by 1"
        ).fetchall()
        extended = connection.execute(
            "select * from analytics.dim_customers_with_invoices order by 1"
        ).fetchall()
    assert joined == [(10, "Ann"), (11, "Bo")]
    assert extended == [(1, 1), (2, 1)]  # the key and the new measure: no copy of the mart's `name`
    # this project documents no columns, so the description lives in the plan only
    fact = next(a for a in report.plan.actions if a.name == "fct_invoices")
    key = next(c for c in fact.spec.columns if c.name == "customer_id")  # type: ignore[union-attr]
    assert key.description == "Foreign key to the customer (`dim_customers`) this invoice belongs to."


def test_warehouse_text_with_jinja_and_sql_is_data_not_code(tmp_path: Path) -> None:
    """Names and comments that look like Jinja or SQL build as plain names and descriptions."""
    database = tmp_path / "warehouse.duckdb"
    hostile_column = "{{ run_query('drop schema raw_evil cascade') }}"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_evil")
        connection.execute(
            f'create table raw_evil.accounts (id integer primary key, "{hostile_column}" varchar,'
            ' "x""; drop table raw_evil.accounts; --" integer, "line\nbreak" varchar)'
        )
        connection.execute(
            "comment on table raw_evil.accounts is '{% do run_query(''drop schema raw_evil cascade'') %}'"
        )
        connection.execute("comment on column raw_evil.accounts.id is '{# hidden #} the key }}'")
        connection.execute("insert into raw_evil.accounts values (1, 'a', 2, 'b'), (2, 'c', 3, 'd')")
    project, _ = _generate(tmp_path, database, "evil")
    with duckdb.connect(str(database)) as connection:
        assert connection.execute("select count(*) from raw_evil.accounts").fetchone() == (2,)
        columns = [r[0] for r in connection.execute("describe analytics.stg_evil__accounts").fetchall()]
    assert columns[0] == "account_id" and len(columns) == 4
    assert all(c.replace("_", "").isalnum() for c in columns), columns
    sources = yaml.safe_load((project / "models/staging/evil/_evil__sources.yml").read_text())
    table = sources["sources"][0]["tables"][0]
    assert table["description"].startswith("{{ '{% do run_query")  # the table comment, as a literal of itself


def test_a_composite_key_is_built_and_tested_as_one_grain(tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_lines")
        connection.execute("create table raw_lines.orders (id integer primary key, placed_at timestamp)")
        connection.execute(
            "create table raw_lines.order_lines (order_id integer, line_number integer, quantity integer,"
            " primary key (order_id, line_number))"
        )
        connection.execute("insert into raw_lines.orders values (1, '2025-01-01'), (2, '2025-01-02')")
        connection.execute("insert into raw_lines.order_lines values (1, 1, 3), (1, 2, 1), (2, 1, 5)")
    project, report = _generate(tmp_path, database, "lines")
    lines = next(a for a in report.plan.actions if a.name == "stg_lines__order_lines")
    assert [t.columns for t in lines.tests] == [["order_id", "line_number"]]
    combination = [n for n in report.build.nodes if "unique_combination_of_columns" in n.name]  # type: ignore[union-attr]
    # order lines of one order are no mart of their own: the grain is tested once, in staging
    assert len(combination) == 1 and all(n.status == "pass" for n in combination), combination
    properties = (project / "models/staging/lines/_lines__models.yml").read_text()
    assert "cartridge.unique_combination_of_columns:" in properties


def test_a_history_row_whose_latest_version_is_deleted_stays_out_of_staging(tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_hist")
        connection.execute(
            "create table raw_hist.orders"
            " (id integer, status varchar, updated_at timestamp, _fivetran_deleted boolean)"
        )
        connection.execute(
            "insert into raw_hist.orders values"
            " (1, 'open', '2025-01-01', false), (1, 'closed', '2025-01-02', true),"
            " (2, 'open', '2025-01-01', false), (2, 'paid', '2025-01-03', null),"
            " (3, 'open', '2025-01-01', true), (3, 'reopened', '2025-01-04', false)"
        )
    _, report = _generate(tmp_path, database, "hist")
    spec = next(a.spec for a in report.plan.models() if a.name == "stg_hist__orders")
    assert spec.deduplicate is not None and spec.filter is not None  # a history table with soft deletes
    with duckdb.connect(str(database)) as connection:
        rows = connection.execute("select * from analytics.stg_hist__orders order by 1").fetchall()
        names = [d[0] for d in connection.description]
    # Order 1's latest version is deleted: it must not come back as its older, undeleted version.
    assert [(r[0], r[1]) for r in rows] == [(2, "paid"), (3, "reopened")]
    assert "_fivetran_deleted" not in names and "cartridge_kept" not in names


def test_a_line_with_a_quantity_and_a_unit_price_is_worth_their_product(tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_till")
        connection.execute("create table raw_till.baskets (id integer, rung_at timestamp)")
        connection.execute("create table raw_till.goods (id integer, label varchar)")
        connection.execute(
            "create table raw_till.basket_lines (id integer, basket_id integer, good_id integer, "
            "quantity integer, unit_price decimal(10,2))"
        )
        connection.execute(
            "insert into raw_till.baskets values (1, '2025-03-01 10:00'), (2, '2025-03-02 11:00')"
        )
        connection.execute("insert into raw_till.goods values (1, 'tea'), (2, 'cup')")
        connection.execute(
            "insert into raw_till.basket_lines values (1, 1, 1, 3, 2.50), (2, 1, 2, 1, 9.99), (3, 2, 1, 2, null)"
        )
    _, report = _generate(tmp_path, database, "till")
    assert "fct_basket_lines" in [a.name for a in report.plan.models()]
    with duckdb.connect(str(database)) as connection:
        rows = connection.execute(
            "select basket_line_id, extended_price from analytics.fct_basket_lines order by 1"
        ).fetchall()
    # 3 x 2.50 and 1 x 9.99 by hand; a line without a price is worth nothing known.
    assert [(r[0], None if r[1] is None else float(r[1])) for r in rows] == [(1, 7.5), (2, 9.99), (3, None)]


def test_a_bill_with_an_amount_and_the_part_paid_says_what_is_left_to_pay(tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_dues")
        connection.execute("create table raw_dues.accounts (id integer, name varchar)")
        connection.execute(
            "create table raw_dues.bills (id integer, account_id integer, issued_at timestamp, "
            "amount decimal(10,2), amount_paid decimal(10,2))"
        )
        connection.execute("insert into raw_dues.accounts values (1, 'Acme'), (2, 'Globex')")
        connection.execute(
            "insert into raw_dues.bills values (1, 1, '2025-03-01', 120.00, 100.00), "
            "(2, 1, '2025-03-05', 80.00, 80.00), (3, 2, '2025-03-09', 45.50, 0)"
        )
    _generate(tmp_path, database, "dues")
    with duckdb.connect(str(database)) as connection:
        rows = connection.execute(
            "select bill_id, unpaid_amount from analytics.fct_bills order by 1"
        ).fetchall()
    assert [(r[0], float(r[1])) for r in rows] == [(1, 20.0), (2, 0.0), (3, 45.5)]  # by hand


def test_a_version_history_becomes_a_type_2_dimension_beside_its_current_state(
    tmp_path: Path,
) -> None:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_subs")
        connection.execute("create table raw_subs.accounts (id integer, plan varchar, updated_at timestamp)")
        connection.execute(
            "insert into raw_subs.accounts values"
            " (1, 'free', '2025-01-01'), (1, 'pro', '2025-02-01'), (1, 'team', '2025-03-01'),"
            " (2, 'pro', '2025-01-15'), (3, 'free', '2025-01-20'), (3, 'pro', '2025-04-01')"
        )
    _, report = _generate(tmp_path, database, "subs")
    marts = {a.name: a for a in report.plan.models() if a.type == "create_mart"}
    [history] = [name for name in marts if name.endswith("_history")]
    assert marts[history].spec.grain == ["account_id", "valid_from"]  # type: ignore[union-attr]
    with duckdb.connect(str(database)) as connection:
        versions = connection.execute(
            f"select account_id, plan, valid_from, valid_to, is_current from analytics.{history} order by 1, 3"
        ).fetchall()
        as_of = connection.execute(  # the state on 2025-02-15, by the dimension's own validity
            f"select account_id, plan from analytics.{history} where valid_from <= '2025-02-15'"
            " and (valid_to is null or '2025-02-15' < valid_to) order by 1"
        ).fetchall()
    by_hand = [(1, "free", "2025-01-01", "2025-02-01", False), (1, "pro", "2025-02-01", "2025-03-01", False),
               (1, "team", "2025-03-01", None, True), (2, "pro", "2025-01-15", None, True),
               (3, "free", "2025-01-20", "2025-04-01", False), (3, "pro", "2025-04-01", None, True)]  # fmt: skip
    assert [(a, p, str(f.date()), t and str(t.date()), c) for a, p, f, t, c in versions] == by_hand
    assert as_of == [(1, "pro"), (2, "pro"), (3, "free")]
    # What the other marts read is the current state: one row each, its latest plan.
    [current_state] = [a.name for a in report.plan.models() if a.name.endswith("_current")]
    with duckdb.connect(str(database)) as connection:
        current = connection.execute(
            f"select account_id, plan from analytics.{current_state} order by 1"
        ).fetchall()
    assert current == [(1, "team"), (2, "pro"), (3, "pro")]
