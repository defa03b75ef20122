"""Scale benchmark: `generate` with the rules planner on 500 raw tables x 30 columns in embedded PostgreSQL.

Creates the raw tables (`t000`…: an `id` primary key, a `<parent>_id` foreign key to the table at half
its index, columns of every type, a few rows each), a new dbt project with the cartridge package and
`threads: 4`, then runs `cartridge_bridge.api.generate` once, as `cartridge generate` would, with a
Progress that timestamps every step it announces. Prints the wall time, the peak memory of the process
(dbt runs in it), the seconds of each stage and whether the build passed.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.postgres_project import new_project  # noqa: E402
from cartridge_bridge.api import ProjectOptions, generate  # noqa: E402
from cartridge_bridge.demo.local_postgres import start_postgres, stop_postgres  # noqa: E402

TABLES, COLUMNS, ROWS, THREADS = 500, 30, 3, 4
SCHEMA = "raw_scale"
TYPES = ("integer", "text", "numeric(12,2)", "timestamp", "boolean", "date")
VALUES = {
    "integer": "{row}",
    "text": "'value {row}'",
    "numeric(12,2)": "{row}.25",
    "timestamp": "'2025-01-0{row} 10:00'",
    "boolean": "{even}",
    "date": "'2025-02-0{row}'",
}
# Each step message the pipeline announces starts with one of these (the first match counts); a stage
# runs until the next step. The project's first `dbt parse` is part of gathering (the gather macro
# runs on its manifest); `parse` is the parse of the generated files.
STAGES = (
    ("parse", "dbt parse ("),
    ("gather", "dbt parse"),
    ("gather", "gather "),
    ("context", "build the context "),
    ("plan", "plan with "),
    ("render", "render "),
    ("write", "write "),
    ("parse", "dbt parse"),
    ("build", "dbt build"),
)

ORDER = ("gather", "context", "plan", "render", "write", "parse", "build")


def _columns(index: int) -> list[tuple[str, str]]:
    columns = [("id", "integer primary key")]
    if index:
        columns.append((f"t{index // 2:03d}_id", f"integer references {SCHEMA}.t{index // 2:03d} (id)"))
    while len(columns) < COLUMNS:
        position = len(columns) + 1
        columns.append((f'"Column{position}Value"', TYPES[position % len(TYPES)]))
    return columns


def create_tables(dsn: str) -> None:
    """The raw schema: TABLES tables of COLUMNS columns, keyed to their parent, ROWS rows each."""
    connection = psycopg2.connect(dsn)
    with connection, connection.cursor() as cursor:
        cursor.execute(f"drop schema if exists {SCHEMA} cascade; create schema {SCHEMA}")
        for index in range(TABLES):
            columns = _columns(index)
            body = ", ".join(f"{name} {kind}" for name, kind in columns)
            cursor.execute(f"create table {SCHEMA}.t{index:03d} ({body})")
            rows = []
            for row in range(1, ROWS + 1):
                values = [str(row)] + ([str(row)] if index else [])
                for _, kind in columns[len(values) :]:
                    values.append(VALUES[kind].format(row=row, even=str(row % 2 == 0).lower()))
                rows.append(f"({', '.join(values)})")
            cursor.execute(f"insert into {SCHEMA}.t{index:03d} values {', '.join(rows)}")
    connection.close()


class TimedProgress:
    """Records when each step starts; a stage's time runs until the next step (or the end)."""

    def __init__(self) -> None:
        self.steps: list[tuple[float, str]] = []

    def step(self, message: str) -> None:
        """Timestamp the step."""
        self.steps.append((time.perf_counter(), message))
        print(f"  {self.steps[-1][0] - self.steps[0][0]:7.1f} s  {message}", flush=True)

    def stages(self, finished: float) -> dict[str, float]:
        """Seconds per stage, the steps' ends being the next step's start."""
        seconds = {name: 0.0 for name in ORDER}
        ends = [started for started, _ in self.steps[1:]] + [finished]
        for (started, message), end in zip(self.steps, ends, strict=True):
            name = next((name for name, prefix in STAGES if message.startswith(prefix)), message)
            seconds[name] = seconds.get(name, 0.0) + end - started
        return seconds


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # dbt runs in-process: ours
    return max(own, children) / 1024  # kilobytes on Linux


def main() -> None:
    """Run generate once at scale and print its figures."""
    with tempfile.TemporaryDirectory(prefix="cartridge-bench-") as folder:
        data_dir = Path(folder) / "pg"
        server = start_postgres(data_dir)
        try:
            create_tables(server.dsn)
            project = Path(folder) / "project"
            new_project(project, "scale", server, THREADS, extra="model-paths: [models]\n")
            progress = TimedProgress()
            options = ProjectOptions(project_dir=project, profiles_dir=project, schemas=[SCHEMA], build=True)
            started = time.perf_counter()
            error = None
            try:
                report = generate(options, progress)
            except Exception as failure:  # the figures are still worth printing
                report, error = None, f"{type(failure).__name__}: {failure}"
            finished = time.perf_counter()
        finally:
            stop_postgres(data_dir)
    build = report.build if report else None
    passed = bool(build and build.success)
    print(
        f"scale: generate, rules planner, {TABLES} raw tables x {COLUMNS} columns, PostgreSQL, threads {THREADS}"
    )
    if report is not None:
        models = sum(1 for _ in report.plan.models())
        written = sum(1 for c in report.changes if c.writes)
        print(f"  {len(report.plan.actions)} actions, {models} models, {written} files written")
    if build is not None:
        print(f"  dbt build: {build.count('model', 'success')} models ok, {build.count('test', 'pass')} tests pass, "
              f"{len(build.failed)} failed")  # fmt: skip
    print(f"  {'wall time':<10} {finished - started:8.1f} s")
    print(f"  {'peak RSS':<10} {_peak_mb():8.0f} MB")
    for name, seconds in progress.stages(finished).items():
        print(f"  {name:<10} {seconds:8.1f} s")
    print(f"  build {'passed' if passed else 'FAILED'}{': ' + error if error else ''}")
    if not passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
