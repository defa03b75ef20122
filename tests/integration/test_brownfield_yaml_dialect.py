"""Brownfield: files cartridge creates and appends to in the project's own YAML dialect, and tests in its habits.

The house_style fixture writes `version: 2`, `tests:`, no `data_type`, one schema.yml per folder with lists
indented four spaces, tests its marts' foreign keys against marts and its statuses with accepted_values.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from support import postgres_output, run_sql, snapshot_tree
from test_brownfield_conventions import _fixture_project

from cartridge_bridge.api import ProjectOptions, generate, load_context
from cartridge_bridge.dbt.runner import DbtProject
from cartridge_bridge.demo.local_postgres import LocalPostgres
from cartridge_bridge.progress import SilentProgress
from cartridge_bridge.undo_api import undo_run

SHOP = (
    "create schema raw_shop",
    "create table raw_shop.customers (id integer, first_name varchar, last_name varchar)",
    "insert into raw_shop.customers values (1, 'Ann', 'A'), (2, 'Bo', 'B'), (3, 'Cy', 'C')",
    "create table raw_shop.orders (id integer, user_id integer, order_date date, status varchar)",
    "insert into raw_shop.orders values (1, 1, '2025-01-01', 'completed'), (2, 1, '2025-01-02', 'shipped'),"
    " (3, 2, '2025-01-03', 'placed'), (4, 3, '2025-01-04', 'returned'), (5, 2, '2025-01-05', 'completed')",
    "create table raw_shop.payments (id integer, order_id integer, payment_method varchar, amount integer)",
    "insert into raw_shop.payments values (1, 1, 'credit_card', 1000), (2, 2, 'coupon', 250),"
    " (3, 3, 'bank_transfer', 1200), (4, 4, 'credit_card', 700), (5, 5, 'coupon', 300)",
)
# New raw tables: shipments of the shop's orders (a carrier and a status: categories) and their parcels.
SHIPPING = (
    "create schema raw_shipping",
    "create table raw_shipping.shipments (id integer, order_id integer, carrier varchar, status varchar,"
    " shipped_at timestamp)",
    "insert into raw_shipping.shipments values (1, 1, 'DHL', 'delivered', '2025-01-02 10:00'),"
    " (2, 2, 'UPS', 'in_transit', '2025-01-03 11:00'), (3, 3, 'Kim''s Post', 'delivered', '2025-01-04 09:00'),"
    " (4, 5, 'DHL', 'in_transit', '2025-01-06 08:30'), (5, 4, 'UPS', 'delivered', '2025-01-05 12:00')",
    "create table raw_shipping.parcels (id integer, shipment_id integer, weight_kg decimal(8,3))",
    "insert into raw_shipping.parcels values (1, 1, 1.5), (2, 1, 0.25), (3, 2, 3.0), (4, 3, 1.0), (5, 4, 2.0),"
    " (6, 5, 0.5)",
)


def _house_style(tmp_path: Path, raw_sql: tuple[str, ...], output: dict[str, object] | None = None) -> Path:
    """The house_style project over its raw shop (and the new raw tables), built as its users have it."""
    project = _fixture_project(tmp_path, "house_style", raw_sql, output=output)
    built = DbtProject(project, project).build()
    assert built.success, built.errors
    return project


def test_created_and_appended_files_speak_the_projects_dialect(tmp_path: Path) -> None:
    _assert_in_house_style(_house_style(tmp_path, SHOP + SHIPPING))


@pytest.mark.postgres
def test_created_and_appended_files_speak_the_projects_dialect_on_postgres(
    tmp_path: Path, pg_server: LocalPostgres
) -> None:
    run_sql(pg_server, *SHOP, *SHIPPING)
    _assert_in_house_style(_house_style(tmp_path, (), postgres_output(pg_server, "house")))


def _assert_in_house_style(project: Path) -> None:
    before = snapshot_tree(project)
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_shipping"])
    _, context = load_context(options, SilentProgress())
    conventions = context.conventions
    assert (conventions.yaml_test_key, conventions.yaml_version_header, conventions.yaml_column_types) == (
        "tests",
        True,
        False,
    )
    indents = (
        conventions.yaml_sequence_indent,
        conventions.yaml_sequence_offset,
        conventions.yaml_mapping_indent,
    )
    assert indents == (6, 4, 4)
    assert (conventions.test_mart_relationships, conventions.test_accepted_values) == (True, True)
    assert conventions.yaml_flow_values is True
    # No intermediate model yet: its YAML goes where every other layer's does, a schema.yml in its folder.
    assert conventions.intermediate_properties_file == "schema.yml"

    report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    after = snapshot_tree(project)
    created = {p: after[p].decode() for p in after.keys() - before.keys() if p.endswith(".yml")}
    assert set(created) == {"models/intermediate/schema.yml", "models/staging/_shipping__sources.yml"}
    appended = {
        p: after[p][len(before[p]) :].decode()
        for p in ("models/staging/schema.yml", "models/marts/schema.yml")
        if after[p].startswith(before[p])  # the user's entries stay byte for byte, new ones follow
    }
    assert len(appended) == 2
    for path, text in {**created, **appended}.items():
        assert "data_tests" not in text and "data_type" not in text, path
    for path, text in created.items():
        assert text.startswith("version: 2\n\n"), path
        # Four spaces to a list's dash, two more to its items; a nested mapping four right of its key.
        assert re.search(r"^(models|sources):\n    - name: \w+\n      \w+:", text, re.M), path
    intermediate = created["models/intermediate/schema.yml"]
    assert "\n          - name: shipment_id\n            tests:\n                - unique\n" in intermediate
    marts = appended["models/marts/schema.yml"]
    assert "    - name: shipments\n" in marts
    # The new mart's foreign key is tested against the mart that holds the key, as the project's marts are.
    assert (
        "                - relationships:\n                      to: ref('orders')\n"
        "                      field: order_id\n" in marts
    )
    fact = next(a for a in report.plan.models() if a.name == "shipments")
    columns = {c.name: c for c in fact.spec.columns}  # type: ignore[union-attr]
    assert [(t.to, t.field) for t in columns["order_id"].tests if t.name == "relationships"] == [
        ("orders", "order_id")
    ]
    # The carriers and statuses, read from the local profile, each value one escaped literal.
    staging = next(a for a in report.plan.models() if a.name == "stg_shipments")
    staged = {c.name: c for c in staging.spec.columns}  # type: ignore[union-attr]
    assert [t.values for t in staged["carrier"].tests] == [["DHL", "Kim's Post", "UPS"]]
    assert [t.values for t in staged["status"].tests] == [["delivered", "in_transit"]]
    # Written as the project writes its values: one flow list, quoted; `Kim''s Post` is the SQL literal's body.
    assert "values: ['DHL', 'Kim''''s Post', 'UPS']\n" in appended["models/staging/schema.yml"]
    assert "accepted_values" not in " ".join(
        t.name for c in staged.values() for t in c.tests if c.name.endswith("_id")
    )
    built = yaml.safe_load((project / "target/run_results.json").read_text())["results"]
    passed = {r["unique_id"] for r in built if r["status"] == "pass"}
    assert any(".accepted_values_stg_shipments_carrier" in uid for uid in passed), sorted(passed)
    assert any(".relationships_shipments_order_id__order_id__ref_orders_" in uid for uid in passed)

    undo_run(project, None, profiles_dir=project)
    assert snapshot_tree(project) == before  # every created file gone, every appended one as it was
