"""cartridge next to dbt: `cartridge generate` from a clean project against `dbt build` alone on what it generated.

Two projects on embedded PostgreSQL: the demo shop (5 raw tables, no test relaxed) and a real connector
whose first build relaxes a test, so that generate runs a repair round: shopify from
../shared/datasets/fivetran (43 tables, 107 models; its data breaks one planned relationships test,
`stg_shopify__collection_product.collection_id`, which the first build fails and the repair round relaxes
to warn and reruns). Of the ten connectors `bench/quality.py` runs, it is the only one whose first build
still relaxes a test (the others' refuted keys are planned at warn while gathering). Each run copies the
clean project, times `cartridge generate --yes` as a whole process, then copies the generated project
without its `target/` (so dbt parses as a user's first `dbt build` would) and times `dbt build` there.
The two alternate run by run, so a slow minute of a shared machine lands on both; the figures are
medians, and the ratio is the one issue 21 sets targets for (1.2x on the demo, 1.3x with relaxed tests).
The last generate's stage line (where the time went) is printed under each project.

    python bench/bench_overhead.py [--runs 3] [--only demo|shopify]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.postgres_project import new_project, profiles_yml  # noqa: E402
from bench.quality import DATASETS, load  # noqa: E402
from cartridge_bridge.demo.load_raw import load_shop  # noqa: E402
from cartridge_bridge.demo.local_postgres import LocalPostgres, start_postgres, stop_postgres  # noqa: E402
from cartridge_bridge.demo.shop_data import shop_tables  # noqa: E402

CONNECTOR = "shopify"  # the connector whose first build relaxes a test (see the docstring)
BIN = Path(sys.executable).parent  # the virtualenv's cartridge and dbt
LAYERS = (
    "models:\n  {name}:\n    staging: {{+materialized: view}}\n    intermediate: {{+materialized: view}}\n"
    "    marts: {{+materialized: table}}\n"
)


def clean_project(folder: Path, name: str, server: LocalPostgres, raw_schema: str, source: str) -> Path:
    """A new project with the cartridge package installed, pointed at `raw_schema`, building into its own schema."""
    project = folder / f"clean_{name}"
    new_project(project, f"{name}_project", server, threads=4, extra=LAYERS.format(name=f"{name}_project"))
    (project / "profiles.yml").write_text(profiles_yml(server, f"analytics_{name}", threads=4))
    (project / "cartridge.yml").write_text(f"schemas: [{raw_schema}]\nsource_name: {source}\n")
    return project


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    """Seconds of one whole process and its output; a failure stops the bench with the process's own words."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise SystemExit(f"{' '.join(command[:2])} failed in {cwd} (exit {done.returncode}):\n{tail}")
    return seconds, done.stdout


def measure(name: str, clean: Path, folder: Path, runs: int) -> dict[str, object]:
    """Alternate generate and dbt build `runs` times; medians, ratio and the last generate's stage line."""
    generate_seconds, build_seconds, output = [], [], ""
    for run in range(runs):
        project = folder / f"{name}_{run}"
        shutil.copytree(clean, project, symlinks=True)
        seconds, output = timed(
            [str(BIN / "cartridge"), "generate", "--yes", "--project-dir", ".", "--profiles-dir", "."],
            project,
        )
        generate_seconds.append(seconds)
        alone = folder / f"{name}_{run}_dbt"
        shutil.copytree(project, alone, symlinks=True, ignore=shutil.ignore_patterns("target", ".cartridge"))
        seconds, _ = timed([str(BIN / "dbt"), "build", "--project-dir", ".", "--profiles-dir", "."], alone)
        build_seconds.append(seconds)
    generate, build = statistics.median(generate_seconds), statistics.median(build_seconds)
    shown = ("Time by stage", "Done in", "dbt build passed", "relaxed to warn")
    stages = [line.strip() for line in output.splitlines() if line.strip().startswith(shown)]
    if name == CONNECTOR and not any(line.startswith("relaxed to warn") for line in stages):
        raise SystemExit(
            f"{name}'s first build relaxed no test: no repair round to measure, pick another connector"
        )
    return {
        "project": name,
        "generate": generate,
        "build": build,
        "ratio": generate / build,
        "spread": (min(generate_seconds), max(generate_seconds), min(build_seconds), max(build_seconds)),
        "stages": stages,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_overhead.py", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (default 3)")
    parser.add_argument("--only", choices=["demo", CONNECTOR], help="one project only")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="cartridge-overhead-") as scratch:
        folder = Path(scratch)
        server = start_postgres(folder / "pg")
        try:
            if args.only in (None, "demo"):
                import psycopg2

                connection = psycopg2.connect(server.dsn)
                try:
                    load_shop(connection, "raw", shop_tables())
                finally:
                    connection.close()
                clean = clean_project(folder, "demo", server, "raw", "shop")
                results.append(measure("demo", clean, folder, args.runs))
            if args.only in (None, CONNECTOR):
                schema = load(DATASETS / CONNECTOR, server, folder)
                clean = clean_project(folder, CONNECTOR, server, schema, CONNECTOR)
                results.append(measure(CONNECTOR, clean, folder, args.runs))
        finally:
            stop_postgres(folder / "pg")
    print(f"generate vs dbt build alone, medians of {args.runs} alternating runs (whole processes)")
    print(f"{'project':<8} {'generate':>9} {'dbt build':>10} {'ratio':>6}  spread (generate; build)")
    for r in results:
        g0, g1, b0, b1 = r["spread"]  # type: ignore[misc]
        print(
            f"{r['project']:<8} {r['generate']:>8.1f}s {r['build']:>9.1f}s {r['ratio']:>5.2f}x"
            f"  {g0:.1f}-{g1:.1f}; {b0:.1f}-{b1:.1f}"
        )
        for line in r["stages"]:  # type: ignore[attr-defined]
            print(f"         {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
