"""`generate` end to end on DuckDB: the portable gather path, the rules planner and dbt build."""

from __future__ import annotations

from pathlib import Path

import duckdb
from support import duckdb_output, write_project

from cartridge_bridge.api import ProjectOptions, generate
from cartridge_bridge.dbt_runner import DbtProject
from cartridge_bridge.progress import SilentProgress


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
    project = write_project(tmp_path / "crm", "crm", duckdb_output(database, "analytics"))
    DbtProject(project).deps()
    report = generate(
        ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_crm"]), SilentProgress()
    )
    assert report.build is not None and report.build.success, report.build
    names = [a.name for a in report.plan.models()]
    assert names == [
        "stg_crm__accounts",
        "stg_crm__contacts",
        "stg_crm__deals",
        "int_contacts_aggregated_to_accounts",
        "int_deals_aggregated_to_contacts",
        "dim_accounts",
        "fct_contacts",
        "fct_deals",
    ]
    assert report.build.count("model", "success") == 8
    assert report.build.failed == []
    staging = (project / "models/staging/crm/stg_crm__accounts.sql").read_text()
    assert 'cast("accountName" as VARCHAR) as account_name' in staging
    with duckdb.connect(str(database)) as connection:  # dbt-duckdb keeps its own connection open
        rows = connection.execute(
            "select contact_id, number_of_deals, total_amount from analytics.fct_contacts order by 1"
        ).fetchall()
    assert [(r[0], r[1], float(r[2])) for r in rows] == [(1, 2, 150.5), (2, 1, 7.0)]
