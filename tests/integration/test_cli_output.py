"""What the command line prints when it is not talking to a terminal: whole lines, no colour, patches, help."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from support import snapshot_tree
from test_interruptions import _cartridge, _project

pytestmark = pytest.mark.slow


def test_piped_output_is_whole_plain_and_a_patch_applies(tmp_path: Path) -> None:
    project = _project(tmp_path)
    with duckdb.connect(
        str(tmp_path / "warehouse.duckdb")
    ) as connection:  # a loader's timestamp on one table
        connection.execute("alter table raw_app.users add column _fivetran_synced timestamp")
        connection.execute("update raw_app.users set _fivetran_synced = now()")
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    plan_file = tmp_path / "plan.json"
    planned = _cartridge("plan", *where, "--schema", "raw_app", "--out", str(plan_file))
    assert planned.returncode == 0, planned.stderr
    assert "\x1b[" not in planned.stdout + planned.stderr  # no colour codes in a pipe
    row = next(line for line in planned.stdout.splitlines() if "int_sessions_aggregated_to_users " in line)
    assert "models/intermediate/int_sessions_aggregated_to_users.sql" in row  # not wrapped, not cut
    assert "stg_app__users, int_sessions_aggregated_to_users" in planned.stdout

    before = snapshot_tree(project)
    dry = _cartridge("apply", str(plan_file), *where, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert snapshot_tree(project) == before and not (project / ".cartridge" / "runs").exists()
    planned_page = dry.stdout.split("The review page of this plan, as a run would write it:\n", 1)[1]
    coverage = "Source freshness: 1 of 2 new source tables checked; 1 has no loader timestamp.\n"
    assert coverage in dry.stdout
    patch = dry.stdout[dry.stdout.index("--- ") : dry.stdout.index("Dry run")]
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, symlinks=True)
    applied_patch = subprocess.run(
        ["git", "apply", "-p1", "-"], cwd=copy, input=patch, text=True, capture_output=True
    )
    assert applied_patch.returncode == 0, applied_patch.stderr

    applied = _cartridge("apply", str(plan_file), *where)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    (review,) = (project / ".cartridge" / "runs").glob("*/review.md")
    assert f"Its review page, for a pull request: {review}" in applied.stdout
    # The same page as the dry run's, but for the build's outcome: its relaxed tests (none here).
    run_page = review.read_text()
    assert _sections(planned_page) == [s for s in _sections(run_page) if s != "Relaxed tests"]
    assert _sections(run_page)[:4] == ["Sources", "Staging", "Intermediate", "Marts"]
    assert (
        "| `int_sessions_aggregated_to_users` | `user_id` | `stg_app__sessions` | 2: unique 1, not_null 1 |"
        in run_page
    )
    assert "> **Dry run**: this is the plan before its build. No test has run yet" in planned_page
    assert "dbt build passed: models 4 success; tests 9 pass." in run_page
    assert coverage in applied.stdout
    for path in ("models/marts/_marts__models.yml", "models/staging/app/stg_app__users.sql"):
        assert (copy / path).read_bytes() == (project / path).read_bytes()

    again = _cartridge("apply", str(plan_file), *where)
    assert again.returncode == 0, again.stdout + again.stderr
    assert coverage in again.stdout  # from the plan's declared columns: an applied plan reads no warehouse
    assert (
        "Nothing changed: every file already has exactly this content (this plan is already applied)."
        in again.stdout
    )
    assert len(list((project / ".cartridge" / "runs").iterdir())) == 1  # no second run


def _sections(page: str) -> list[str]:
    return [line.removeprefix("## ") for line in page.splitlines() if line.startswith("## ")]


def test_help_shows_flags_without_a_type() -> None:
    result = _cartridge("generate", "--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert any(line.strip().startswith("--dry-run  ") for line in lines)
    assert any(line.strip().startswith("--schema RAW_SCHEMA") for line in lines)
    assert (
        "<bool>" not in result.stdout and "BOOLEAN" not in result.stdout and "list[str]" not in result.stdout
    )


def test_a_property_file_with_lists_at_different_indents_is_merged_and_built(tmp_path: Path) -> None:
    project = _project(tmp_path)
    properties = project / "models/marts/_marts__models.yml"
    mixed = (
        "sources:\n- name: legacy\n  schema: raw_legacy\n  tables:\n  - name: things\n"
        "models:\n    - name: legacy_users\n      description: Hand written.\n"
    )
    properties.write_text(mixed)
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    result = _cartridge("generate", *where, "--schema", "raw_app")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dbt build passed" in result.stdout
    merged = properties.read_text()
    assert merged.startswith(mixed)  # every byte the user wrote, then the marts at the models' indent
    added = merged[len(mixed) :].splitlines()
    assert added and added[0].startswith("    - name: ")


def test_a_long_list_goes_whole_into_the_runs_report_file_and_the_pipe_gets_short_lines(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path)
    columns = ", ".join(f"reading_{i:03} double" for i in range(300))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        connection.execute(f"create table raw_app.meters (id integer primary key, {columns})")
    where = ["--project-dir", str(project), "--profiles-dir", str(project)]
    result = _cartridge("generate", *where, "--schema", "raw_app")
    assert result.returncode == 0, result.stdout + result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) < 400  # was one line of ~10,000
    (run,) = (project / ".cartridge" / "runs").iterdir()
    report = run / "report.txt"
    assert f"The run's whole report: {report}" in result.stdout
    listed = {line.strip() for line in report.read_text().splitlines() if line.startswith("  ")}
    assert {f"stg_app__meters.reading_{i:03}" for i in range(300)} <= listed
    line = next(line for line in result.stdout.splitlines() if "columns left undescribed" in line)
    assert line.endswith(f"all listed in {report}")
