"""The package's floors, mechanized: a module imports only from its own floor or the floors below it.

Shared parts (files, SQL names, settings, the dbt runner) sit at the bottom; the stages stand on them in
pipeline order; the API and the faces over it are on top. An import that climbs (a shared part reaching
into a stage, a stage into a later one) is what turns a change in one stage into a surprise in another,
so the whole graph is read here from the source (every `import`, also in functions and TYPE_CHECKING
blocks) and each climbing import is named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "cartridge_bridge"

# Bottom first. Each entry: the floor's name and the modules or folders of the package on it.
FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("errors", "progress", "stage_clock")),
    ("files", ("files",)),
    ("sql", ("sql",)),
    ("settings", ("config",)),
    ("dbt", ("dbt",)),
    ("gather", ("gather",)),
    ("context", ("context",)),
    ("planning", ("planning",)),
    ("render", ("render",)),
    ("write", ("write",)),
    ("verify", ("verify",)),
    ("review", ("review",)),
    ("api", ("undo_api", "options", "planners", "api")),
    ("demo", ("demo",)),
    ("cli", ("cli",)),
)


def module_name(path: Path, root: Path) -> str:
    """`cartridge_bridge/write/journal.py` → `cartridge_bridge.write.journal` (a package is its folder)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor_of(module: str) -> int | None:
    """The floor a module of the package stands on, by its own name or its top folder; None: on no floor."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != PACKAGE:
        return None
    for number, (_, members) in enumerate(FLOORS):
        if parts[1] in members:
            return number
    return None


def imported_modules(path: Path, module: str, known: set[str]) -> list[tuple[int, str]]:
    """The package's modules a file imports, with the line of each import (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = module.split(".") if is_package else module.split(".")[:-1]
            if node.level:
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from package import module` imports the module; `from module import name` the module itself.
            submodules = [f"{target}.{alias.name}" for alias in node.names]
            if any(name in known for name in submodules):
                found += [(node.lineno, name) for name in submodules if name in known]
            else:
                found.append((node.lineno, target))
    return [(line, name) for line, name in found if name == PACKAGE or name.startswith(PACKAGE + ".")]


def climbing_imports(root: Path) -> list[str]:
    """Every import of a module on a higher floor, and every module on no floor, as one line each."""
    files = sorted((root / PACKAGE).rglob("*.py"))
    modules = {module_name(path, root): path for path in files}
    problems: list[str] = []
    for module, path in modules.items():
        if module == PACKAGE:
            continue
        floor = floor_of(module)
        shown = path.relative_to(root).as_posix()
        if floor is None:
            problems.append(f"{shown} is on no floor: add its folder to FLOORS in {Path(__file__).name}")
            continue
        for line, target in imported_modules(path, module, set(modules)):
            target_floor = floor_of(target)
            if target_floor is not None and target_floor > floor:
                target_path = target.replace(".", "/")
                problems.append(
                    f"{shown}:{line} imports {target_path} "
                    f"(floor {target_floor} {FLOORS[target_floor][0]} above {floor} {FLOORS[floor][0]})"
                )
    return problems


def test_no_import_climbs_to_a_higher_floor() -> None:
    problems = climbing_imports(ROOT)
    assert not problems, "\n".join(problems)


def test_every_floor_folder_exists() -> None:
    """A floor naming a folder or module that is gone would pass everything by placing nothing."""
    for name, members in FLOORS:
        for member in members:
            folder, module = ROOT / PACKAGE / member, ROOT / PACKAGE / f"{member}.py"
            assert folder.is_dir() or module.is_file(), (
                f"floor {name}: {member} is neither a folder nor a module"
            )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from cartridge_bridge.planning.plan import ExecutionPlan\n",
            "imports cartridge_bridge/planning/plan",
        ),
        ("import cartridge_bridge.verify.loop\n", "imports cartridge_bridge/verify/loop"),
        ("from cartridge_bridge.planning import plan\n", "imports cartridge_bridge/planning/plan"),
        (
            "def late():\n    from ..planning.plan import ExecutionPlan\n",
            "imports cartridge_bridge/planning/plan",
        ),
    ],
)
def test_a_climbing_import_is_named(tmp_path: Path, source: str, expected: str) -> None:
    package = tmp_path / PACKAGE
    for folder in ("sql", "planning", "verify"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "planning" / "plan.py").write_text("ExecutionPlan = object\n")
    (package / "verify" / "loop.py").write_text("")
    (package / "sql" / "naming.py").write_text(source)
    problems = climbing_imports(tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"cartridge_bridge/sql/naming.py:{source.count(chr(10))} {expected} (floor")
    assert "above 2 sql" in problems[0]


def test_an_import_down_or_level_passes(tmp_path: Path) -> None:
    package = tmp_path / PACKAGE
    for folder in ("sql", "planning"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "sql" / "naming.py").write_text("RESERVED = set()\n")
    (package / "planning" / "plan.py").write_text(
        "from cartridge_bridge.sql.naming import RESERVED\nfrom . import checks\n"
    )
    (package / "planning" / "checks.py").write_text("")
    assert climbing_imports(tmp_path) == []


def test_a_module_on_no_floor_is_named(tmp_path: Path) -> None:
    (tmp_path / PACKAGE / "stray").mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (tmp_path / PACKAGE / "stray" / "thing.py").write_text("")
    problems = climbing_imports(tmp_path)
    assert any(p.startswith("cartridge_bridge/stray/thing.py is on no floor") for p in problems), problems
