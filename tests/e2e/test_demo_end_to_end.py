"""The whole flow as a user runs it: `cartridge demo`, then `dbt build` by hand, then the demo again."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import yaml
from rich.console import Console

from cartridge_bridge.cli.views import show_freshness
from cartridge_bridge.demo.run import stop_demo
from cartridge_bridge.gather.dbt_runner import DbtProject
from cartridge_bridge.gather.package_install import package_dir, package_files

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
BIN = Path(sys.executable).parent


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("demo") / "shop"
    yield directory
    stop_demo(directory)


@pytest.fixture(scope="module")
def first_run(demo_dir: Path) -> subprocess.CompletedProcess[str]:
    return _run(str(BIN / "cartridge"), "demo", "--dir", str(demo_dir))


def test_demo_exits_zero_and_reports_the_build(first_run: subprocess.CompletedProcess[str]) -> None:
    assert first_run.returncode == 0, first_run.stderr + first_run.stdout
    out = first_run.stdout
    assert "Raw data loaded into schema raw: customers 1,000" in out
    assert "dbt build passed: models 19 success; tests 41 pass" in out
    assert "Source freshness: 5 of 5 new source tables checked; 0 have no loader timestamp." in out
    # After the build, dbt's own freshness check of every raw table, loaded moments ago.
    assert re.search(
        r"^dbt source freshness passed: 5 source tables, 5 pass; the oldest load \d+ s old\.$", out, re.M
    )
    for layer in ("sources", "staging", "intermediate", "marts"):
        assert layer in out
    assert "Demo finished in" in out


def test_demo_project_has_every_layer_with_tests_and_descriptions(
    first_run: subprocess.CompletedProcess[str], demo_dir: Path
) -> None:
    assert first_run.returncode == 0
    models = demo_dir / "models"
    sql = sorted(p.relative_to(models).as_posix() for p in models.rglob("*.sql"))
    assert "staging/shop/stg_shop__customers.sql" in sql
    assert {"marts/dim_customers.sql", "marts/dim_products.sql", "marts/fct_orders.sql"} <= set(sql)
    assert any(p.startswith("intermediate/int_") for p in sql)
    manifest = json.loads((demo_dir / "target" / "manifest.json").read_text())
    ours = [n for n in manifest["nodes"].values() if n["package_name"] == "shop_demo"]
    models_ = [n for n in ours if n["resource_type"] == "model"]
    tests = [n for n in ours if n["resource_type"] == "test"]
    assert (
        len(models_) == 19
    )  # the time spine, the daily payments, the monthly orders per customer, completed
    # orders and a roll-up included
    assert all(n["description"] for n in models_)
    columns = [(n["name"], c) for n in models_ for c in n["columns"].values()]
    tested_columns = {(t["attached_node"].rsplit(".", 1)[-1], t["column_name"]) for t in tests}
    assert all(
        c["description"] for m, c in columns if (m, c["name"]) in tested_columns
    )  # keys say what they are
    # No filler: the columns nothing describes are left for the user, and the report lists them.
    undescribed = [f"{m}.{c['name']}" for m, c in columns if not c["description"]]
    assert f"{len(undescribed)} columns left undescribed" in first_run.stdout
    prefix = "The run's whole report: "
    report = Path(
        next(line for line in first_run.stdout.splitlines() if line.startswith(prefix))[len(prefix) :]
    )
    listed = {line.strip() for line in report.read_text().splitlines()}
    assert set(undescribed) <= listed  # every one in the run's report file
    tested = {(t["attached_node"].rsplit(".", 1)[-1], t["test_metadata"]["name"]) for t in tests}
    for model in ("stg_shop__customers", "dim_customers", "fct_orders"):
        assert (model, "unique") in tested and (model, "not_null") in tested
    assert ("stg_shop__orders", "relationships") in tested
    # each foreign key is tested once, in staging
    assert not [(m, t) for m, t in tested if t == "relationships" and not m.startswith("stg_")]
    sources = [s for s in manifest["sources"].values() if s["package_name"] == "shop_demo"]
    assert {s["name"] for s in sources} == {"customers", "orders", "order_items", "products", "payments"}


def test_the_demo_run_writes_its_review_page_which_git_ignores(
    first_run: subprocess.CompletedProcess[str], demo_dir: Path
) -> None:
    assert first_run.returncode == 0
    (page,) = (demo_dir / ".cartridge" / "runs").glob("*/review.md")
    assert f"Its review page, for a pull request: {page}" in first_run.stdout
    text = page.read_text()
    manifest = json.loads((demo_dir / "target" / "manifest.json").read_text())
    models = [n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    sections = dict(part.split("\n", 1) for part in text.split("\n## ")[1:])
    rows = [
        line for layer in ("Staging", "Intermediate", "Marts") for line in sections[layer].splitlines()
        if line.startswith("| `")
    ]  # fmt: skip
    assert sorted(row.split("`")[1] for row in rows) == sorted(models)
    assert len(re.findall(r'^        n\d+\["', text, re.MULTILINE)) == len(models) + 5  # and 5 raw tables
    assert "*" in (demo_dir / ".cartridge" / ".gitignore").read_text().splitlines()  # never committed


def test_the_loaders_timestamp_checks_freshness_and_stays_in_staging(
    first_run: subprocess.CompletedProcess[str], demo_dir: Path
) -> None:
    assert first_run.returncode == 0
    manifest = json.loads((demo_dir / "target" / "manifest.json").read_text())
    sources = [s for s in manifest["sources"].values() if s["package_name"] == "shop_demo"]
    assert {s["loaded_at_field"] for s in sources} == {"_loaded_at"}
    assert all(s["freshness"]["warn_after"] == {"count": 24, "period": "hour"} for s in sources)
    assert all(s["freshness"]["error_after"] == {"count": 48, "period": "hour"} for s in sources)
    ours = [n for n in manifest["nodes"].values() if n["package_name"] == "shop_demo"]
    carrying = {n["name"] for n in ours if n["resource_type"] == "model" and "_loaded_at" in n["columns"]}
    assert carrying == {f"stg_shop__{s['name']}" for s in sources}  # staging only: no mart, no aggregate
    for model in (demo_dir / "models").rglob("*.sql"):
        if not model.name.startswith("stg_"):
            assert "_loaded_at" not in model.read_text(), model  # no measure, dimension or key of it
    assert not [t for t in ours if t["resource_type"] == "test" and t.get("column_name") == "_loaded_at"]
    # dbt's own record of the demo's freshness run: each table's newest load, judged fresh.
    results = json.loads((demo_dir / "target" / "sources.json").read_text())["results"]
    assert sorted(r["unique_id"].rsplit(".", 1)[-1] for r in results) == sorted(s["name"] for s in sources)
    assert all(r["status"] == "pass" and 0 <= r["max_loaded_at_time_ago_in_s"] < 600 for r in results)


def test_a_stale_source_shows_in_the_freshness_line(
    first_run: subprocess.CompletedProcess[str], demo_dir: Path
) -> None:
    """A table whose loader stopped: dbt warns, and the demo's line names it with its age."""
    assert first_run.returncode == 0
    profile = yaml.safe_load((demo_dir / "profiles.yml").read_text())["shop_demo"]["outputs"]["dev"]
    connection = psycopg2.connect(
        host=profile["host"], port=profile["port"], user="postgres", dbname="postgres"
    )
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("update raw.orders set _loaded_at = now() - interval '30 hours'")
    finally:
        connection.close()
    freshness = DbtProject(demo_dir, demo_dir).source_freshness()
    console = Console(record=True, width=400, color_system=None)
    show_freshness(console, freshness)
    line = console.export_text().strip()
    assert line == (
        "dbt source freshness warned: 5 source tables, 4 pass, 1 warn; shop.orders warn (30.0 hours old)."
    )
    assert freshness.success  # a warning is no failure, for dbt as for the demo's exit code


def test_dbt_build_by_hand_passes_without_warnings(
    first_run: subprocess.CompletedProcess[str], demo_dir: Path
) -> None:
    assert first_run.returncode == 0
    build = _run(str(BIN / "dbt"), "build", "--no-send-anonymous-usage-stats", cwd=demo_dir)
    assert build.returncode == 0, build.stdout[-3000:]
    assert "PASS=60 WARN=0 ERROR=0" in build.stdout
    assert "[WARNING]" not in build.stdout and "was not found" not in build.stdout


def test_running_the_demo_again_changes_nothing(
    first_run: subprocess.CompletedProcess[str], demo_dir: Path
) -> None:
    assert first_run.returncode == 0
    files = {p: p.read_bytes() for p in (demo_dir / "models").rglob("*") if p.is_file()}
    again = _run(str(BIN / "cartridge"), "demo", "--dir", str(demo_dir))
    assert again.returncode == 0, again.stderr
    assert "Nothing changed" in again.stdout
    assert "Raw data: already loaded in schema raw, synced again" in again.stdout
    # The run synced the loader's timestamp again: a table that had gone stale is fresh once more.
    assert "dbt source freshness passed: 5 source tables, 5 pass" in again.stdout
    assert {p: p.read_bytes() for p in (demo_dir / "models").rglob("*") if p.is_file()} == files


def test_demo_project_installs_cartridge_from_a_vendored_copy(
    first_run: subprocess.CompletedProcess[str], demo_dir: Path
) -> None:
    assert first_run.returncode == 0
    assert (demo_dir / "packages.yml").read_text() == "packages:\n  - local: vendor/cartridge\n"
    assert package_files(demo_dir / "vendor" / "cartridge") == package_files(package_dir())


def test_demo_refuses_a_directory_that_is_not_a_demo(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = _run(str(BIN / "cartridge"), "demo", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: --dir")
    assert "Traceback" not in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_cartridge_context_on_the_demo_project(
    first_run: subprocess.CompletedProcess[str], demo_dir: Path
) -> None:
    assert first_run.returncode == 0
    shown = subprocess.run(
        [str(BIN / "cartridge"), "context", "--project-dir", str(demo_dir), "--profiles-dir", str(demo_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "Project shop_demo (postgres), brownfield: 19 models, 5 source tables." in out
    assert "already a source → stg_shop__customers" in out
    assert "Conventions (from 19 models)" in out
    assert "stg_{source}__{table}" in out and "5/5" in out
