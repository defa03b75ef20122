"""`dbt source freshness` on generated sources, for real: PostgreSQL and DuckDB, the default thresholds and a
brownfield project's own, and two Fivetran connectors' seeds with their `_fivetran_synced` made recent."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml
from support import REPO_ROOT, duckdb_output, postgres_output, run_sql, write_project

from cartridge_bridge.api import ProjectOptions, generate
from cartridge_bridge.dbt.runner import DbtProject, Invocation
from cartridge_bridge.demo.local_postgres import LocalPostgres
from cartridge_bridge.progress import SilentProgress

_counter = itertools.count()
CONNECTORS = (
    REPO_ROOT / "tests" / "fixtures" / "connectors"
)  # copies of two connectors: a clean clone has them


def ago(hours: float) -> str:
    """A naive UTC timestamp `hours` ago, as loaders write them (dbt reads a naive timestamp as UTC)."""
    return (datetime.now(UTC) - timedelta(hours=hours)).replace(tzinfo=None).isoformat(sep=" ")


def freshness(project: Path) -> tuple[Invocation, dict[str, str]]:
    """`dbt source freshness` in the project: the invocation and each source table's status."""
    run = DbtProject(project, project).invoke(["source", "freshness"])
    assert run.result is not None, run.error_text()  # a stale table is a status, never a crash
    return run, {r.node.name: str(r.status) for r in run.result.results}


def sources_yaml(project: Path, source: str) -> dict[str, dict[str, object]]:
    document = yaml.safe_load((project / f"models/staging/{source}/_{source}__sources.yml").read_text())
    return {t["name"]: t for s in document["sources"] for t in s["tables"]}


def generated(project: Path, schema: str, source: str) -> dict[str, dict[str, object]]:
    """Generate the project from the raw schema (its build must pass) and read the sources YAML written."""
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=[schema], source_name=source)
    report = generate(options, SilentProgress())
    assert report.build is not None and report.build.success, report.build
    return sources_yaml(project, source)


def thresholds(warn_hours: int, error_hours: int) -> dict[str, object]:
    return {
        "warn_after": {"count": warn_hours, "period": "hour"},
        "error_after": {"count": error_hours, "period": "hour"},
    }


# The project's own convention in the brownfield test: stricter than the default, the error in days.
HALF_DAY = {"warn_after": {"count": 12, "period": "hour"}, "error_after": {"count": 1, "period": "day"}}


def deprecations(run: Invocation) -> list[str]:
    return [w for w in run.warnings if "deprecat" in w.lower()]


# A loader's timestamp just now, 30 hours ago (past the default warning, within its error) and 5 days ago;
# one table without a loader column gets no freshness.
AGES = {"orders": 0.1, "customers": 30, "refunds": 120}


@pytest.mark.postgres
def test_generated_sources_pass_warn_and_fail_freshness_on_postgres(
    tmp_path: Path, pg_server: LocalPostgres
) -> None:
    schema = f"raw_fresh_{next(_counter)}"
    run_sql(
        pg_server,
        f'drop schema if exists "{schema}" cascade',
        f'create schema "{schema}"',
        f'create table "{schema}".customers (id integer primary key, name text, _loaded_at timestamp)',
        f'create table "{schema}".orders (id integer primary key, customer_id integer, amount numeric(10,2),'
        " _fivetran_synced timestamp, _fivetran_deleted boolean)",
        f'create table "{schema}".refunds (id integer primary key, order_id integer, _sdc_batched_at timestamp,'
        " _sdc_extracted_at timestamp)",
        f'create table "{schema}".notes (id integer primary key, body text)',
        f"insert into \"{schema}\".customers values (1, 'Ann', '{ago(AGES['customers'])}')",
        f"insert into \"{schema}\".orders values (10, 1, 5.50, '{ago(AGES['orders'])}', false)",
        f"insert into \"{schema}\".refunds values (20, 10, '{ago(AGES['refunds'])}', '{ago(1)}')",
        f"insert into \"{schema}\".notes values (1, 'hello')",
    )
    project = write_project(tmp_path / "shop", "shop", postgres_output(pg_server, f"analytics_{schema}"))
    DbtProject(project).deps()
    tables = generated(project, schema, "shop")
    assert tables["orders"]["config"] == {
        "loaded_at_field": "_fivetran_synced",
        "freshness": thresholds(24, 48),
    }
    assert tables["refunds"]["config"]["loaded_at_field"] == "_sdc_batched_at"  # type: ignore[index]
    assert "config" not in tables["notes"]
    run, statuses = freshness(project)
    assert statuses == {"orders": "pass", "customers": "warn", "refunds": "error"}
    assert not run.success  # dbt's own verdict: an error status fails the command
    assert deprecations(run) == []


def test_a_brownfield_projects_own_thresholds_are_used_on_duckdb(tmp_path: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        for statement in (
            "create schema legacy",
            "create table legacy.accounts (id integer, _etl_loaded_at timestamp)",
            "create table legacy.users (id integer, _etl_loaded_at timestamp)",
            f"insert into legacy.accounts values (1, '{ago(1)}')",
            f"insert into legacy.users values (1, '{ago(1)}')",
            "create schema raw_app",
            'create table raw_app.events (id integer, "Kind" varchar, _airbyte_extracted_at timestamp)',
            "create table raw_app.sessions (id integer, event_id integer, _airbyte_extracted_at timestamp)",
            f"insert into raw_app.events values (1, 'click', '{ago(0.5)}')",
            # Fresh by the default (24 hours), stale by the project's own 12 hours.
            f"insert into raw_app.sessions values (1, 1, '{ago(14)}')",
        ):
            connection.execute(statement)
    existing = {
        "models/staging/_legacy__sources.yml": yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": "legacy",
                        "schema": "legacy",
                        "config": {"loaded_at_field": "_etl_loaded_at", "freshness": HALF_DAY},
                        "tables": [{"name": "accounts"}, {"name": "users"}],
                    }
                ]
            }
        ),
        "models/staging/stg_legacy__accounts.sql": "select id from {{ source('legacy', 'accounts') }}\n",
    }
    project = write_project(tmp_path / "app", "app", duckdb_output(database, "analytics"), models=existing)
    DbtProject(project).deps()
    tables = generated(project, "raw_app", "app")
    assert tables["events"]["config"] == {"loaded_at_field": "_airbyte_extracted_at", "freshness": HALF_DAY}
    run, statuses = freshness(project)
    assert statuses == {"accounts": "pass", "users": "pass", "events": "pass", "sessions": "warn"}
    assert run.success  # a warning is no failure
    assert deprecations(run) == []


@pytest.mark.postgres
@pytest.mark.slow  # seeds a whole connector: the end-to-end lane
@pytest.mark.parametrize("connector", ["asana", "github"])
def test_fivetran_connectors_sources_pass_once_synced(
    tmp_path: Path, pg_server: LocalPostgres, connector: str
) -> None:
    from bench.quality import load  # the loader the quality benchmark seeds connectors with

    schema = load(CONNECTORS / connector, pg_server, tmp_path)
    # The seeds were synced years ago: a sync now is what a running connector shows.
    run_sql(pg_server, *(f'update "{schema}"."{t}" set _fivetran_synced = now()' for t in seeded(connector)))
    project = write_project(
        tmp_path / connector, connector, postgres_output(pg_server, f"analytics_{connector}")
    )
    DbtProject(project).deps()
    options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=[schema], build=False)
    generate(options, SilentProgress())
    tables = sources_yaml(project, connector)
    assert {t["config"]["loaded_at_field"] for t in tables.values()} == {"_fivetran_synced"}  # type: ignore[index]
    run, statuses = freshness(project)
    assert statuses == dict.fromkeys(seeded(connector), "pass")
    assert run.success and deprecations(run) == []


def seeded(connector: str) -> list[str]:
    """The connector's tables: every one of them carries `_fivetran_synced`."""
    return sorted(p.stem for p in (CONNECTORS / connector / "seeds").glob("*.csv"))


def test_a_deprecation_one_project_met_is_not_reported_by_the_next_run(tmp_path: Path) -> None:
    """dbt summarises every deprecation its process has met after each invocation; cartridge's runs report
    only their own (a user's old-style project must not make a later, clean run look deprecated)."""
    # A generic test's argument beside its name, not under `arguments:`: deprecated since dbt 1.10.
    old_yaml = (
        "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: id\n        tests:\n"
        "          - accepted_values:\n              values: [1]\n"
    )
    runs = []
    for name, files in (
        ("old_style", {"models/m.sql": "select 1 as id", "models/m.yml": old_yaml}),
        ("clean", {"models/m.sql": "select 1 as id"}),
    ):
        project = write_project(
            tmp_path / name, name, duckdb_output(tmp_path / f"{name}.duckdb"), models=files
        )
        dbt = DbtProject(project, project)
        dbt.deps()
        runs.append(dbt.invoke(["parse", "--no-partial-parse"]))
    met, clean = runs
    assert met.success and deprecations(met), met.warnings  # the old style is reported where it is
    assert clean.success and deprecations(clean) == [], clean.warnings
