"""Start-up stays small: `cartridge --help` and `cartridge undo` of a small run import neither dbt nor the heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import shop_project

from cartridge_bridge.write.journal import mark
from cartridge_bridge.write.transaction import apply_changes
from cartridge_bridge.write.workspace import FileChange

_HEAVY = ("dbt", "litellm", "sqlglot", "ruamel")
# Runs the command line as the `cartridge` script does, then names the heavy packages it imported.
_RUN = """
import sys
from cartridge_bridge.cli.app import main
sys.argv = ["cartridge", *sys.argv[1:]]
try:
    main()
except SystemExit as done:
    code = done.code
print("exit", code, "heavy", sorted({m.split(".")[0] for m in sys.modules} & set(%r)))
"""


def _cartridge(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", _RUN % (_HEAVY,), *args], capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1]


def test_help_imports_no_dbt_nor_any_heavy_library() -> None:
    assert _cartridge("--help") == "exit 0 heavy []"


def test_undo_of_a_small_run_imports_no_dbt_nor_any_heavy_library(tmp_path: Path) -> None:
    project = shop_project(tmp_path)
    journal = apply_changes(
        project, [FileChange("models/stg_shop__orders.sql", "create", None, "select 1\n")]
    )
    mark(project, journal, "applied")
    assert _cartridge("undo", "--project-dir", str(project)) == "exit 0 heavy []"
    assert not (project / "models/stg_shop__orders.sql").exists()
