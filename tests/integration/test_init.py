"""`cartridge init`: a vendored copy listed with a relative path (or a pinned git entry), installed by dbt deps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import duckdb_output, write_project

from cartridge_bridge import __version__
from cartridge_bridge.dbt.package_install import package_dir, package_files

BIN = Path(sys.executable).parent
OLD_ENTRY = "/home/ana/.venv/lib/python3.11/site-packages/cartridge_bridge/dbt_package"


def _init(project: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cartridge"), "init", "--project-dir", str(project), *flags],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _project(tmp_path: Path, packages: str | None) -> Path:
    project = write_project(tmp_path / "p", "p", duckdb_output(tmp_path / "w.duckdb"))
    if packages is None:
        (project / "packages.yml").unlink()
    else:
        (project / "packages.yml").write_text(packages)
    return project


def _other_package(tmp_path: Path) -> None:
    other = tmp_path / "other_package"
    other.mkdir()
    (other / "dbt_project.yml").write_text("name: other_package\nversion: '1.0'\nconfig-version: 2\n")


def _snapshot(project: Path) -> dict[str, bytes]:
    """Every file cartridge init may touch (dbt's own dbt_packages/ and logs/ left out)."""
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and not {"dbt_packages", "logs", "target"} & set(path.relative_to(project).parts)
    }


def _one_line_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    assert all(fragment in lines[-1] for fragment in fragments), lines[-1]


def test_init_vendors_the_package_lists_it_relatively_and_dbt_deps_installs_it(tmp_path: Path) -> None:
    _other_package(tmp_path)
    mine = "packages:\n  # vendored helpers\n  - local: ../other_package\n"
    project = _project(tmp_path, mine)
    result = _init(project)
    assert result.returncode == 0, result.stderr
    assert (project / "packages.yml").read_text() == mine + "  - local: vendor/cartridge\n"
    vendored = project / "vendor" / "cartridge"
    assert package_files(vendored) == package_files(package_dir())
    assert sorted(p.name for p in vendored.iterdir()) == ["dbt_project.yml", "macros"]
    assert f"Copied the cartridge package {__version__} into vendor/cartridge." in result.stdout
    assert "Commit vendor/cartridge" in result.stdout
    installed = project / "dbt_packages" / "cartridge"
    assert (installed / "macros" / "gather" / "gather.sql").is_file()
    assert installed.resolve() == vendored.resolve()
    assert (project / "dbt_packages" / "other_package").exists()
    assert "local: vendor/cartridge" in (project / "package-lock.yml").read_text()


def test_a_second_init_changes_nothing(tmp_path: Path) -> None:
    project = _project(tmp_path, None)
    assert _init(project).returncode == 0
    before = _snapshot(project)
    assert set(before) >= {"packages.yml", "package-lock.yml", "vendor/cartridge/dbt_project.yml"}
    again = _init(project)
    assert again.returncode == 0, again.stderr
    assert _snapshot(project) == before
    assert f"vendor/cartridge already holds cartridge {__version__}" in again.stdout
    assert "packages.yml already lists cartridge as local: vendor/cartridge." in again.stdout


def test_an_older_copy_is_refreshed_and_the_command_says_so(tmp_path: Path) -> None:
    project = _project(tmp_path, None)
    assert _init(project, "--no-deps").returncode == 0
    vendored = project / "vendor" / "cartridge"
    manifest = vendored / "dbt_project.yml"
    manifest.write_text(manifest.read_text().replace(f'version: "{__version__}"', 'version: "0.0.1"'))
    (vendored / "macros" / "gather" / "_retired_helper.sql").write_text(
        "{% macro _retired() %}{% endmacro %}\n"
    )
    result = _init(project)
    assert result.returncode == 0, result.stderr
    assert f"Refreshed vendor/cartridge from cartridge 0.0.1 to {__version__}." in result.stdout
    assert package_files(vendored) == package_files(package_dir())
    assert (project / "dbt_packages" / "cartridge" / "macros" / "gather" / "gather.sql").is_file()


def test_an_absolute_entry_from_an_older_cartridge_is_migrated_in_place(tmp_path: Path) -> None:
    mine = (
        "packages:\n"
        "  # installed by cartridge init\n"
        f"  - local: {OLD_ENTRY}  # cartridge\n"
        "  # vendored helpers\n"
        "  - local: ../other_package\n"
    )
    _other_package(tmp_path)
    project = _project(tmp_path, mine)
    result = _init(project)
    assert result.returncode == 0, result.stderr
    expected = mine.replace(f"{OLD_ENTRY}  # cartridge", "vendor/cartridge  # cartridge")
    assert (project / "packages.yml").read_text() == expected
    assert (project / "dbt_packages" / "cartridge" / "macros" / "gather" / "gather.sql").is_file()


def test_a_git_entry_is_written_with_its_revision(tmp_path: Path) -> None:
    project = _project(tmp_path, "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n")
    result = _init(
        project,
        "--git",
        "https://github.com/example/cartridge.git",
        "--revision",
        "v0.1.0",
        "--subdirectory",
        "pkg",
        "--no-deps",
    )
    assert result.returncode == 0, result.stderr
    assert (project / "packages.yml").read_text() == (
        "packages:\n"
        "  - package: dbt-labs/dbt_utils\n"
        "    version: 1.3.0\n"
        "  - git: https://github.com/example/cartridge.git\n"
        "    revision: v0.1.0\n"
        "    subdirectory: pkg\n"
    )
    assert not (project / "vendor").exists() and not (project / "package-lock.yml").exists()
    assert "dbt deps was not run" in result.stdout


def test_cartridge_yml_can_ask_for_git_and_a_flag_moves_back_to_a_copy(tmp_path: Path) -> None:
    project = _project(tmp_path, None)
    (project / "cartridge.yml").write_text(
        "package_install:\n  mode: git\n  git: https://github.com/example/cartridge.git\n  revision: 0123abc\n"
    )
    assert _init(project, "--no-deps").returncode == 0
    assert (project / "packages.yml").read_text() == (
        "packages:\n  - git: https://github.com/example/cartridge.git\n    revision: 0123abc\n"
    )
    result = _init(project, "--vendor-dir", "third_party/cartridge", "--no-deps")
    assert result.returncode == 0, result.stderr
    assert (project / "packages.yml").read_text() == "packages:\n  - local: third_party/cartridge\n"
    assert (project / "third_party" / "cartridge" / "dbt_project.yml").is_file()


def test_a_project_that_keeps_packages_in_dependencies_yml(tmp_path: Path) -> None:
    _other_package(tmp_path)
    project = _project(tmp_path, None)
    mine = "# dbt 1.6+ style\npackages:\n  - local: ../other_package\n"
    (project / "dependencies.yml").write_text(mine)
    result = _init(project)
    assert result.returncode == 0, result.stderr
    assert (project / "dependencies.yml").read_text() == mine + "  - local: vendor/cartridge\n"
    assert not (project / "packages.yml").exists()
    assert "dependencies.yml now lists cartridge" in result.stdout
    assert (project / "dbt_packages" / "cartridge" / "macros" / "gather" / "gather.sql").is_file()


def test_a_failing_dbt_deps_leaves_the_project_as_it_was(tmp_path: Path) -> None:
    mine = "packages:\n  - local: ../not_there  # a typo the user has yet to fix\n"
    project = _project(tmp_path, mine)
    before = _snapshot(project)
    result = _init(project)
    _one_line_error(result, 1, "dbt deps failed")
    assert _snapshot(project) == before
    assert not (project / "vendor").exists()


def test_bad_flags_are_one_line_usage_errors_and_write_nothing(tmp_path: Path) -> None:
    project = _project(tmp_path, None)
    _one_line_error(_init(project, "--git", "https://github.com/example/cartridge.git"), 2, "--revision")
    _one_line_error(_init(project, "--vendor-dir", "models/cartridge"), 2, "models/", "model-paths")
    assert sorted(p.name for p in project.iterdir()) == ["dbt_project.yml", "profiles.yml"]


def test_init_outside_a_dbt_project_is_a_usage_error(tmp_path: Path) -> None:
    result = _init(tmp_path)
    _one_line_error(result, 2, "is not a dbt project")
    assert not (tmp_path / "packages.yml").exists()
