"""The documentation site builds with no warning, and names every CLI option and every dbt macro."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from cartridge_bridge.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# A fenced code block, for "with an example": the macro's name must appear inside one in its section.
FENCED = re.compile(r"^(`{3,}|~{3,})[^\n]*\n.*?^\1", re.MULTILINE | re.DOTALL)
MACRO_DEFINITION = re.compile(r"\{%-?\s*(?:macro|test)\s+(\w+)\s*\(")
# Private macros the bridge calls by name (`cartridge._relations`): a user sees them run, so they are documented.
BRIDGE_MACRO_CALL = re.compile(r"cartridge\.(_\w+)")


def sections(page: Path) -> dict[str, str]:
    """Each `##`/`###` heading's text and the body under it, up to the next heading of those levels."""
    text = FENCED.sub(lambda m: m.group(0).replace("\n#", "\n "), page.read_text(encoding="utf-8"))
    parts = re.split(r"^#{2,3} (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def option_names(command: Any) -> list[str]:
    """Each option as the docs write it: `--dry-run`, a flag pair as `--build/--no-build`.

    Typed loosely: typer builds its commands on its own copy of click, not the `click` package.
    """
    return ["/".join(p.opts + p.secondary_opts) for p in command.params if p.param_type_name == "option"]


def test_the_site_builds_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,  # the snippets' paths (README.md, schemas/, CHANGELOG.md) are relative to the repository
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = run.stdout + run.stderr
    problems = [line for line in output.splitlines() if line.startswith(("WARNING", "ERROR"))]
    last = output.strip().splitlines()[-1:] if output.strip() else []
    assert run.returncode == 0, f"mkdocs build --strict failed: {problems or last}"
    # The getting-started page includes the README's quickstart rather than a copy of it.
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Quickstart on your own project" in index and "--8&lt;--" not in index


def test_every_cli_option_is_documented_under_its_command() -> None:
    group = typer.main.get_command(app)
    documented = sections(DOCS / "commands.md")
    commands: dict[str, Any] = {"cartridge": group}
    commands.update({f"cartridge {name}": command for name, command in group.commands.items()})  # type: ignore[attr-defined]
    missing = []
    for heading, command in commands.items():
        section = documented.get(f"`{heading}`")
        if section is None:
            missing.append(f"a section `### \\`{heading}\\`` in docs/commands.md")
            continue
        missing += [
            f"{heading} {option}"
            for option in option_names(command)
            if not re.search("`" + re.escape(option) + r"(?![\w-])", section)
        ]
    assert not missing, f"options not documented in docs/commands.md: {missing}"


def public_and_bridge_macros() -> set[str]:
    """Every macro and generic test a user or the bridge calls by name, without adapter implementations."""
    defined = {
        name
        for sql in (ROOT / "macros").rglob("*.sql")
        for name in MACRO_DEFINITION.findall(sql.read_text(encoding="utf-8"))
    }
    public = {name for name in defined if not name.startswith("_") and "__" not in name}
    called = {
        name
        for module in (ROOT / "cartridge_bridge").rglob("*.py")
        for name in BRIDGE_MACRO_CALL.findall(module.read_text(encoding="utf-8"))
    }
    assert "_relations" in called, "the bridge's call of cartridge._relations was not found"
    unknown = called - defined
    assert not unknown, f"the bridge calls macros that macros/ does not define: {sorted(unknown)}"
    return public | called


def test_every_macro_is_documented_with_an_example() -> None:
    macros = public_and_bridge_macros()
    assert {"gather", "period_spine", "unique_combination_of_columns"} <= macros  # the walk found the folders
    documented = sections(DOCS / "dbt-package.md")
    missing = []
    for name in sorted(macros):
        call = f"cartridge.{name}"
        section = next((body for heading, body in documented.items() if f"`{call}`" in heading), None)
        if section is None:
            missing.append(f"{call} (no heading names it)")
        elif not any(
            re.search(re.escape(call) + r"\b", block)
            for block in (m.group(0) for m in FENCED.finditer(section))
        ):
            missing.append(f"{call} (no example in its section)")
    assert not missing, f"macros not documented in docs/dbt-package.md: {missing}"


def test_the_answers_figures_page_is_what_its_results_files_render() -> None:
    from bench.answers_figures import FIGURES, RESULTS, render

    rendered = render()
    assert FIGURES.read_text(encoding="utf-8") == rendered, (
        f"{FIGURES.relative_to(ROOT)} differs from what bench/answers_figures.py renders from "
        f"{[str(r.relative_to(ROOT)) for r in RESULTS]}: run `python bench/answers_figures.py` and commit it"
    )
    for results_file in RESULTS:  # each file's grand total is on the page
        results = json.loads(results_file.read_text(encoding="utf-8"))
        exact = sum(r["totals"]["EXACT"] for r in results)
        assert re.search(rf"^ +total +\d+ +\d+ +{exact} ", rendered, re.MULTILINE), results_file.name
