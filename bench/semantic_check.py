"""Semantic-layer check: do MetricFlow's numbers over the generated semantic models equal plain SQL over the marts?

For each connector named (../shared/datasets/fivetran/<name>): seed its raw tables into embedded PostgreSQL,
run `generate` with the rules planner (semantic models on) and build; then, for each semantic model, ask
MetricFlow for all its metrics by `metric_time__month` in one `mf query`, and compute each metric's measure in
SQL over the mart it describes (`<agg>(<expr>)` grouped by the month of the measure's time). Months are
compared where either side has a non-zero value; numbers agree within 0.01. Prints per connector the semantic
models, metrics compared and mismatches (each with both numbers), and exits 1 when any metric disagrees.

    python bench/semantic_check.py zuora github [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.metricflow_query import mf_query  # noqa: E402
from bench.postgres_project import new_project  # noqa: E402
from bench.quality import DATASETS, load  # noqa: E402
from cartridge_bridge.api import ProjectOptions, generate  # noqa: E402
from cartridge_bridge.demo.local_postgres import LocalPostgres, start_postgres, stop_postgres  # noqa: E402
from cartridge_bridge.planning.plan import SemanticModelSpec  # noqa: E402
from cartridge_bridge.progress import SilentProgress  # noqa: E402

SQL_AGG = {"sum": "sum({})", "count": "count({})", "count_distinct": "count(distinct {})", "min": "min({})",
           "max": "max({})", "average": "avg({})"}  # fmt: skip
Series = dict[str, Decimal]  # month (YYYY-MM-DD) -> value


def _number(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01")) if value not in (None, "") else Decimal(0)


def _month(value: object) -> str | None:
    """A month as both sides print it: its first day, `YYYY-MM-DD`."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()[:10]
    return str(value)[:10]


def metricflow_series(project: Path, metrics: list[str]) -> dict[str, Series]:
    """Each metric's values by month from one `mf query`."""
    rows = mf_query(project, metrics, ["metric_time__month"])
    series: dict[str, Series] = {m: {} for m in metrics}
    for row in rows:
        month = _month(row.get("metric_time__month"))
        if month is None:
            continue  # rows whose measure never happened (a null time): no month to compare
        for metric in metrics:
            series[metric][month] = _number(row.get(metric))
    return series


def sql_series(connection: object, mart: str, model: SemanticModelSpec) -> dict[str, Series]:
    """Each metric's measure computed over the mart by the month of its time."""
    measures = {m.name: m for m in model.measures}
    series: dict[str, Series] = {}
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        for metric in model.metrics:
            measure = measures[metric.measure]
            when = measure.agg_time_dimension or model.agg_time_dimension
            aggregate = SQL_AGG[measure.agg].format(measure.expr)
            cursor.execute(
                f"select date_trunc('month', {when}) as month, {aggregate} from analytics.{mart} "
                f"where {when} is not null group by 1"
            )
            series[metric.name] = {
                m: _number(v) for m, v in ((_month(a), b) for a, b in cursor.fetchall()) if m
            }
    return series


def check_connector(name: str, server: LocalPostgres, folder: Path) -> dict[str, object]:
    """Seed, generate, build, then compare every metric of every semantic model by month."""
    import psycopg2

    started = time.perf_counter()
    schema = load(DATASETS / name, server, folder)
    project = folder / f"project_{name}"
    shutil.rmtree(project, ignore_errors=True)
    new_project(project, f"{name}_project", server, threads=2)
    options = ProjectOptions(
        project_dir=project, profiles_dir=project, schemas=[schema], source_name=name, semantic_models=True
    )
    report = generate(options, SilentProgress())
    if report.build is None or not report.build.success:
        return {"connector": name, "error": "the generated layer does not build"}
    described = [(a.name, a.semantic_model) for a in report.plan.actions if a.semantic_model is not None]
    compared, mismatches, errors = 0, [], []
    connection = psycopg2.connect(server.dsn, options="-c timezone=UTC")
    try:
        for mart, model in described:
            if not model.metrics:
                continue
            try:
                got = metricflow_series(project, [m.name for m in model.metrics])
            except RuntimeError as failure:
                errors.append(f"{model.name}: mf query failed: {failure}")
                continue
            expected = sql_series(connection, mart, model)
            for metric in model.metrics:
                compared += 1
                months = sorted(set(got[metric.name]) | set(expected[metric.name]))
                for month in months:
                    a, b = (
                        got[metric.name].get(month, Decimal(0)),
                        expected[metric.name].get(month, Decimal(0)),
                    )
                    if abs(a - b) > Decimal("0.01"):
                        mismatches.append(f"{metric.name} {month}: metricflow {a}, sql {b}")
                        break
    finally:
        connection.close()
    return {
        "connector": name,
        "semantic_models": len(described),
        "metrics": compared,
        "mismatches": mismatches,
        "errors": errors,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/semantic_check.py", description=__doc__.splitlines()[0])
    parser.add_argument("connectors", nargs="+", help="connectors of ../shared/datasets/fivetran")
    parser.add_argument("--keep", type=Path, help="generate into this folder and leave the projects there")
    args = parser.parse_args(argv)
    unknown = [n for n in args.connectors if not (DATASETS / n / "seeds").is_dir()]
    if unknown:
        print(f"bench/semantic_check.py: no connector {', '.join(unknown)} in {DATASETS}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cartridge-semantic-") as scratch:
        folder = args.keep.resolve() if args.keep else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        server = start_postgres(Path(scratch) / "pg")
        try:
            results = [check_connector(n, server, folder) for n in args.connectors]
        finally:
            stop_postgres(Path(scratch) / "pg")
    failed = False
    for r in results:
        if "error" in r:
            print(f"{r['connector']}: {r['error']}")
            failed = True
            continue
        print(
            f"{r['connector']}: {r['semantic_models']} semantic models, {r['metrics']} metrics by month, "
            f"{len(r['mismatches'])} differ from SQL over the marts, {len(r['errors'])} queries failed "  # type: ignore[arg-type]
            f"({r['seconds']} s)"
        )
        for line in [*r["mismatches"], *r["errors"]]:  # type: ignore[misc]
            print(f"  {line}")
        failed = failed or bool(r["mismatches"] or r["errors"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
