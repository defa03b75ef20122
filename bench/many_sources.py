"""Many sources, one project: connectors whose tables share names generated one after the other into one project.

Loads each named connector of ../shared/datasets/fivetran into its own schema of one embedded PostgreSQL, then
runs `generate` (rules planner) for each in turn into the same new project. Prints, per connector: the build's
result, the models it added, how many of them were qualified by the source because the name was taken, and
whether any file an earlier connector wrote changed (it must not). Default: zuora salesforce netsuite, three
connectors that each have an `account` table.

    python bench/many_sources.py [connector ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.postgres_project import new_project  # noqa: E402
from bench.quality import DATASETS, load  # noqa: E402
from cartridge_bridge.api import ProjectOptions, generate  # noqa: E402
from cartridge_bridge.demo.local_postgres import start_postgres, stop_postgres  # noqa: E402
from cartridge_bridge.errors import CartridgeError, one_line  # noqa: E402
from cartridge_bridge.progress import SilentProgress  # noqa: E402


def files_of(project: Path) -> dict[str, bytes]:
    """Every file under models/, by relative path."""
    return {
        str(p.relative_to(project)): p.read_bytes() for p in (project / "models").rglob("*") if p.is_file()
    }


def main() -> None:
    """Generate each connector into one project, in order, and print what each added and whether it kept the rest."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "datasets", nargs="*", default=["zuora", "salesforce", "netsuite"], metavar="connector"
    )
    names = parser.parse_args().datasets
    with tempfile.TemporaryDirectory(prefix="cartridge-many-") as scratch:
        folder = Path(scratch)
        server = start_postgres(folder / "pg")
        failed = False
        try:
            schemas = {name: load(DATASETS / name, server, folder) for name in names}
            project = folder / "project"
            (project / "models").mkdir(parents=True)
            new_project(project, "many_sources", server, threads=2)
            print("many sources: connectors generated one after the other into one project (rules planner)")
            for name in names:
                before = files_of(project)
                options = ProjectOptions(
                    project_dir=project, profiles_dir=project, schemas=[schemas[name]], source_name=name
                )
                try:
                    report = generate(options, SilentProgress())
                except CartridgeError as failure:
                    print(f"== {name}: generate failed: {one_line(str(failure))}")
                    failed = True
                    continue
                after = files_of(project)
                changed = [
                    p for p, content in before.items() if p.endswith(".sql") and after.get(p) != content
                ]
                models = [a.name for a in report.plan.models()]
                qualified = [m for m in models if f"_{name}_" in m and not m.startswith(f"stg_{name}__")]
                passed = report.build is not None and report.build.success
                print(
                    f"== {name}: build {'passed' if passed else 'FAILED'}; {len(models)} models "
                    f"added, {len(qualified)} qualified by the source; earlier SQL files changed: {len(changed)}"
                )
                if qualified:
                    print(f"   qualified: {', '.join(qualified)}")
                failed |= not passed or bool(changed)
        finally:
            stop_postgres(folder / "pg")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
