"""The wheel carries the dbt package, so a user who only ran `pip install` can install it into a project."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_wheel_ships_the_dbt_package_and_templates(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("cartridge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "cartridge_bridge/dbt_package/dbt_project.yml" in names
    assert "cartridge_bridge/dbt_package/macros/gather/gather.sql" in names
    assert "cartridge_bridge/render/templates/staging.sql.j2" in names
    # the LLM prompts are package data too
    assert "cartridge_bridge/planning/llm/prompts/planner_system.j2" in names
    macros = {n for n in (ROOT / "macros").rglob("*") if n.is_file()}
    shipped = {n for n in names if n.startswith("cartridge_bridge/dbt_package/macros/")}
    assert len(shipped) == len(macros)
