"""`cartridge init`: the package listed in packages.yml (the user's entries kept) and installed by dbt deps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import duckdb_output, write_project

from cartridge_bridge.gather.package_install import package_dir

BIN = Path(sys.executable).parent


def _init(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cartridge"), "init", "--project-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_init_lists_the_package_keeps_the_users_entries_and_installs_it(tmp_path: Path) -> None:
    other = tmp_path / "other_package"
    other.mkdir()
    (other / "dbt_project.yml").write_text("name: other_package\nversion: '1.0'\nconfig-version: 2\n")
    project = write_project(tmp_path / "p", "p", duckdb_output(tmp_path / "w.duckdb"))
    mine = "packages:\n  # vendored helpers\n  - local: ../other_package\n"
    (project / "packages.yml").write_text(mine)
    first = _init(project)
    assert first.returncode == 0, first.stderr
    text = (project / "packages.yml").read_text()
    assert text == mine + f"  - local: {package_dir()}\n"
    assert (project / "dbt_packages" / "cartridge" / "macros" / "gather" / "gather.sql").is_file()
    assert (project / "dbt_packages" / "other_package").exists()
    again = _init(project)
    assert again.returncode == 0, again.stderr
    assert (project / "packages.yml").read_text() == text


def test_init_outside_a_dbt_project_is_a_usage_error(tmp_path: Path) -> None:
    result = _init(tmp_path)
    assert result.returncode == 2
    assert "is not a dbt project" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "packages.yml").exists()
