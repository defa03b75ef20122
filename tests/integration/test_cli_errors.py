"""The command line's contract for mistakes: one line naming the culprit, exit 2, nothing changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import snapshot_tree, write_project

from cartridge_bridge.dbt.runner import DbtProject

BIN = Path(sys.executable).parent


def _cartridge(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cartridge"), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _one_line_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_version() -> None:
    result = _cartridge("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "cartridge 0.1.0"


def test_not_a_dbt_project(tmp_path: Path) -> None:
    _one_line_error(
        _cartridge("generate", "--project-dir", str(tmp_path)), 2, str(tmp_path), "dbt_project.yml"
    )


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (["generate", "--no-such-flag"], "No such option: --no-such-flag"),
        (["apply"], "Missing argument"),
        (["plan", "--format", "xml"], "'--format': 'xml' is not one of 'table', 'json', 'mermaid'"),
        (["plan", "--concurrency", "0"], "'--concurrency'"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_option(args: list[str], culprit: str) -> None:
    result = _cartridge(*args)  # stderr is a pipe here: no terminal to make room for a usage box
    _one_line_error(result, 2, culprit)
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def _plan_document(**fields: object) -> dict[str, object]:
    """A plan that validates (no actions) but for the fields given."""
    plan = {
        "plan_version": 3,
        "project_name": "p",
        "strategy": "greenfield",
        "planner": "rules",
        "adapter_type": "duckdb",
        "actions": [],
    }
    return plan | fields


@pytest.mark.parametrize("planner", ["evil\x1b[31mred\nerror: forged", "\u202eselur", "x" * 101, ""])
def test_a_planner_that_is_not_a_short_printable_label_is_refused_at_load(
    tmp_path: Path, planner: str
) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(_plan_document(planner=planner)))
    result = _cartridge("apply", str(plan_file), "--project-dir", str(tmp_path))
    _one_line_error(result, 2, "plan.json", "planner", "printable label")
    assert result.stderr.count("\n") == 1 and "\x1b" not in result.stderr


def test_a_huge_file_path_is_one_short_line(tmp_path: Path) -> None:
    source = {
        "step_id": 1,
        "type": "create_source",
        "name": "shop",
        "file_path": "models/" + "a" * 100_000 + ".yml",
        "description": "Shop.",
        "spec": {
            "kind": "source",
            "source_name": "shop",
            "schema_name": "raw",
            "description": ".",
            "tables": [],
        },
    }
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(_plan_document(actions=[source])))
    result = _cartridge("apply", str(plan_file), "--project-dir", str(tmp_path))
    _one_line_error(result, 2, "shop: file_path: is 100,011 characters long")
    assert len(result.stderr) < 300


def test_a_plan_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_bytes(
        json.dumps(_plan_document(project_name="caf\u00e9"), ensure_ascii=False).encode("latin-1")
    )
    _one_line_error(_cartridge("apply", str(plan_file), "--project-dir", str(tmp_path)), 2, str(plan_file))


def test_missing_plan_file(tmp_path: Path) -> None:
    _one_line_error(_cartridge("apply", str(tmp_path / "nope.json")), 2, "nope.json")


def test_plan_file_that_is_not_a_plan(tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"strategy": "sideways"}')
    _one_line_error(_cartridge("apply", str(bad)), 2, "plan.json", "plan_version", "not supported")


def test_plan_file_with_several_problems_lists_them_all(tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"plan_version": 3, "strategy": "sideways", "planner": "[bold]me[/bold]"}')
    result = _cartridge("apply", str(bad))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    first, *listed = result.stderr.strip().splitlines()
    assert first.startswith("error: plan file ") and first.endswith(f"has {len(listed)} problems:")
    assert all(line.startswith("  - (plan): ") for line in listed)
    fields = {line.split(": ")[1] for line in listed}
    assert fields == {"strategy", "project_name", "adapter_type", "actions"}


def test_invalid_cartridge_yml_names_the_key(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", "p", {"type": "duckdb", "path": str(tmp_path / "w.duckdb")})
    (project / "cartridge.yml").write_text("schemas: [raw]\nconventions:\n  staging_prefix: s_\n")
    before = snapshot_tree(project)
    _one_line_error(
        _cartridge("generate", "--project-dir", str(project)), 2, "cartridge.yml", "staging_prefix"
    )
    assert snapshot_tree(project) == before


def test_no_schema_named(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", "p", {"type": "duckdb", "path": str(tmp_path / "w.duckdb")})
    result = _cartridge("generate", "--project-dir", str(project), "--profiles-dir", str(project))
    _one_line_error(result, 2, "--schema")


@pytest.mark.parametrize("command", ["undo"])
def test_undo_without_runs(tmp_path: Path, command: str) -> None:
    _one_line_error(_cartridge(command, "--project-dir", str(tmp_path)), 2, "no applied cartridge run")


def test_package_not_installed(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", "p", {"type": "duckdb", "path": str(tmp_path / "w.duckdb")})
    (project / "packages.yml").unlink()
    result = _cartridge(
        "generate", "--project-dir", str(project), "--profiles-dir", str(project), "--schema", "raw"
    )
    _one_line_error(result, 2, "cartridge init")


def test_a_schema_that_does_not_exist_is_named(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", "p", {"type": "duckdb", "path": str(tmp_path / "w.duckdb")})
    DbtProject(project).deps()
    before = snapshot_tree(project)
    result = _cartridge(
        "generate", "--project-dir", str(project), "--profiles-dir", str(project), "--schema", "nope"
    )
    _one_line_error(result, 2, "cartridge.gather: argument 'schemas'", "nope")
    assert snapshot_tree(project) == before


def test_a_property_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p",
        "p",
        {"type": "duckdb", "path": str(tmp_path / "w.duckdb")},
        models={"models/legacy.sql": "select 1 as id\n"},
    )
    (project / "models" / "_models.yml").write_bytes(b"models:\n  - name: legacy\n    description: caf\xe9\n")
    DbtProject(project).deps()
    before = snapshot_tree(project)
    result = _cartridge(
        "generate", "--project-dir", str(project), "--profiles-dir", str(project), "--schema", "raw"
    )
    _one_line_error(result, 2, "models/_models.yml is not UTF-8 text")
    assert snapshot_tree(project) == before


@pytest.mark.parametrize("command", ["plan", "generate"])
def test_an_unknown_planner_is_one_line_naming_it_and_the_known_ones(tmp_path: Path, command: str) -> None:
    project = write_project(tmp_path / "p", "p", {"type": "duckdb", "path": str(tmp_path / "w.duckdb")})
    before = snapshot_tree(project)
    result = _cartridge(command, "--project-dir", str(project), "--schema", "raw", "--planner", "ruels")
    _one_line_error(result, 2, "--planner: unknown planner 'ruels'", "llm, rules")
    assert "dbt parse" not in result.stderr  # refused before any work
    assert snapshot_tree(project) == before


def test_the_demo_refuses_an_unknown_planner_before_starting_postgres(tmp_path: Path) -> None:
    result = _cartridge("demo", "--dir", str(tmp_path / "demo"), "--planner", "ruels")
    _one_line_error(result, 2, "--planner: unknown planner 'ruels'")
    assert not (tmp_path / "demo").exists()
