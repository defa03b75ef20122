"""`generate` on real dbt projects over the session's PostgreSQL: success, dry run, undo, repair, rollback."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest
from support import data_tests_in_run_results, postgres_output, run_sql, snapshot_tree, write_project

from cartridge_bridge.api import ProjectOptions, generate, undo_run
from cartridge_bridge.demo.local_postgres import LocalPostgres
from cartridge_bridge.errors import CartridgeError, ConflictError, UsageError, VerificationError
from cartridge_bridge.gather.dbt_runner import DbtProject
from cartridge_bridge.progress import SilentProgress
from cartridge_bridge.stage_clock import StageClock
from cartridge_bridge.write.journal import JournalError

pytestmark = pytest.mark.postgres
_counter = itertools.count()


def _raw_schema(server: LocalPostgres, *statements: str) -> str:
    """A fresh raw schema holding the given tables (statements use the placeholder `{s}`)."""
    schema = f"raw_gen_{next(_counter)}"
    run_sql(server, f'drop schema if exists "{schema}" cascade', f'create schema "{schema}"',
            *(s.format(s=f'"{schema}"') for s in statements))  # fmt: skip
    return schema


SMALL_SHOP = (
    'create table {s}.customers (id integer primary key, name text, "signedUpAt" timestamp)',
    "create table {s}.orders (id integer primary key, customer_id integer, amount numeric(10,2), "
    "ordered_at timestamp)",
    "insert into {s}.customers values (1, 'Ann', '2025-01-01'), (2, 'Bo', '2025-02-01')",
    "insert into {s}.orders values (10, 1, 5.50, '2025-03-01'), (11, 1, 7.25, '2025-03-02'), "
    "(12, 2, 1.00, '2025-03-03')",
)


def _project(
    tmp_path: Path, server: LocalPostgres, name: str = "shop", models: dict[str, str] | None = None
) -> Path:
    project = write_project(tmp_path / name, name, postgres_output(server, f"analytics_{name}_{next(_counter)}"),
                            models=models)  # fmt: skip
    DbtProject(project).deps()
    return project


def _options(project: Path, schema: str, **overrides: object) -> ProjectOptions:
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=[schema], source_name="shop")
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def test_generate_writes_every_layer_and_dbt_build_passes(tmp_path: Path, pg_server: LocalPostgres) -> None:
    schema = _raw_schema(pg_server, *SMALL_SHOP)
    project = _project(tmp_path, pg_server)
    clock = StageClock()
    report = generate(_options(project, schema), SilentProgress(), clock=clock)
    wall = time.perf_counter() - clock.started
    assert report.build is not None and report.build.success, report.build
    assert report.plan.strategy == "greenfield"
    # The report's time is the whole call's, planning included (all but returning from it: releasing the
    # project's lock, allowed half a second on a busy machine), and its stages add up within it.
    assert wall - 0.5 <= report.seconds <= wall
    assert list(report.stages) == ["gather", "context", "plan", "write", "parse", "build"]
    assert 0 < sum(report.stages.values()) <= report.seconds
    # The tests it reports are the tests dbt ran, by kind.
    assert report.build.tests_ran() == data_tests_in_run_results(project)
    written = {c.path for c in report.changes if c.writes}
    assert written == {
        "models/staging/shop/_shop__sources.yml",
        "models/staging/shop/_shop__models.yml",
        "models/staging/shop/stg_shop__customers.sql",
        "models/staging/shop/stg_shop__orders.sql",
        "models/intermediate/_intermediate__models.yml",
        "models/intermediate/int_orders_aggregated_to_customers.sql",
        "models/marts/_marts__models.yml",
        "models/marts/dim_customers.sql",
        "models/marts/fct_orders.sql",
        "models/marts/metricflow_time_spine.sql",  # a new project gets the semantic layer's time spine
        "models/marts/fct_orders_daily.sql",  # a money-moving fact with an event time: its daily snapshot
        "models/marts/fct_orders_monthly_by_customer.sql",  # its running totals per its customer
    }
    assert report.build.count("model", "success") == 8
    assert report.build.count("test", "pass") >= 10
    # the staged column is renamed and cast; the mart aggregates the child
    staging = (project / "models/staging/shop/stg_shop__customers.sql").read_text()
    assert '"signedUpAt" as signed_up_at' in staging  # renamed, not cast to the type it has
    assert "id as customer_id" in staging and "cast(" not in staging
    mart = (project / "models/marts/dim_customers.sql").read_text()
    assert "coalesce(orders_aggregated.number_of_orders, 0) as number_of_orders" in mart
    assert "models:" not in (project / "dbt_project.yml").read_text()  # no folder config: set per model
    assert "{{ config(materialized='table') }}" in mart


def test_dry_run_writes_nothing_and_shows_a_diff(tmp_path: Path, pg_server: LocalPostgres) -> None:
    schema = _raw_schema(pg_server, *SMALL_SHOP)
    project = _project(tmp_path, pg_server)
    before = snapshot_tree(project)
    report = generate(_options(project, schema, dry_run=True), SilentProgress())
    assert snapshot_tree(project) == before
    assert report.journal is None and report.build is None
    assert "+++ b/models/staging/shop/stg_shop__orders.sql" in report.diff
    assert "+    select * from {{ source('shop', 'orders') }}" in report.diff
    assert report.review is not None and report.review.startswith("# Review: cartridge plan (dry run)\n")
    assert "| `stg_shop__orders` | `order_id` | `shop.orders` |" in report.review


def test_undo_restores_the_project_byte_for_byte(tmp_path: Path, pg_server: LocalPostgres) -> None:
    schema = _raw_schema(pg_server, *SMALL_SHOP)
    project = _project(tmp_path, pg_server)
    before = snapshot_tree(project)
    report = generate(_options(project, schema, build=False), SilentProgress())
    assert report.journal is not None
    assert snapshot_tree(project) != before
    undone = undo_run(project, None)
    assert undone.journal.run_id == report.journal.run_id
    assert snapshot_tree(project) == before
    assert not (project / "models" / "staging").exists()


def _target_relations(server: LocalPostgres, project: Path) -> set[str]:
    """The tables and views in the project's target schema."""
    import yaml

    profile = yaml.safe_load((project / "profiles.yml").read_text())
    return _tables(server, next(iter(profile.values()))["outputs"]["dev"]["schema"])


def test_undo_drops_the_relations_the_build_created_and_keeps_older_ones(
    tmp_path: Path, pg_server: LocalPostgres
) -> None:
    schema = _raw_schema(pg_server, *SMALL_SHOP)
    project = _project(tmp_path, pg_server, models={"models/existing.sql": "select 1 as one\n"})
    assert DbtProject(project, project).build(select=["existing"]).success
    report = generate(_options(project, schema), SilentProgress())
    assert report.journal is not None and report.build is not None and report.build.success
    built = {r.identifier for r in report.journal.relations}
    assert "stg_shop__customers" in built and _target_relations(pg_server, project) == built | {"existing"}
    undone = undo_run(project, None, profiles_dir=project)
    assert {r.identifier for r in undone.dropped} == built and undone.remaining == []
    assert _target_relations(pg_server, project) == {"existing"}

    kept = generate(_options(project, schema), SilentProgress())
    assert kept.journal is not None
    left = undo_run(project, None, profiles_dir=project, keep_relations=True)
    assert left.dropped == [] and {r.identifier for r in left.remaining} == built
    assert _target_relations(pg_server, project) == built | {"existing"}


def test_a_failing_build_rolls_back_everything(tmp_path: Path, pg_server: LocalPostgres) -> None:
    # The view parses but fails when selected, so dbt build of the staging model errors.
    schema = _raw_schema(
        pg_server,
        "create table {s}.customers (id integer primary key, name text)",
        "create view {s}.broken as select 1 / (select count(*) from {s}.customers) as id",
    )
    project = _project(tmp_path, pg_server, models={"models/existing.sql": "select 1 as one\n"})
    before = snapshot_tree(project)
    assert DbtProject(project, project).build(select=["existing"]).success
    with pytest.raises(VerificationError, match="stg_shop__broken"):
        generate(_options(project, schema), SilentProgress())
    assert snapshot_tree(project) == before
    assert _target_relations(pg_server, project) == {"existing"}  # what the failed build created is dropped


def test_data_tests_that_fail_on_todays_data_are_relaxed_with_a_note(
    tmp_path: Path, pg_server: LocalPostgres
) -> None:
    schema = _raw_schema(
        pg_server,
        "create table {s}.customers (id integer, name text)",
        "insert into {s}.customers values (1, 'Ann'), (1, 'Ann again'), (2, 'Bo')",
    )
    project = _project(tmp_path, pg_server)
    # Unprofiled, `id` is the key by its name and its unique test fails on the duplicate; profiled, the
    # data shows it is no key at all (tests/unit/test_key_inference.py).
    report = generate(_options(project, schema, profile=False), SilentProgress())
    assert report.build is not None and report.build.success
    assert report.relaxed_tests == ["stg_shop__customers.customer_id: unique (1 failing rows)"]
    properties = (project / "models/staging/shop/_shop__models.yml").read_text()
    assert "severity: warn" in properties
    assert "cartridge_note: 1 rows failed this test" in properties
    assert report.build.count("test", "warn") == 1


def test_a_table_whose_staging_model_exists_is_left_out(tmp_path: Path, pg_server: LocalPostgres) -> None:
    schema = _raw_schema(pg_server, *SMALL_SHOP)
    models = {"models/staging/shop/stg_shop__orders.sql": "-- mine\nselect 1 as order_id\n"}
    project = _project(tmp_path, pg_server, models=models)
    report = generate(_options(project, schema), SilentProgress())
    assert report.plan.strategy == "brownfield"
    assert [a.name for a in report.plan.models()] == ["stg_shop__customers"]
    assert report.plan.skipped == [f"{schema}.orders: model stg_shop__orders already exists"]
    assert (project / "models/staging/shop/stg_shop__orders.sql").read_text() == models[
        "models/staging/shop/stg_shop__orders.sql"
    ]


def test_a_conflicting_properties_entry_fails_and_changes_nothing(
    tmp_path: Path, pg_server: LocalPostgres
) -> None:
    schema = _raw_schema(pg_server, *SMALL_SHOP)
    user_yaml = "models:\n  # documented ahead of time\n  - name: stg_shop__orders\n    description: Mine.\n"
    project = _project(tmp_path, pg_server, models={"models/staging/shop/_shop__models.yml": user_yaml})
    before = snapshot_tree(project)
    with pytest.raises(ConflictError, match=r"_shop__models\.yml already defines model stg_shop__orders"):
        generate(_options(project, schema), SilentProgress())
    assert snapshot_tree(project) == before
    report = generate(_options(project, schema, on_conflict="skip"), SilentProgress())
    assert report.build is not None and report.build.success
    merged = (project / "models/staging/shop/_shop__models.yml").read_text()
    assert merged.startswith(user_yaml)  # the user's entry and comment stay as written, new ones follow
    assert "- name: stg_shop__customers" in merged


def test_overwriting_asks_first_and_a_no_writes_nothing(tmp_path: Path, pg_server: LocalPostgres) -> None:
    schema = _raw_schema(pg_server, *SMALL_SHOP)
    user_yaml = "models:\n  - name: stg_shop__orders\n    description: Mine.\n"
    project = _project(tmp_path, pg_server, models={"models/staging/shop/_shop__models.yml": user_yaml})
    before = snapshot_tree(project)
    asked: list[list[str]] = []

    def refuse(items: list[str]) -> bool:
        asked.append(items)
        return False

    with pytest.raises(CartridgeError, match="not confirmed"):
        generate(_options(project, schema, on_conflict="overwrite"), SilentProgress(), confirm=refuse)
    assert asked == [["models/staging/shop/_shop__models.yml (add model stg_shop__customers, replace model "
                      "stg_shop__orders)"]]  # fmt: skip
    assert snapshot_tree(project) == before
    report = generate(
        _options(project, schema, on_conflict="overwrite"), SilentProgress(), confirm=lambda _: True
    )
    assert report.build is not None and report.build.success
    assert "description: Mine." not in (project / "models/staging/shop/_shop__models.yml").read_text()


def test_undo_refuses_a_journal_given_a_relation_by_hand(tmp_path: Path, pg_server: LocalPostgres) -> None:
    schema = _raw_schema(pg_server, *SMALL_SHOP, "create table {s}.victim_tbl (id integer)")
    project = _project(tmp_path, pg_server)
    report = generate(_options(project, schema), SilentProgress())
    assert report.journal is not None
    written = snapshot_tree(project)
    path = project / ".cartridge" / "runs" / report.journal.run_id / "journal.json"
    journal = json.loads(path.read_text())
    victim = {
        "model": "stg_shop__orders",
        "schema_name": schema,
        "identifier": "victim_tbl",
        "existed": False,
    }
    path.write_text(json.dumps(journal | {"relations": [*journal["relations"], victim]}))
    with pytest.raises(
        JournalError, match=r"changed outside cartridge \(its integrity seal does not match\)"
    ):
        undo_run(project, None, profiles_dir=project)
    assert _tables(pg_server, schema) == {"customers", "orders", "victim_tbl"}
    assert snapshot_tree(project) == written  # nothing was undone either


def test_undo_leaves_a_relation_a_users_view_depends_on_and_a_later_undo_finishes(
    tmp_path: Path, pg_server: LocalPostgres
) -> None:
    schema = _raw_schema(pg_server, *SMALL_SHOP)
    project = _project(tmp_path, pg_server)
    before = snapshot_tree(project)
    report = generate(_options(project, schema), SilentProgress())
    assert report.journal is not None and report.build is not None and report.build.success
    target = report.journal.relations[0].schema_name
    mine = f"mine_{next(_counter)}"
    run_sql(pg_server, f'create schema "{mine}"',
            f'create view "{mine}".my_customers as select * from "{target}".dim_customers')  # fmt: skip

    undone = undo_run(project, None, profiles_dir=project)
    assert [r.label for r in undone.remaining] == [f"{target}.dim_customers"]
    assert _target_relations(pg_server, project) == {"dim_customers"}  # everything else was dropped
    assert _tables(pg_server, mine) == {"my_customers"} and snapshot_tree(project) == before
    run_sql(pg_server, f'drop view "{mine}".my_customers')
    finished = undo_run(project, report.journal.run_id, profiles_dir=project)
    assert [r.label for r in finished.dropped] == [f"{target}.dim_customers"] and finished.remaining == []
    assert _target_relations(pg_server, project) == set()
    with pytest.raises(UsageError, match="is already undone"):
        undo_run(project, report.journal.run_id, profiles_dir=project)


def _tables(server: LocalPostgres, schema: str) -> set[str]:
    """The tables and views in a schema."""
    import psycopg2

    connection = psycopg2.connect(server.dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select table_name from information_schema.tables where table_schema = %s", (schema,)
            )
            return {row[0] for row in cursor.fetchall()}
    finally:
        connection.close()
