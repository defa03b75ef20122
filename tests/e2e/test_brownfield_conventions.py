"""Brownfield on DuckDB: new raw tables modeled in the classic-style fixture project's own conventions."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from rich.console import Console
from support import REPO_ROOT, duckdb_output, postgres_output, run_sql, snapshot_tree

from cartridge_bridge.api import ProjectOptions, generate, load_context
from cartridge_bridge.cli.views import show_context
from cartridge_bridge.context.project_context import ProjectContext
from cartridge_bridge.demo.local_postgres import LocalPostgres
from cartridge_bridge.gather.dbt_runner import DbtProject
from cartridge_bridge.planning.plan import StagingSpec
from cartridge_bridge.progress import SilentProgress

BIN = Path(sys.executable).parent
WIDE = {**os.environ, "COLUMNS": "200"}  # rich wraps tables to the terminal width
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "projects"
BILLING = (
    "create schema raw_billing",
    'create table raw_billing.invoices (id integer, customer_id integer, amount decimal(12,2), "issuedAt" timestamp)',
    "create table raw_billing.invoice_lines (id integer, invoice_id integer, qty integer)",
    "insert into raw_billing.invoices values (1, 7, 10.00, '2025-01-01'), (2, 7, 5.00, null)",
    "insert into raw_billing.invoice_lines values (1, 1, 2), (2, 1, 1), (3, 2, 4)",
)
# A review per order, left on the jaffle_shop seeds' orders by their customers.
REVIEWS = (
    "create table {s}.raw_reviews (id integer, order_id integer, customer_id integer, rating integer,"
    " created timestamp, body varchar)",
    "insert into {s}.raw_reviews values (1, 1, 1, 2, '2018-01-03 10:00', 'Sent back'),"
    " (2, 2, 3, 5, '2018-01-04 09:30', 'Lovely'), (3, 4, 1, 4, '2018-01-08 18:00', null),"
    " (4, 5, 2, 5, '2018-01-09 12:15', 'Quick')",
)
EXISTING_MODEL_REF = re.compile(r"\{\{\s*ref\('(?:stg_)?(?:orders|customers)'\)\s*\}\}")
SHIPPING = (
    "create schema raw_shipping",
    "create table raw_shipping.shipments (id integer, carrier varchar, shipped_at timestamp)",
    "create table raw_shipping.parcels (id integer, shipment_id integer, weight_kg decimal(8,3))",
    "insert into raw_shipping.shipments values (1, 'DHL', '2025-01-01'), (2, 'UPS', null)",
    "insert into raw_shipping.parcels values (1, 1, 1.5), (2, 1, 0.25), (3, 2, 3.0)",
)


def _fixture_project(
    tmp_path: Path,
    name: str,
    raw_sql: tuple[str, ...],
    packages: tuple[str, ...] = (),
    output: dict[str, object] | None = None,
) -> Path:
    """A copy of a fixture project on `output`, else a DuckDB file holding `raw_sql`, with cartridge installed."""
    project = tmp_path / name
    shutil.copytree(
        FIXTURES / name, project, ignore=shutil.ignore_patterns("manifest.json", "expected_*.json")
    )
    if output is None:
        database = tmp_path / "warehouse.duckdb"
        with duckdb.connect(str(database)) as connection:
            for statement in raw_sql:
                connection.execute(statement)
        output = duckdb_output(database, "analytics")
    profile = {"fixtures": {"target": "dev", "outputs": {"dev": output}}}
    (project / "profiles.yml").write_text(yaml.safe_dump(profile))
    listed = [{"local": local} for local in (*packages, str(REPO_ROOT))]
    (project / "packages.yml").write_text(yaml.safe_dump({"packages": listed}))
    DbtProject(project).deps()
    return project


def test_new_tables_follow_the_classic_projects_conventions(tmp_path: Path) -> None:
    project = _fixture_project(tmp_path, "classic_style", BILLING)
    staging_yaml_before = (project / "models/staging/schema.yml").read_text()
    options = ProjectOptions(
        project_dir=project, profiles_dir=project, schemas=["raw_billing"], source_name="billing"
    )
    _, context = load_context(options, SilentProgress())
    assert context.strategy == "brownfield"
    assert context.conventions.staging_model == "stg_{table}"
    assert context.conventions.sql_keyword_case == "upper"
    assert context.conventions.sql_import_ctes is False
    # the new invoices carry customer_id: the models that share it are in the relevant slice
    assert context.relevant is not None
    sliced = {entry.name for entry in context.relevant.entries}
    assert {"stg_customers", "customers"} <= sliced
    assert context.relevant.tokens_used <= context.relevant.budget

    report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    names = [a.name for a in report.plan.models()]
    assert names[:2] == ["stg_invoice_lines", "stg_invoices"]
    staging = (project / "models/staging/stg_invoices.sql").read_text()
    assert staging.startswith("SELECT\n")
    assert '"issuedAt" AS issued_at' in staging  # upper-case keywords; no cast to the type it has
    assert "FROM {{ source('billing', 'invoices') }}" in staging
    assert "with" not in staging.lower().split()  # no import CTEs in this project
    merged = (project / "models/staging/schema.yml").read_text()
    assert merged.startswith(staging_yaml_before)  # the user's entries stay byte for byte, new ones follow
    assert "- name: stg_invoices" in merged
    assert "relationships" not in merged  # this project does not write relationships tests
    assert (project / "models/staging/_billing__sources.yml").is_file()
    marts = (project / "models/marts/schema.yml").read_text()
    # invoices (dated, with lines) are the fact; their lines feed it and are no mart of their own
    assert "- name: fct_invoices" in marts and "- name: fct_invoice_lines" not in marts
    mart_sql = (project / "models/marts/fct_invoices.sql").read_text()
    assert (
        "LEFT JOIN {{ ref('int_invoice_lines_aggregated_to_invoices') }} AS invoice_lines_aggregated"
        in mart_sql
    )


def test_cartridge_context_shows_the_brownfield_picture(tmp_path: Path) -> None:
    project = _fixture_project(tmp_path, "classic_style", BILLING)
    command = [
        str(BIN / "cartridge"),
        "context",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
    ]
    command += ["--schema", "raw_billing", "--source-name", "billing"]
    shown = subprocess.run(command, capture_output=True, text=True, env=WIDE, check=False, timeout=300)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "Project classic_style (duckdb), brownfield: 6 models" in out
    assert "invoice_lines" in out and "invoices" in out and "new" in out
    assert "Conventions (from 6 models)" in out
    assert "staging_model" in out and "stg_{table}" in out and "3/3" in out
    assert "Relevant existing models" in out and "key customer_id" in out
    as_json = subprocess.run([*command, "--json"], capture_output=True, text=True, check=False, timeout=300)
    document = json.loads(as_json.stdout)
    assert document["strategy"] == "brownfield"
    assert document["conventions"]["sql_keyword_case"] == "upper"
    assert document["convention_findings"]["staging_model"]["evidence"]["agree"] == 3
    assert {e["name"] for e in document["relevant"]["entries"]} >= {"stg_customers", "customers"}
    assert [r["identifier"] for s in document["raw_schemas"] for r in s["relations"]] == [
        "invoice_lines",
        "invoices",
    ]


def test_new_tables_follow_the_dbt_labs_style_project(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "vendor_package", tmp_path / "vendor_package")
    project = _fixture_project(tmp_path, "dbt_labs_style", SHIPPING, packages=("../vendor_package",))
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_shipping"])
    report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    assert report.plan.render.sql_leading_commas is True
    staging = (project / "models/staging/shipping/stg_shipping__parcels.sql").read_text()
    assert (
        "        id as parcel_id\n        , shipment_id\n"  # leading commas; no cast to the type it has
        in staging
    )
    intermediate = (project / "models/intermediate/int_parcels_aggregated_to_shipments.sql").read_text()
    assert "config(" not in intermediate  # dbt_project.yml makes intermediate models ephemeral
    assert (project / "models/staging/shipping/_shipping__sources.yml").is_file()
    assert (project / "models/staging/shipping/_shipping__models.yml").is_file()


def test_a_new_raw_table_fits_the_classic_jaffle_shop(tmp_path: Path) -> None:
    project = _jaffle_shop(tmp_path)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        for statement in REVIEWS:
            connection.execute(statement.format(s="analytics"))
    _assert_reviews_fit_in(project, "analytics")


@pytest.mark.postgres
def test_a_new_raw_table_fits_the_classic_jaffle_shop_on_postgres(
    tmp_path: Path, pg_server: LocalPostgres
) -> None:
    project = _jaffle_shop(tmp_path, postgres_output(pg_server, "jaffle"))
    run_sql(pg_server, *(statement.format(s="jaffle") for statement in REVIEWS))
    _assert_reviews_fit_in(project, "jaffle")


def _jaffle_shop(tmp_path: Path, output: dict[str, object] | None = None) -> Path:
    """dbt's classic jaffle_shop, seeded and built: raw_customers/raw_orders/raw_payments seeds, stg_<table>
    models over them with one schema.yml in `tests:`, and the marts at the models root."""
    project = _fixture_project(tmp_path, "jaffle_classic", (), output=output)
    existing = DbtProject(project, project).build()
    assert existing.success, existing.errors  # seeds, models and tests as the project's users have them
    return project


def _assert_existing_models_as_built(context: ProjectContext) -> None:
    """The built jaffle_shop as the warehouse holds it: real typed columns, grain, the cents converted in
    staging, and the YAML's stale column a finding, never a column."""
    payments = context.existing["stg_payments"]
    assert payments.columns_from == "warehouse"
    assert [c.name for c in payments.columns] == ["payment_id", "order_id", "payment_method", "amount"]
    assert all(c.data_type for c in payments.columns)
    amount = payments.column("amount")
    assert amount is not None and amount.expression == "amount / 100"
    assert (payments.grain, payments.layer) == (["payment_id"], "staging")
    orders = context.existing["orders"]  # a Jinja loop makes its columns: only the warehouse says which
    assert orders.columns_from == "warehouse" and "credit_card_amount" in [c.name for c in orders.columns]
    status = orders.column("status")
    assert status is not None and status.doc == "orders_status"
    customers = context.existing["customers"]
    assert customers.stale_columns == ["lifetime_value"]
    assert "lifetime_value" not in [c.name for c in customers.columns]
    assert context.stale_docs == [
        "stale documentation: `customers.lifetime_value` (models/customers.sql) is documented, but the built "
        "relation has no such column"
    ]
    shown = io.StringIO()
    show_context(Console(file=shown, width=300, color_system=None), context)
    assert "stale documentation: `customers.lifetime_value`" in shown.getvalue()
    assert re.search(r"amount \w+ = amount / 100", shown.getvalue())  # the slice shows the transform, typed
    assert re.search(r"stg_payments\s+│[^│]*│\s+payment_id\s+│", shown.getvalue())  # and the grain


def _assert_reviews_fit_in(project: Path, schema: str) -> None:
    """A raw_reviews table next to the seeds becomes stg_reviews and friends, the project's way."""
    before = snapshot_tree(project)
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=[schema])
    _, context = load_context(options, SilentProgress())
    assert (context.conventions.staging_model, context.conventions.strip_prefix) == ("stg_{table}", "raw_")
    assert context.existing_keys["order_id"].mart == "orders"
    assert context.existing_keys["customer_id"].mart == "customers"
    _assert_existing_models_as_built(context)

    report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    assert report.stale_docs == context.stale_docs  # in the run's report too
    assert report.report_file is not None and "`customers.lifetime_value`" in report.report_file.read_text()
    staging = next(a for a in report.plan.models() if a.type == "create_staging")
    assert (staging.name, staging.file_path) == ("stg_reviews", "models/staging/stg_reviews.sql")
    assert isinstance(staging.spec, StagingSpec) and staging.spec.grain == ["review_id"]
    # `id` becomes `review_id` (cast or not: that is the staging rules' call), not `raw_review_id`
    assert re.search(
        r"\b(?:cast\()?id(?: as \w+\))? as review_id\b", (project / staging.file_path).read_text()
    )
    for mart in (a for a in report.plan.models() if a.type == "create_mart"):
        assert (Path(mart.file_path).parent, mart.properties_path) == (Path("models"), "models/schema.yml")
    after = snapshot_tree(project)
    for path, content in before.items():
        # The user's files stay byte for byte; a property file only gains entries after the user's own.
        assert after[path].startswith(content), path
    staging_yaml = after["models/staging/schema.yml"][len(before["models/staging/schema.yml"]) :].decode()
    assert "- name: stg_reviews" in staging_yaml
    marts_yaml = after["models/schema.yml"][len(before["models/schema.yml"]) :].decode()
    # The orders' status doc block reaches the reviews mart through lineage: a reference dbt resolved
    # (the build above parsed it), never its text flattened into a line.
    assert "{{ doc('orders_status') }}" in marts_yaml
    assert "Orders can be one of the following statuses" not in marts_yaml + staging_yaml
    built = json.loads((project / "target/manifest.json").read_text())
    resolved = built["nodes"]["model.jaffle_classic.reviews"]["columns"]["order_status"]["description"]
    assert resolved.startswith("Orders can be one of the following statuses")  # dbt resolved the reference
    # The review's order_id is described through the key it references, worded as a reference.
    assert "The order this review belongs to: This is a unique identifier for an order." in (staging_yaml)
    assert "tests:" in staging_yaml and "data_tests" not in staging_yaml  # the file's own dialect
    new_sql = {p: after[p].decode() for p in after.keys() - before.keys() if p.endswith(".sql")}
    joining = [p for p, sql in new_sql.items() if EXISTING_MODEL_REF.search(sql)]
    assert joining, f"no new model refs orders, customers or their staging models: {sorted(new_sql)}"
