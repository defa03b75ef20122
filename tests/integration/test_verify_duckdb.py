"""The verify loop with real dbt on DuckDB: a model error is named and undone, a failing data test is relaxed."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from support import duckdb_output, snapshot_tree, write_project

from cartridge_bridge.api import ProjectOptions, apply_plan, generate, load_context, make_plan
from cartridge_bridge.errors import VerificationError
from cartridge_bridge.gather.dbt_runner import DbtProject
from cartridge_bridge.progress import SilentProgress


def _project(tmp_path: Path, *statements: str, cartridge_yml: str = "") -> Path:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema raw_crm")
        for statement in statements:
            connection.execute(statement)
    output = duckdb_output(database, "analytics") | {"keep_open": False}
    models = {"cartridge.yml": cartridge_yml} if cartridge_yml else None
    project = write_project(tmp_path / "crm", "crm", output, models=models)
    DbtProject(project).deps()
    return project


def test_a_model_error_names_the_node_and_its_cause_and_restores_the_project(tmp_path: Path) -> None:
    # The raw view binds, so gather reads its columns, but selecting from it fails: a table model over it errors.
    project = _project(
        tmp_path,
        "create table raw_crm.accounts (id integer, name varchar)",
        "insert into raw_crm.accounts values (1, 'Acme')",
        "create view raw_crm.broken as select 1 as id, cast(x as integer) as amount from (values ('abc')) as t(x)",
        cartridge_yml="conventions:\n  staging_materialized: table\n",
    )
    before = snapshot_tree(project)
    with pytest.raises(VerificationError) as raised:
        generate(
            ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_crm"]), SilentProgress()
        )
    message = str(raised.value)
    assert message.startswith(
        "dbt build failed on model stg_crm__broken (models/staging/crm/stg_crm__broken.sql): Conversion Error: "
    ), message
    assert "(the model itself failed; relaxing data tests cannot fix that)" in message
    assert "Error in model" not in message  # dbt's header line is not the cause
    assert message.endswith("; the project was restored")
    assert snapshot_tree(project) == before


def test_a_data_test_that_fails_on_todays_data_is_relaxed_and_the_build_passes(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        "create table raw_crm.accounts (id integer, name varchar)",
        "insert into raw_crm.accounts values (1, 'Acme'), (1, 'Acme again'), (2, 'Globex')",
    )
    # Unprofiled, `id` is the key by its name (profiled, the duplicate shows it is none).
    report = generate(
        ProjectOptions(project_dir=project, profiles_dir=project, schemas=["raw_crm"], profile=False),
        SilentProgress(),
    )
    assert report.build is not None and report.build.success, report.build
    assert report.relaxed_tests == ["stg_crm__accounts.account_id: unique (1 failing rows)"]
    assert report.build.count("test", "warn") == 1
    properties = (project / "models/staging/crm/_crm__models.yml").read_text()
    assert "severity: warn" in properties
    assert "cartridge_note: 1 rows failed this test" in properties
    assert report.review_file is not None and report.review_file.name == "review.md"
    page = report.review_file.read_text()
    assert page.startswith(f"# Review: cartridge run {report.journal.run_id}\n")  # type: ignore[union-attr]
    assert "| `stg_crm__accounts` | `account_id` | `crm.accounts` | 2: unique 1, not_null 1 | 1 |" in page
    relaxed = page.split("## Relaxed tests\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(relaxed) == 3 and relaxed[2].startswith(
        "| `stg_crm__accounts` | `account_id` | unique | `1 rows failed this test when cartridge generated"
    )
    assert (
        "Adds 1 source (1 table) and 1 staging model, with 2 data tests" in page
        and "1 test at warn" in page
        and "dbt build passed: models 1 success; tests 1 pass, 1 warn." in page
    )


# Unprofiled, `id` is the key by its name: its unique test fails, so dim_accounts (built from the staging model)
# is skipped; built in the next round, its own unique test fails on the same duplicate in turn.
ACCOUNTS_AND_DEALS = (
    "create table raw_crm.accounts (id integer, name varchar)",
    "insert into raw_crm.accounts values (1, 'Acme'), (1, 'Acme again'), (2, 'Globex')",
    "create table raw_crm.deals (id integer, account_id integer, amount decimal(10,2), closed_at timestamp)",
    "insert into raw_crm.deals values (10, 1, 5.5, '2025-01-01'), (11, 2, 7.0, '2025-01-02')",
)


def test_a_repair_round_rebuilds_only_the_relaxed_tests_and_what_their_failure_skipped(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path, *ACCOUNTS_AND_DEALS)
    # The models and tests only: no time spine to count among the nodes.
    options = ProjectOptions(
        project_dir=project, profiles_dir=project, schemas=["raw_crm"], profile=False, semantic_models=False
    )
    report = generate(options, SilentProgress())
    # The result is the whole plan's, as when every round rebuilt everything.
    assert report.build is not None and report.build.success, report.build
    assert report.relaxed_tests == [
        "stg_crm__accounts.account_id: unique (1 failing rows)",
        "dim_accounts.account_id: unique (1 failing rows)",
    ]
    statuses = {(n.name, n.status) for n in report.build.nodes}
    # 16 nodes, and the rules planner's daily snapshot of the deals (a money-moving fact) with its 2 tests, and
    # its monthly running totals per account with 3 (its grain, date_month and month_end not null).
    assert len(statuses) == 23 and {s for _, s in statuses} == {"success", "pass", "warn"}
    assert {n for n, s in statuses if s == "warn"} == {
        "unique_stg_crm__accounts_account_id",
        "unique_dim_accounts_account_id",
    }
    assert report.build.count("model") == 7
    properties = "".join(p.read_text() for p in sorted((project / "models").rglob("_*.yml")))
    assert properties.count("severity: warn") == 2
    # The last round ran only the test it relaxed (dbt's own record of the invocation) ...
    results = json.loads((project / "target/run_results.json").read_text())["results"]
    assert [r["unique_id"].split(".")[2] for r in results] == ["unique_dim_accounts_account_id"]
    # ... and no round dropped what it built for the next one to create again.
    journals = [
        json.loads(p.read_text()) for p in sorted((project / ".cartridge/runs").glob("*/journal.json"))
    ]
    assert [j["status"] for j in journals] == ["rolled_back", "rolled_back", "applied"]
    assert all(not r["dropped"] for j in journals for r in j["relations"])
    assert all(not r["existed"] for r in journals[-1]["relations"]) and len(journals[-1]["relations"]) == 7


def test_a_repair_round_that_fails_drops_what_the_rounds_before_it_built(tmp_path: Path) -> None:
    project = _project(tmp_path, *ACCOUNTS_AND_DEALS)
    before = snapshot_tree(project)
    options = ProjectOptions(
        project_dir=project, profiles_dir=project, schemas=["raw_crm"], profile=False, repair_rounds=1
    )
    with pytest.raises(
        VerificationError, match=r"unique_dim_accounts_account_id .*still failing after 1 repair"
    ):
        generate(options, SilentProgress())
    assert snapshot_tree(project) == before
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        left = connection.execute(
            "select table_name from information_schema.tables where table_schema = 'analytics'"
        ).fetchall()
    assert left == []  # the first round's models, kept for the second, went with it


def test_dbt_parses_once_per_change_of_files_and_each_build_uses_that_parse(tmp_path: Path) -> None:
    project_dir = _project(tmp_path, *ACCOUNTS_AND_DEALS[:2])
    options = ProjectOptions(
        project_dir=project_dir, profiles_dir=project_dir, schemas=["raw_crm"], profile=False
    )
    project, context = load_context(options, SilentProgress())
    report = apply_plan(make_plan(context), options, SilentProgress(), project, context)
    assert report.build is not None and report.build.success and len(report.relaxed_tests) == 1
    # The project as it was, then each round's files: one parse each, and every other invocation reuses it.
    ran = [(r.command, r.parsed) for r in project.dbt.history]
    assert [command for command, parsed in ran if parsed] == ["parse", "parse", "parse"], ran
    assert [command for command, _ in ran].count("build") == 2
    assert [command for command, _ in ran if command not in ("parse", "build")] == ["run-operation"] * (
        len(ran) - 5
    )
